//! The engine end to end on real photos: alpha, determinism across thread
//! counts, failure isolation, one analysis per run, and backpressure.

use crate::common;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{decode_rgba, fixture, palettes, run_all};
use variegate_core::decoding::{ColourProfiles, ImageHeader};
use variegate_core::looks::{
    AnalysisOptions, GradientLook, Look, PreparedLook, RemapLook, ShiftLook, ShiftOptions,
};
use variegate_core::memory::MemoryPlan;
use variegate_core::{
    Channels, DecodeError, Engine, LookError, OutputFormat, Palette, Rgb8, SourceImage, VariationError,
    serde_json,
};

#[test]
fn alpha_passes_through_byte_for_byte() {
    let engine = Engine::builder().build().unwrap();
    let logo = engine.open(fixture("logo.png")).unwrap();
    // logo.png is RGBA but fully opaque; a copy with an alpha ramp (and fully
    // transparent corners) checks every alpha value survives, not just 255.
    let mut ramped = logo.pixels().to_vec();
    for (i, px) in ramped.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i % 500, i / 500);
        px[3] = if x < 50 && y < 50 { 0 } else { ((x + y) * 255 / 998) as u8 };
    }
    let ramped = SourceImage::from_pixels("ramped-logo", 500, 500, Channels::Rgba, ramped).unwrap();

    for source in [logo, ramped] {
        let variations = run_all(&engine, source.clone(), palettes());
        assert_eq!(variations.len(), 7);
        for variation in variations {
            let encoded = variation.result.unwrap();
            let decoded = image::load_from_memory(encoded.bytes()).unwrap();
            assert_eq!(decoded.color(), image::ColorType::Rgba8, "RGBA in, RGBA out");
            let out = decoded.to_rgba8().into_raw();
            let alpha = |px: &[u8]| px.chunks_exact(4).map(|p| p[3]).collect::<Vec<u8>>();
            assert_eq!(alpha(&out), alpha(source.pixels()), "{}: alpha changed", variation.palette.name);
            assert_ne!(out, source.pixels(), "{}: colours were recoloured", variation.palette.name);
        }
    }
}

#[test]
fn rgb_stays_rgb() {
    let engine = Engine::builder().build().unwrap();
    let variations = run_all(&engine, engine.open(fixture("rocket.jpg")).unwrap(), palettes());
    for variation in variations {
        let decoded = image::load_from_memory(variation.result.unwrap().bytes()).unwrap();
        assert_eq!(decoded.color(), image::ColorType::Rgb8);
        assert_eq!(decoded.width(), 640);
    }
}

#[test]
fn same_bytes_at_one_two_and_four_threads() {
    let image = SourceImage::open(fixture("retina.jpg"), 1 << 30).unwrap();
    let outputs: Vec<Vec<Vec<u8>>> = [1, 2, 4]
        .into_iter()
        .map(|threads| {
            let engine = Engine::builder().threads(threads).seed(3).build().unwrap();
            run_all(&engine, image.clone(), palettes())
                .into_iter()
                .map(|v| v.result.unwrap().into_vec())
                .collect()
        })
        .collect();
    assert_eq!(outputs[0].len(), 7);
    assert_eq!(outputs[0], outputs[1], "1 vs 2 threads");
    assert_eq!(outputs[0], outputs[2], "1 vs 4 threads");

    // One palette, so the image itself is split between threads.
    let single = |threads| {
        let engine = Engine::builder().threads(threads).build().unwrap();
        run_all(&engine, image.clone(), palettes()[..1].to_vec()).remove(0).result.unwrap().into_vec()
    };
    assert_eq!(single(1), single(4));
}

#[test]
fn an_empty_palette_fails_alone() {
    let engine = Engine::builder().threads(2).build().unwrap();
    let mut palettes = palettes();
    palettes.insert(3, Palette { name: "Nothing".into(), colors: vec![], description: None });
    let variations = run_all(&engine, engine.open(fixture("coffee.png")).unwrap(), palettes);
    assert_eq!(variations.len(), 8);
    for variation in &variations {
        if variation.index == 3 {
            let error = variation.result.as_ref().unwrap_err();
            assert_eq!(*error, VariationError::EmptyPalette { name: "Nothing".into() });
            assert_eq!(error.to_string(), r#"palette "Nothing" has no colours"#);
        } else {
            assert!(variation.result.is_ok(), "{}", variation.palette.name);
        }
    }
}

/// The shift look, except that it panics for a palette named "boom" and
/// counts how often it prepares; or, `unpreparable`, a look whose per-image
/// preparation always fails.
#[derive(Debug, Default)]
struct Booby {
    prepared: Arc<AtomicUsize>,
    unpreparable: bool,
}

struct PreparedBooby(Box<dyn PreparedLook>);

impl Look for Booby {
    fn name(&self) -> &str {
        if self.unpreparable { "unpreparable" } else { "booby" }
    }
    fn options(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn prepare(
        &self,
        image: &SourceImage,
        palettes: &[Palette],
        analysis: &AnalysisOptions,
    ) -> Result<Box<dyn PreparedLook>, LookError> {
        self.prepared.fetch_add(1, Ordering::SeqCst);
        if self.unpreparable {
            return Err(LookError("no clusters in this image".into()));
        }
        Ok(Box::new(PreparedBooby(ShiftLook::default().prepare(image, palettes, analysis)?)))
    }
}

impl PreparedLook for PreparedBooby {
    fn recolour(&self, image: &SourceImage, palette: &Palette, out: &mut [u8]) -> Result<(), LookError> {
        if palette.name == "boom" {
            panic!("the look blew up on purpose");
        }
        self.0.recolour(image, palette, out)
    }
}

#[test]
fn a_panicking_palette_fails_alone_and_analysis_runs_once() {
    let prepared = Arc::new(AtomicUsize::new(0));
    let engine = Engine::builder()
        .threads(2)
        .look(Booby { prepared: prepared.clone(), ..Default::default() })
        .build()
        .unwrap();
    let mut palettes = palettes();
    palettes.insert(2, Palette::from_hex("boom", &["#000000", "#FFFFFF"]).unwrap());
    let variations = run_all(&engine, engine.open(fixture("coffee.png")).unwrap(), palettes);
    assert_eq!(prepared.load(Ordering::SeqCst), 1, "one analysis for eight palettes");
    assert_eq!(variations.len(), 8);
    let failed: Vec<_> = variations.iter().filter(|v| v.result.is_err()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].index, 2);
    assert_eq!(
        failed[0].result.as_ref().unwrap_err().to_string(),
        r#"palette "boom" panicked: the look blew up on purpose"#
    );
}

#[test]
fn a_slow_consumer_bounds_the_buffers_alive() {
    let (threads, capacity) = (2, 1);
    let engine = Engine::builder().threads(threads).channel_capacity(capacity).build().unwrap();
    let many: Vec<Palette> = palettes().into_iter().cycle().take(12).collect();
    let job = engine.start(engine.open(fixture("rocket.jpg")).unwrap(), many).unwrap();
    let mut received = 0;
    for variation in job.variations() {
        assert!(variation.result.is_ok());
        received += 1;
        // Hold each one a while, as a slow upload would; the workers catch
        // up, fill the channel and wait.
        std::thread::sleep(Duration::from_millis(40));
    }
    let summary = job.wait();
    assert_eq!((received, summary.succeeded, summary.failed), (12, 12, 0));
    let peak = engine.buffer_gauge().peak();
    // In the channel, in each blocked worker's hand, and the one the consumer holds.
    assert!(peak <= capacity + threads + 1, "{peak} buffers were alive at once");
    assert!(peak > capacity, "the consumer was slow enough to fill the channel (peak {peak})");
    assert_eq!(engine.buffer_gauge().alive(), 0, "every buffer was freed");
}

#[test]
fn timings_and_summary() {
    let engine = Engine::builder().build().unwrap();
    let job = engine.start(engine.open(fixture("coffee.png")).unwrap(), palettes()).unwrap();
    let variations: Vec<_> = job.variations().iter().collect();
    let summary = job.wait();
    assert_eq!((summary.succeeded, summary.failed), (7, 0));
    assert!(summary.analyse > Duration::ZERO && summary.total >= summary.analyse);
    for variation in variations {
        assert!(variation.timings.recolour > Duration::ZERO);
        assert!(variation.timings.encode > Duration::ZERO);
        assert_eq!(variation.result.unwrap().content_type(), "image/png");
    }
}

#[test]
fn variations_decode_to_the_source_size() {
    let engine = Engine::builder().build().unwrap();
    let variations = run_all(&engine, engine.open(fixture("coffee.png")).unwrap(), palettes());
    let names: Vec<_> = variations.iter().map(|v| v.palette.name.as_str()).collect();
    assert_eq!(names[0], "Sunset Coral");
    for variation in variations {
        assert_eq!(decode_rgba(variation.result.unwrap().bytes()).dimensions(), (600, 400));
    }
}

#[test]
fn a_failed_analysis_fails_every_palette_with_its_reason() {
    let engine = Engine::builder().look(Booby { unpreparable: true, ..Default::default() }).build().unwrap();
    let job = engine.start(engine.open(fixture("coffee.png")).unwrap(), palettes()).unwrap();
    let variations: Vec<_> = job.variations().iter().collect();
    let summary = job.wait();
    assert_eq!((variations.len(), summary.failed, summary.succeeded), (7, 7, 0));
    for variation in variations {
        assert_eq!(
            variation.result.unwrap_err().to_string(),
            "analysing the image for the unpreparable look failed: no clusters in this image"
        );
    }
}

#[test]
fn cancelled_jobs_still_account_for_every_palette() {
    let engine = Engine::builder().threads(2).channel_capacity(1).build().unwrap();
    let many: Vec<Palette> = palettes().into_iter().cycle().take(40).collect();
    let job = engine.start(engine.open(fixture("retina.jpg")).unwrap(), many).unwrap();
    let mut indices = Vec::new();
    let mut cancelled = 0;
    for variation in job.variations() {
        if indices.len() == 2 {
            assert!(job.canceller().cancel("test"), "the first cancel counts");
            assert!(!job.canceller().cancel("again"), "later ones do not");
        }
        match variation.result {
            Err(VariationError::Cancelled { reason }) => {
                assert_eq!(reason, "test");
                cancelled += 1;
            }
            result => assert!(result.is_ok()),
        }
        indices.push(variation.index);
    }
    let summary = job.wait();
    indices.sort();
    assert_eq!(indices, (0..40).collect::<Vec<_>>(), "exactly one variation per palette");
    // Two threads each finish at most the one under way, and one more may
    // sit in the channel: the rest were never started.
    assert!(cancelled >= 40 - 2 - 2 - 1 - 1, "{cancelled} cancelled");
    assert_eq!(summary.cancelled, cancelled);
    assert_eq!(summary.succeeded + summary.cancelled, 40);
}

#[test]
fn a_job_cancelled_before_it_starts_makes_nothing() {
    let engine = Engine::builder().build().unwrap();
    let job = engine.start(engine.open(fixture("coffee.png")).unwrap(), palettes()).unwrap();
    job.canceller().cancel("SIGINT");
    // The run may already have started; whatever it made came before the cancel.
    let variations: Vec<_> = job.variations().iter().collect();
    assert_eq!(variations.len(), 7);
    let summary = job.wait();
    assert_eq!(summary.succeeded + summary.cancelled, 7);
}

#[test]
#[allow(deprecated)] // analysis_size: still in the recipe, so in this test
fn the_recipe_names_every_option_that_changes_bytes() {
    let shift = ShiftLook::new(ShiftOptions { max_k: 4, ..Default::default() }).unwrap();
    let engine = Engine::builder()
        .look(shift)
        .seed(7)
        .analysis_size(128)
        .max_side(Some(300))
        .format(OutputFormat::Jpeg { quality: 80 })
        .thumbnail(Some(64))
        .colour_profiles(ColourProfiles::Ignore)
        .previews(Some(32))
        .threads(1)
        .lenient(true)
        .build()
        .unwrap();
    let recipe = serde_json::to_value(engine.recipe()).unwrap();
    assert_eq!(
        recipe,
        serde_json::json!({
            "look": "shift",
            "look_options": {"max_k": 4, "lightness": 0.7, "blend": 0.75, "saturation": 1.2},
            "seed": 7,
            "analysis_size": 128,
            "max_side": 300,
            "format": {"name": "jpeg", "quality": 80},
            "thumbnail": 64,
            "background": "#FFFFFF",
            "colour_profiles": "ignore",
            "output_version": variegate_core::OUTPUT_VERSION,
            "engine_version": env!("CARGO_PKG_VERSION"),
        })
    );
    // Threads, previews and leniency change no bytes (a lenient decode
    // makes what a strict one refuses), so they are no part of it.
    let other = Engine::builder()
        .look(ShiftLook::new(ShiftOptions { max_k: 4, ..Default::default() }).unwrap())
        .seed(7)
        .analysis_size(128)
        .max_side(Some(300))
        .format(OutputFormat::Jpeg { quality: 80 })
        .thumbnail(Some(64))
        .colour_profiles(ColourProfiles::Ignore)
        .threads(2)
        .build()
        .unwrap();
    assert_eq!(engine.recipe(), other.recipe());
    assert_eq!(
        serde_json::to_value(Engine::builder().look(RemapLook::new(true)).build().unwrap().recipe()).unwrap()
            ["look_options"],
        serde_json::json!({"dither": "floyd-steinberg", "strength": 1.0, "png": "indexed"})
    );
    assert_eq!(Engine::builder().look(GradientLook).build().unwrap().recipe().look, "gradient");
}

#[test]
fn max_side_holds_however_the_image_was_opened() {
    let engine = Engine::builder().max_side(Some(160)).previews(Some(40)).build().unwrap();
    let opened = engine.open(fixture("coffee.png")).unwrap();
    assert_eq!((opened.width(), opened.height()), (160, 107));
    let info = opened.info();
    assert_eq!((info.width, info.height, info.stem.as_str()), (600, 400, "coffee"), "the file as read");
    // A full-size image handed straight to the engine is fitted too, to the same bytes.
    let full = SourceImage::open(fixture("coffee.png"), u64::MAX).unwrap();
    let from_full = run_all(&engine, full, palettes());
    let from_opened = run_all(&engine, opened, palettes());
    for (a, b) in from_full.iter().zip(&from_opened) {
        let (a, b) = (a.result.as_ref().unwrap(), b.result.as_ref().unwrap());
        assert_eq!((a.width(), a.height()), (160, 107));
        assert_eq!(a.bytes(), b.bytes());
    }
    let preview = from_full[0].preview.as_ref().unwrap();
    assert_eq!((preview.width, preview.height), (40, 27));
    assert!(from_full[0].thumbnail.is_none(), "previews are not thumbnails");
}

#[test]
fn jpeg_shows_the_background_through_transparent_pixels() {
    // The logo with an alpha ramp (and transparent corners), as JPEG, which
    // has no alpha: composited over the background, not its hidden colours.
    let logo = SourceImage::open(fixture("logo.png"), 1 << 30).unwrap();
    let mut ramped = logo.pixels().to_vec();
    for (i, px) in ramped.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i % 500, i / 500);
        px[3] = if x < 50 && y < 50 { 0 } else { ((x + y) * 255 / 998) as u8 };
    }
    let ramped = SourceImage::from_pixels("ramped-logo", 500, 500, Channels::Rgba, ramped).unwrap();
    for (background, expected) in [(None, [255u8, 255, 255]), (Some(Rgb8([0, 128, 255])), [0, 128, 255])] {
        let mut builder =
            Engine::builder().format(OutputFormat::Jpeg { quality: 95 }).look(RemapLook::new(false));
        if let Some(colour) = background {
            builder = builder.background(colour);
        }
        let engine = builder.build().unwrap();
        let variation = run_all(&engine, ramped.clone(), palettes()).remove(0);
        let jpeg = image::load_from_memory(variation.result.unwrap().bytes()).unwrap().to_rgb8();
        let corner = jpeg.get_pixel(10, 10).0;
        assert!(corner.iter().zip(expected).all(|(a, b)| a.abs_diff(b) <= 3), "{background:?}: {corner:?}");
    }
}

#[test]
fn pixels_in_memory_are_the_file_they_came_from() {
    let engine = Engine::builder().max_side(Some(160)).build().unwrap();
    let file = SourceImage::open(fixture("coffee.png"), u64::MAX).unwrap();
    let wrapped = engine.from_pixels("array", 600, 400, Channels::Rgb, file.pixels().to_vec()).unwrap();
    assert_eq!((wrapped.width(), wrapped.height()), (160, 107), "fitted to max_side");
    let opened = engine.open(fixture("coffee.png")).unwrap();
    for (a, b) in run_all(&engine, wrapped, palettes()).iter().zip(&run_all(&engine, opened, palettes())) {
        assert_eq!(a.result.as_ref().unwrap().bytes(), b.result.as_ref().unwrap().bytes());
    }
    // The budget holds before anything is copied or fitted.
    let small = Engine::builder().max_pixels(100_000).build().unwrap();
    let error = small.from_pixels("array", 600, 400, Channels::Rgb, file.pixels().to_vec()).unwrap_err();
    assert_eq!(error.to_string(), "array: image is 600x400 (240000 pixels), over the limit of 100000 pixels");
}

#[test]
#[allow(deprecated)] // analysis_size: still checked
fn bad_builder_options_are_refused() {
    for (builder, option) in [
        (Engine::builder().max_side(Some(0)), "max_side"),
        (Engine::builder().thumbnail(Some(0)), "thumbnail"),
        (Engine::builder().analysis_size(0), "analysis_size"),
        (Engine::builder().max_pixels(0), "max_pixels"),
        (Engine::builder().channel_capacity(0), "channel_capacity"),
        (Engine::builder().format(OutputFormat::Jpeg { quality: 0 }), "format"),
    ] {
        let error = builder.build().unwrap_err().to_string();
        assert!(error.starts_with(&format!("invalid option {option}: ")), "{error}");
    }
    let error = ShiftLook::new(ShiftOptions { blend: 2.0, ..Default::default() }).unwrap_err();
    assert_eq!(error.to_string(), "invalid option blend: must be between 0 and 1, not 2");
}

#[test]
fn a_memory_budget_makes_fewer_variations_at_once_with_the_same_bytes() {
    let image = SourceImage::open(fixture("retina.jpg"), 1 << 30).unwrap();
    let unlimited = Engine::builder().threads(4).build().unwrap();
    assert_eq!(unlimited.variations_at_once(&image, &palettes()), Ok(4));

    // Room for two frames of this image at a time, not four.
    let header = ImageHeader { width: 1411, height: 1411, channels: Channels::Rgb, file_bytes: 0 };
    let plan = MemoryPlan { distinct_colours: Some(1), ..unlimited.memory_plan(&header, &palettes()) };
    let budget = MemoryPlan { lanes: 2, ..plan }.estimate().total() + (4 << 20);
    let tight = Engine::builder().threads(4).max_memory(budget).build().unwrap();
    let lanes = tight.variations_at_once(&image, &palettes()).unwrap();
    assert!((1..4).contains(&lanes), "{lanes} variations at a time within {budget} bytes");

    let bytes = |engine: &Engine| -> Vec<Vec<u8>> {
        run_all(engine, image.clone(), palettes()).into_iter().map(|v| v.result.unwrap().into_vec()).collect()
    };
    assert_eq!(bytes(&unlimited), bytes(&tight));
}

#[test]
fn an_image_over_the_memory_budget_is_refused_before_its_pixels() {
    // A header claiming 9000x9000: 232 MiB of pixels; nothing that large
    // is allocated before the refusal.
    let claim = common::png_header_only(9000, 9000);
    let engine = Engine::builder().max_memory(256 << 20).build().unwrap();
    let error = engine.decode(&claim, "claims.png").unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, DecodeError::OverMemory(_)), "{error:?}");
    assert!(
        message.starts_with("claims.png: recolouring 9000x9000 pixels needs at least ")
            && message.ends_with("over the memory budget of 256 MiB"),
        "{message}"
    );
    assert!(!message.contains('\n'));

    // A run given pixels over the budget (not decoded by the engine) makes
    // nothing, and says why for every palette.
    let image = SourceImage::open(fixture("rocket.jpg"), 1 << 30).unwrap();
    let tiny = Engine::builder().max_memory(1 << 20).build().unwrap();
    for variation in run_all(&tiny, image, palettes()) {
        match variation.result {
            Err(VariationError::Memory(over)) => {
                let reason = over.to_string();
                assert!(reason.contains("over the memory budget of 1 MiB"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn runs_sharing_a_budget_each_get_their_share() {
    // Enough for the 9000x9000 header's least run (it is refused only when
    // its pixels turn out missing), but not a twelfth of it.
    let claim = common::png_header_only(9000, 9000);
    let engine = Engine::builder().max_memory(3 << 30).build().unwrap();
    let error = engine.decode(&claim, "claims.png").unwrap_err();
    assert!(!matches!(error, DecodeError::OverMemory(_)), "{error}");
    let shared = engine.sharing_budget(12);
    assert_eq!(shared.max_memory(), 256 << 20);
    assert_eq!(shared.threads(), engine.threads(), "the same pool");
    let error = shared.decode(&claim, "claims.png").unwrap_err();
    assert!(error.to_string().ends_with("over the memory budget of 256 MiB"), "{error}");
}
