//! The looks beyond the original, on real photos: remap (palette colours
//! only, dithered or not) and gradient (tonal order kept), each keeping
//! alpha byte for byte (the soft look too; its own tests are in soft.rs).

use crate::common::{fixture, palettes, run_all};
use palette::{IntoColor, Lab, Srgb};
use variegate_core::looks::{Dither, DitherMethod, GradientLook, Look, RemapLook, SoftLook};
use variegate_core::{Channels, Engine, Palette, SourceImage};

fn engine(look: impl Look + 'static, threads: usize) -> Engine {
    Engine::builder().look(look).threads(threads).build().unwrap()
}

/// Every variation of `image`, decoded to RGBA.
fn recolour(engine: &Engine, image: &SourceImage, palettes: Vec<Palette>) -> Vec<image::RgbaImage> {
    run_all(engine, image.clone(), palettes)
        .into_iter()
        .map(|v| image::load_from_memory(v.result.unwrap().bytes()).unwrap().to_rgba8())
        .collect()
}

fn lab(px: &image::Rgba<u8>) -> Lab {
    Srgb::new(px[0], px[1], px[2]).into_format::<f32>().into_color()
}

fn photos() -> Vec<SourceImage> {
    ["coffee.png", "rocket.jpg", "retina.jpg"]
        .iter()
        .map(|name| SourceImage::open(fixture(name), 1 << 30).unwrap())
        .collect()
}

fn to_rgba(image: &SourceImage) -> Vec<u8> {
    match image.channels() {
        Channels::Rgba => image.pixels().to_vec(),
        Channels::Rgb => image.pixels().chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
    }
}

/// Remap plain, with each dithering method, and at half strength.
fn remaps() -> Vec<(&'static str, RemapLook)> {
    let dithered = |method, strength| RemapLook::dithered(Dither { method, strength }).unwrap();
    vec![
        ("plain", RemapLook::new(false)),
        ("floyd-steinberg", RemapLook::new(true)),
        ("floyd-steinberg 0.5", dithered(DitherMethod::FloydSteinberg, 0.5)),
        ("ordered", dithered(DitherMethod::Ordered, 1.0)),
        ("ordered 0.5", dithered(DitherMethod::Ordered, 0.5)),
    ]
}

#[test]
fn remap_uses_only_palette_colours() {
    for (dither, look) in remaps() {
        let engine = engine(look, 0);
        for photo in photos() {
            let outputs = recolour(&engine, &photo, palettes());
            for (output, palette) in outputs.iter().zip(palettes()) {
                let allowed: Vec<[u8; 3]> = palette.colors.iter().map(|c| c.0).collect();
                let stray = output.pixels().filter(|p| !allowed.contains(&[p[0], p[1], p[2]])).count();
                assert_eq!(stray, 0, "{} {} {dither}", photo.name(), palette.name);
                // Dithering mixes colours where one would do: more of them get used.
                let used =
                    allowed.iter().filter(|c| output.pixels().any(|p| [p[0], p[1], p[2]] == **c)).count();
                assert!(used >= 2, "{} {}", photo.name(), palette.name);
            }
        }
    }
}

#[test]
fn dithering_is_the_same_at_any_thread_count() {
    let photo = SourceImage::open(fixture("retina.jpg"), 1 << 30).unwrap();
    for (name, look) in remaps().into_iter().skip(1) {
        let bytes = |threads| {
            run_all(&engine(look, threads), photo.clone(), palettes())
                .into_iter()
                .map(|v| v.result.unwrap().into_vec())
                .collect::<Vec<_>>()
        };
        assert!(bytes(1) == bytes(4), "{name}");
    }
}

/// Seen from a distance, dithering keeps an area's colour: blurred, the
/// dithered image is nearer the source than plain remap is, and less so
/// at half strength. The palette is the RGB cube's eight corners, which
/// can mix every colour.
#[test]
fn dithering_keeps_colours_from_a_distance() {
    let photo = SourceImage::open(fixture("retina.jpg"), 1 << 30).unwrap();
    let corners = ["#000000", "#FFFFFF", "#FF0000", "#00FF00", "#0000FF", "#00FFFF", "#FF00FF", "#FFFF00"];
    let corners = Palette::from_hex("corners", &corners).unwrap();
    let blurred_error = |look: RemapLook| -> f64 {
        let outputs = recolour(&engine(look, 0), &photo, vec![corners.clone()]);
        let (width, height) = (photo.width() as usize, photo.height() as usize);
        let blur = |pixels: &dyn Fn(usize, usize) -> [u8; 3]| -> Vec<[f64; 3]> {
            // Means of 8x8 blocks.
            let mut means = Vec::new();
            for by in 0..height / 8 {
                for bx in 0..width / 8 {
                    let mut sum = [0.0; 3];
                    for y in by * 8..by * 8 + 8 {
                        for x in bx * 8..bx * 8 + 8 {
                            let p = pixels(x, y);
                            (0..3).for_each(|c| sum[c] += f64::from(p[c]));
                        }
                    }
                    means.push(sum.map(|s| s / 64.0));
                }
            }
            means
        };
        let channels = photo.channels().count();
        let source = blur(&|x, y| {
            let at = (y * width + x) * channels;
            [photo.pixels()[at], photo.pixels()[at + 1], photo.pixels()[at + 2]]
        });
        let mut total = 0.0;
        for output in &outputs {
            let pixels: Vec<_> = output.pixels().collect();
            let blurred = blur(&|x, y| {
                let p = pixels[y * width + x];
                [p[0], p[1], p[2]]
            });
            let error: f64 = source
                .iter()
                .zip(&blurred)
                .map(|(a, b)| (0..3).map(|c| (a[c] - b[c]).powi(2)).sum::<f64>().sqrt())
                .sum();
            total += error / source.len() as f64;
        }
        total / outputs.len() as f64
    };
    let errors: Vec<(&str, f64)> =
        remaps().into_iter().map(|(name, look)| (name, blurred_error(look))).collect();
    eprintln!("mean RGB distance of 8x8 block means from the source's: {errors:?}");
    let error = |name: &str| errors.iter().find(|(n, _)| *n == name).unwrap().1;
    for method in ["floyd-steinberg", "ordered"] {
        assert!(error(method) < error(&format!("{method} 0.5")), "{errors:?}");
        assert!(error(&format!("{method} 0.5")) < error("plain"), "{errors:?}");
    }
}

/// Spearman's rank correlation of two equally long samples.
fn rank_correlation(a: &[f32], b: &[f32]) -> f64 {
    fn ranks(values: &[f32]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
        let mut ranks = vec![0.0; values.len()];
        let mut start = 0;
        while start < order.len() {
            // Ties share the mean of their ranks.
            let mut end = start;
            while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
                end += 1;
            }
            for &i in &order[start..=end] {
                ranks[i] = (start + end) as f64 / 2.0;
            }
            start = end + 1;
        }
        ranks
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let var = |r: &[f64], m: f64| r.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    cov / (var(&ra, ma) * var(&rb, mb)).sqrt()
}

#[test]
fn gradient_keeps_tonal_order() {
    let engine = engine(GradientLook, 0);
    for photo in photos() {
        let source = image::RgbaImage::from_raw(photo.width(), photo.height(), to_rgba(&photo)).unwrap();
        // Every 7th pixel: plenty for the statistic, quick to rank.
        let lightness =
            |image: &image::RgbaImage| image.pixels().step_by(7).map(|p| lab(p).l).collect::<Vec<f32>>();
        let before = lightness(&source);
        for (output, palette) in recolour(&engine, &photo, palettes()).iter().zip(palettes()) {
            let rho = rank_correlation(&before, &lightness(output));
            eprintln!("{} {}: rank correlation {rho:.3}", photo.name(), palette.name);
            assert!(rho >= 0.95, "{} {}: {rho}", photo.name(), palette.name);
        }
    }
}

#[test]
fn every_look_keeps_alpha_byte_for_byte() {
    let logo = SourceImage::open(fixture("logo.png"), 1 << 30).unwrap();
    let mut ramped = logo.pixels().to_vec();
    for (i, px) in ramped.chunks_exact_mut(4).enumerate() {
        px[3] = ((i % 500 + i / 500) * 255 / 998) as u8;
    }
    let ramped = SourceImage::from_pixels("ramped-logo", 500, 500, Channels::Rgba, ramped).unwrap();
    let alpha = |pixels: &[u8]| pixels.chunks_exact(4).map(|p| p[3]).collect::<Vec<u8>>();
    let looks: Vec<Box<dyn Fn() -> Engine>> = vec![
        Box::new(|| engine(RemapLook::new(false), 0)),
        Box::new(|| engine(RemapLook::new(true), 0)),
        Box::new(|| {
            engine(RemapLook::dithered(Dither { method: DitherMethod::Ordered, strength: 1.0 }).unwrap(), 0)
        }),
        Box::new(|| engine(GradientLook, 0)),
        Box::new(|| engine(SoftLook::default(), 0)),
    ];
    for make in looks {
        let engine = make();
        for output in recolour(&engine, &ramped, palettes()) {
            assert_eq!(alpha(output.as_raw()), alpha(ramped.pixels()), "{}", engine.look().name());
        }
    }
}

/// The palette colour nearest `px` in CIELAB, by its position from dark to light.
fn nearest_rank(palette: &Palette, px: &image::Rgba<u8>) -> usize {
    let mut ranked = palette.colors.clone();
    ranked.sort_by_key(|c| c.brightness());
    let distance = |c: &variegate_core::Rgb8| {
        let (a, b) = (lab(px), lab(&image::Rgba([c.0[0], c.0[1], c.0[2], 255])));
        (a.l - b.l).powi(2) + (a.a - b.a).powi(2) + (a.b - b.b).powi(2)
    };
    (0..ranked.len()).min_by(|&i, &j| distance(&ranked[i]).total_cmp(&distance(&ranked[j]))).unwrap()
}

#[test]
fn shift_on_fewer_colours_than_the_palette_keeps_dark_and_light() {
    // Flat graphics: one colour (white), then three (black, grey, white
    // bands), each with five-colour palettes. Clusters never outnumber the
    // colours, and white stays nearest the lightest palette colour.
    let engine = engine(variegate_core::looks::ShiftLook::default(), 2);
    let white = SourceImage::from_pixels("white", 64, 64, Channels::Rgb, vec![255; 64 * 64 * 3]).unwrap();
    let bands: Vec<u8> = (0..90 * 30).flat_map(|i| [[0u8; 3], [128; 3], [255; 3]][(i % 90) / 30]).collect();
    let bands = SourceImage::from_pixels("bands", 90, 30, Channels::Rgb, bands).unwrap();
    for (palette, out) in palettes().iter().zip(recolour(&engine, &white, palettes())) {
        assert_eq!(
            nearest_rank(palette, out.get_pixel(5, 5)),
            4,
            "{}: {:?}",
            palette.name,
            out.get_pixel(5, 5)
        );
    }
    for (palette, out) in palettes().iter().zip(recolour(&engine, &bands, palettes())) {
        let ranks = [5, 35, 65].map(|x| nearest_rank(palette, out.get_pixel(x, 5)));
        assert!(ranks[0] < ranks[1] && ranks[1] < ranks[2] && ranks[2] == 4, "{}: {ranks:?}", palette.name);
    }
}

/// The engine reuses a lane's frame from palette to palette without clearing
/// it: every look must write every byte of its frame (pixels or indices).
#[test]
fn every_look_writes_every_byte_of_its_frame() {
    let ordered = Dither { method: DitherMethod::Ordered, strength: 0.5 };
    let looks: Vec<Box<dyn Look>> = vec![
        Box::new(variegate_core::looks::ShiftLook::default()),
        Box::new(SoftLook::default()),
        Box::new(RemapLook::new(false)),
        Box::new(RemapLook::new(true)),
        Box::new(RemapLook::dithered(ordered).unwrap()),
        Box::new(GradientLook),
    ];
    let palettes = palettes();
    for file in ["coffee.png", "logo.png"] {
        let image = SourceImage::open(fixture(file), 1 << 30).unwrap();
        for look in &looks {
            let prepared = look.prepare(&image, &palettes, &Default::default()).unwrap();
            let palette = &palettes[3];
            let written = |fill: u8| {
                let mut frame = vec![fill; image.pixels().len()];
                prepared.recolour(&image, palette, &mut frame).unwrap();
                let mut indices = vec![fill; (image.width() * image.height()) as usize];
                let indexed =
                    prepared.palette_indices(&image, palette, &mut indices).map(|r| r.map(|()| indices));
                (frame, indexed.map(Result::unwrap))
            };
            assert!(written(0x00) == written(0xFF), "{} on {file}", look.name());
        }
    }
}
