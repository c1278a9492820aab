//! Decoding real files, and every way an input can fail to be an image.

mod common;

use common::{fixture, png_header_only};
use variegate_core::{Channels, DecodeError, Engine, SourceImage};

fn decode(bytes: &[u8]) -> Result<SourceImage, DecodeError> {
    SourceImage::decode(bytes, "input.png", variegate_core::DEFAULT_MAX_PIXELS)
}

#[test]
fn decodes_png_jpeg_and_webp() {
    let coffee = SourceImage::open(fixture("coffee.png"), 1 << 30).unwrap();
    assert_eq!((coffee.width(), coffee.height(), coffee.channels()), (600, 400, Channels::Rgb));
    assert_eq!(coffee.stem(), "coffee");
    assert_eq!(coffee.sha256_hex().len(), 64);

    let rocket = SourceImage::open(fixture("rocket.jpg"), 1 << 30).unwrap();
    assert_eq!((rocket.width(), rocket.height(), rocket.format()), (640, 427, image::ImageFormat::Jpeg));

    // A lossless WebP of the coffee photo decodes to the very same pixels.
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .encode(coffee.pixels(), 600, 400, image::ExtendedColorType::Rgb8)
        .unwrap();
    let from_webp = decode(&webp).unwrap();
    assert_eq!(from_webp.format(), image::ImageFormat::WebP);
    assert_eq!(from_webp.pixels(), coffee.pixels());
}

#[test]
fn keeps_alpha_channel() {
    let logo = SourceImage::open(fixture("logo.png"), 1 << 30).unwrap();
    assert_eq!(logo.channels(), Channels::Rgba);
}

#[test]
fn missing_and_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let error = SourceImage::open(&missing, 1000).unwrap_err();
    assert!(matches!(error, DecodeError::Read { .. }));
    assert!(error.to_string().starts_with(&format!("{}: cannot read file", missing.display())), "{error}");

    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let error = SourceImage::open(&empty, 1000).unwrap_err();
    assert_eq!(error.to_string(), format!("{}: file is empty", empty.display()));
}

#[test]
fn not_an_image() {
    for bytes in [&b"just some text, not a picture\n"[..], &[0x13, 0x37, 0xC0, 0xDE, 0x00, 0xFF, 0x42, 0x17]]
    {
        let error = decode(bytes).unwrap_err();
        assert!(matches!(error, DecodeError::UnknownFormat { .. }), "{error:?}");
        assert_eq!(error.to_string(), "input.png: not a PNG, JPEG or WebP image");
    }
}

#[test]
fn truncated_png() {
    let bytes = std::fs::read(fixture("coffee.png")).unwrap();
    let error = decode(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(error, DecodeError::Corrupt { format: "PNG", .. }), "{error:?}");
    assert!(error.to_string().starts_with("input.png: cannot decode PNG image: "), "{error}");
    assert!(!error.to_string().contains('\n'));
}

#[test]
fn oversized_header_is_refused_before_allocating() {
    // 10 gigapixels: allocating it would take 30 GB, more than this machine has.
    let error = decode(&png_header_only(100_000, 100_000)).unwrap_err();
    assert!(matches!(error, DecodeError::TooLarge { width: 100_000, height: 100_000, .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "input.png: image is 100000x100000 (10000.0 megapixels), over the limit of 100.0 megapixels"
    );
}

#[test]
fn pixel_budget_is_configurable() {
    let engine = Engine::builder().max_pixels(600 * 400 - 1).build().unwrap();
    let error = engine.open(fixture("coffee.png")).unwrap_err();
    assert!(matches!(error, DecodeError::TooLarge { width: 600, height: 400, .. }), "{error:?}");
    let engine = Engine::builder().max_pixels(600 * 400).build().unwrap();
    assert!(engine.open(fixture("coffee.png")).is_ok());
}

#[test]
fn zero_sized_image() {
    for (width, height) in [(0, 10), (10, 0)] {
        let error = decode(&png_header_only(width, height)).unwrap_err();
        assert!(matches!(error, DecodeError::ZeroSized { .. }), "{error:?}");
        assert_eq!(error.to_string(), format!("input.png: image is {width}x{height}, which has no pixels"));
    }
}

#[test]
fn exif_orientation_turns_the_picture_upright() {
    // testdata/oriented/: the same 300x200 picture stored turned or mirrored,
    // each tagged with the EXIF orientation that undoes it (made with Pillow,
    // checked with its ImageOps.exif_transpose).
    let upright = SourceImage::open(fixture("oriented/upright.png"), 1 << 30).unwrap();
    for (file, lossless) in
        [("exif8.png", true), ("exif2.png", true), ("exif3.webp", true), ("exif6.jpg", false)]
    {
        let turned = SourceImage::open(fixture(&format!("oriented/{file}")), 1 << 30).unwrap();
        assert_eq!((turned.width(), turned.height()), (300, 200), "{file}");
        let info = turned.info();
        assert_eq!((info.width, info.height), (300, 200), "{file}: the manifest says so too");
        let difference =
            turned.pixels().iter().zip(upright.pixels()).map(|(a, b)| a.abs_diff(*b) as u64).sum::<u64>()
                as f64
                / upright.pixels().len() as f64;
        if lossless {
            assert_eq!(turned.pixels(), upright.pixels(), "{file}");
        } else {
            // JPEG at quality 95: within a few levels; mirrored it would be 46 off.
            assert!(difference < 3.0, "{file}: mean difference {difference}");
        }
    }
}

#[test]
fn a_truncated_jpeg_is_refused_unless_lenient() {
    // The first 60% of rocket.jpg: libjpeg would fill the rest with grey.
    let bytes = std::fs::read(fixture("bad/truncated.jpg")).unwrap();
    let error = SourceImage::decode(&bytes, "cut.jpg", 1 << 30).unwrap_err();
    assert_eq!(error.to_string(), "cut.jpg: cannot decode JPEG image: Premature end of JPEG file");
    let lenient = SourceImage::decode_with(&bytes, "cut.jpg", 1 << 30, true).unwrap();
    assert_eq!((lenient.width(), lenient.height()), (640, 427));
    // The top rows are the photo's; the bottom ones libjpeg's grey.
    let whole = SourceImage::open(fixture("rocket.jpg"), 1 << 30).unwrap();
    let row = 640 * 3;
    assert_eq!(lenient.pixels()[..row * 8], whole.pixels()[..row * 8]);
    let last = &lenient.pixels()[row * 426..];
    assert!(last.chunks(3).all(|px| px == last[..3].to_vec()), "one flat colour");
}

#[test]
fn damaged_jpeg_data_is_refused() {
    // A stray restart marker in the middle of the entropy-coded data.
    let mut bytes = std::fs::read(fixture("rocket.jpg")).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 2].copy_from_slice(&[0xFF, 0xD5]);
    let error = SourceImage::decode(&bytes, "damaged.jpg", 1 << 30).unwrap_err();
    assert_eq!(error.to_string(), "damaged.jpg: cannot decode JPEG image: Corrupt JPEG data");
    assert!(SourceImage::decode_with(&bytes, "damaged.jpg", 1 << 30, true).is_ok());
}
