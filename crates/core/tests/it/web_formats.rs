//! Lossy WebP and AVIF: what they keep (colours within CIEDE2000 2 of the
//! PNG, alpha), what they are tagged, their sizes against the PNG's, and
//! the same bytes at any thread count. Pillow decodes the AVIF files in the
//! Python tests (crates/python/tests/test_formats.py): no AVIF decoder is
//! built here.

use crate::common::{decode_rgba, fixture, mean_ciede2000, palettes, run_all};
use variegate_core::formats::{DEFAULT_AVIF_QUALITY, DEFAULT_AVIF_SPEED, DEFAULT_WEBP_QUALITY};
use variegate_core::{Engine, OutputFormat};

fn encoded(format: OutputFormat, threads: usize, image: &str) -> Vec<Vec<u8>> {
    let engine = Engine::builder().format(format).threads(threads).build().unwrap();
    let source = match image {
        // coffee.png with alpha falling from opaque to clear across it.
        "translucent" => {
            let mut rgba = image::open(fixture("coffee.png")).unwrap().to_rgba8();
            let width = rgba.width();
            for (x, _, pixel) in rgba.enumerate_pixels_mut() {
                pixel[3] = (255 - x * 255 / width) as u8;
            }
            let mut png = Vec::new();
            rgba.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
            engine.decode(&png, "translucent.png").unwrap()
        }
        _ => engine.open(fixture(image)).unwrap(),
    };
    run_all(&engine, source, palettes()[..3].to_vec())
        .into_iter()
        .map(|variation| variation.result.unwrap().into_vec())
        .collect()
}

#[test]
fn lossy_webp_keeps_the_colours_in_a_fifth_of_the_bytes() {
    let webp = OutputFormat::WebPLossy { quality: DEFAULT_WEBP_QUALITY };
    let (pngs, webps) = (encoded(OutputFormat::Png, 2, "retina.jpg"), encoded(webp, 2, "retina.jpg"));
    for (png, lossy) in pngs.iter().zip(&webps) {
        assert!(lossy.starts_with(b"RIFF") && &lossy[8..16] == b"WEBPVP8 ", "lossy VP8 in a RIFF");
        let distance = mean_ciede2000(&decode_rgba(png), &decode_rgba(lossy));
        assert!(distance <= 2.0, "mean CIEDE2000 {distance:.2}");
        assert!(lossy.len() * 5 <= png.len(), "{} bytes against the PNG's {}", lossy.len(), png.len());
    }
    assert!(webps == encoded(webp, 1, "retina.jpg"), "the same bytes at any thread count");
}

#[test]
fn lossy_webp_keeps_alpha() {
    let webp = OutputFormat::WebPLossy { quality: DEFAULT_WEBP_QUALITY };
    let (pngs, webps) = (encoded(OutputFormat::Png, 2, "translucent"), encoded(webp, 2, "translucent"));
    let (png, lossy) = (decode_rgba(&pngs[0]), decode_rgba(&webps[0]));
    assert!(png.pixels().any(|p| p[3] < 255));
    // Alpha is compressed without loss.
    assert!(png.pixels().zip(lossy.pixels()).all(|(a, b)| a[3] == b[3]));
}

/// A box of an ISO-BMFF file: its payload after `kind`.
fn box_after<'a>(file: &'a [u8], kind: &[u8]) -> Option<&'a [u8]> {
    file.windows(kind.len()).position(|w| w == kind).map(|at| &file[at + kind.len()..])
}

#[test]
fn avif_is_tagged_srgb_keeps_alpha_and_is_an_eighth_of_the_bytes() {
    let avif = OutputFormat::Avif { quality: DEFAULT_AVIF_QUALITY, speed: DEFAULT_AVIF_SPEED };
    let (pngs, avifs) = (encoded(OutputFormat::Png, 2, "coffee.png"), encoded(avif, 2, "coffee.png"));
    for (png, file) in pngs.iter().zip(&avifs) {
        assert_eq!(&file[4..12], b"ftypavif");
        // sRGB (BT.709 primaries, sRGB transfer, full range) is said in the
        // AV1 sequence header; a colr box would only repeat it, so none is
        // written. Pillow decodes the colours right in the Python tests.
        assert!(box_after(file, b"colr").is_none());
        // 8 bits a channel.
        let pixi = box_after(file, b"pixi").expect("a pixi box");
        assert_eq!(&pixi[4..8], &[3, 8, 8, 8]);
        assert!(file.len() * 8 <= png.len(), "{} bytes against the PNG's {}", file.len(), png.len());
    }
    assert!(avifs == encoded(avif, 1, "coffee.png"), "the same bytes at any thread count");
    let translucent = encoded(avif, 2, "translucent");
    assert!(
        box_after(&translucent[0], b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha").is_some(),
        "an alpha plane"
    );
}

#[test]
fn formats_name_their_settings_and_refuse_what_they_do_not_take() {
    let webp = OutputFormat::from_settings("webp", None, false, None).unwrap();
    assert_eq!(webp, OutputFormat::WebPLossy { quality: DEFAULT_WEBP_QUALITY });
    assert_eq!(OutputFormat::from_settings("webp", None, true, None).unwrap(), OutputFormat::WebP);
    assert_eq!(
        OutputFormat::from_settings("avif", Some(50), false, Some(4)).unwrap(),
        OutputFormat::Avif { quality: 50, speed: 4 }
    );
    for (name, quality, lossless, speed, error) in [
        ("png", None, true, None, "lossless goes with format webp"),
        ("webp", None, false, Some(3), "speed goes with format avif"),
        ("webp", Some(80), true, None, "quality goes with lossy WebP"),
        ("gif", None, false, None, "format must be png, jpeg, webp or avif"),
    ] {
        let refused = OutputFormat::from_settings(name, quality, lossless, speed).unwrap_err();
        assert!(refused.starts_with(error), "{refused}");
    }
    // Each setting is part of the recipe, so of the keys.
    let recipe = |format| serde_json::to_string(&format).unwrap();
    assert_eq!(recipe(webp), r#"{"name":"webp-lossy","quality":90}"#);
    assert_eq!(
        recipe(OutputFormat::Avif { quality: 70, speed: 9 }),
        r#"{"name":"avif","quality":70,"speed":9}"#
    );
    let error = Engine::builder().format(OutputFormat::Avif { quality: 70, speed: 11 }).build().unwrap_err();
    assert!(error.to_string().contains("AVIF speed must be between 1 and 10, not 11"), "{error}");
}
