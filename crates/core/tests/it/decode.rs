//! Decoding real files, and every way an input can fail to be an image.

use crate::common::{fixture, png_header_only};
use variegate_core::decoding::{ColourProfiles, DecodeOptions};
use variegate_core::{Channels, DecodeError, Engine, SourceImage};

fn lenient() -> DecodeOptions {
    DecodeOptions { lenient: true, ..DecodeOptions::default() }
}

fn decode(bytes: &[u8]) -> Result<SourceImage, DecodeError> {
    SourceImage::decode(bytes, "input.png", variegate_core::decoding::DEFAULT_MAX_PIXELS)
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
    let lenient = SourceImage::decode_with(&bytes, "cut.jpg", &lenient()).unwrap();
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
    assert!(SourceImage::decode_with(&bytes, "damaged.jpg", &lenient()).is_ok());
}

/// Mean and largest difference between two images' bytes.
fn difference(a: &[u8], b: &[u8]) -> (f64, u8) {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a.iter().zip(b).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    (sum as f64 / a.len() as f64, a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0))
}

#[test]
fn colour_profiles_are_converted_to_srgb() {
    // testdata/profiles/: upright.png's values tagged Display P3 (PNG iCCP),
    // Adobe RGB (JPEG APP2) and sRGB with red and blue swapped, each beside
    // littleCMS's conversion to sRGB (Pillow's ImageCms): another engine's
    // answer.
    for (file, tagged_as) in
        [("p3.png", "Display P3"), ("adobe-rgb.jpg", "Adobe RGB"), ("swapped.png", "swapped")]
    {
        let tagged = SourceImage::open(fixture(&format!("profiles/{file}")), 1 << 30).unwrap();
        let stem = file.split('.').next().unwrap();
        let expected = SourceImage::open(fixture(&format!("profiles/{stem}-in-srgb.png")), 1 << 30).unwrap();
        assert!(tagged.is_srgb_tagged() && !expected.is_srgb_tagged(), "{file}");
        let (mean, max) = difference(tagged.pixels(), expected.pixels());
        eprintln!("{tagged_as}: mean difference from littleCMS {mean:.3}, largest {max}");
        assert!(mean < 0.25 && max <= 2, "{tagged_as}: mean {mean:.3}, largest {max} from littleCMS");
        // Read as if untagged, the values are far off (P3: 10 levels on average).
        let untagged = SourceImage::open(fixture("oriented/upright.png"), 1 << 30).unwrap();
        if file.ends_with(".png") {
            let (off, _) = difference(untagged.pixels(), expected.pixels());
            assert!(off > 5.0, "{tagged_as}: untagged reading is {off:.1} off");
        }
    }
}

#[test]
fn an_embedded_srgb_profile_changes_no_pixel() {
    use image::ImageEncoder;
    let untagged = SourceImage::open(fixture("oriented/upright.png"), 1 << 30).unwrap();
    let mut png = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut png);
    encoder.set_icc_profile(moxcms::ColorProfile::new_srgb().encode().unwrap()).unwrap();
    encoder.write_image(untagged.pixels(), 300, 200, image::ExtendedColorType::Rgb8).unwrap();
    let tagged = decode(&png).unwrap();
    assert_eq!(tagged.pixels(), untagged.pixels());
    assert!(tagged.is_srgb_tagged());
}

#[test]
fn profiles_can_be_ignored_as_the_original_service_did() {
    let options = DecodeOptions { colour_profiles: ColourProfiles::Ignore, ..DecodeOptions::default() };
    let bytes = std::fs::read(fixture("profiles/p3.png")).unwrap();
    let ignored = SourceImage::decode_with(&bytes, "p3.png", &options).unwrap();
    let untagged = SourceImage::open(fixture("oriented/upright.png"), 1 << 30).unwrap();
    assert_eq!(ignored.pixels(), untagged.pixels());
    assert!(!ignored.is_srgb_tagged());
}

#[test]
fn a_profile_that_cannot_be_read_is_ignored() {
    let bad = SourceImage::open(fixture("profiles/bad-profile.png"), 1 << 30).unwrap();
    let untagged = SourceImage::open(fixture("oriented/upright.png"), 1 << 30).unwrap();
    assert_eq!(bad.pixels(), untagged.pixels(), "taken as sRGB");
    assert!(!bad.is_srgb_tagged());
}

#[test]
fn variations_of_a_tagged_image_say_srgb_and_untagged_ones_stay_as_they_were() {
    let engine = Engine::builder().threads(2).build().unwrap();
    let palette = vec![variegate_core::Palette::from_hex("p", &["#112233", "#AA5500", "#FFEEDD"]).unwrap()];
    let has_chunk = |png: &[u8], name: &[u8]| png.windows(4).any(|w| w == name);
    for (file, tagged) in [("profiles/p3.png", true), ("oriented/upright.png", false)] {
        let image = engine.open(fixture(file)).unwrap();
        let job = engine.start(image, palette.clone()).unwrap();
        let variation = job.variations().recv().unwrap();
        job.wait();
        let png = variation.result.unwrap();
        assert_eq!(has_chunk(png.bytes(), b"sRGB"), tagged, "{file}");
        assert!(!has_chunk(png.bytes(), b"iCCP"), "{file}");
    }
    // The cut-out, tagged with an sRGB profile: lossy WebP's VP8X file (it
    // has alpha) as well as its simple one.
    let cutout = image::open(fixture("coffee-cutout.png")).unwrap().to_rgba8();
    let mut tagged_cutout = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut tagged_cutout);
    image::ImageEncoder::set_icc_profile(&mut encoder, moxcms::ColorProfile::new_srgb().encode().unwrap())
        .unwrap();
    image::ImageEncoder::write_image(encoder, &cutout, 600, 400, image::ExtendedColorType::Rgba8).unwrap();
    use variegate_core::OutputFormat::{Jpeg, WebP, WebPLossy};
    for (format, tagged) in [
        (Jpeg { quality: 90 }, engine.open(fixture("profiles/p3.png")).unwrap()),
        (WebP, engine.open(fixture("profiles/p3.png")).unwrap()),
        (WebPLossy { quality: 90 }, engine.open(fixture("profiles/p3.png")).unwrap()),
        (WebPLossy { quality: 90 }, engine.decode(&tagged_cutout, "cutout").unwrap()),
        (WebPLossy { quality: 90 }, engine.open(fixture("oriented/upright.png")).unwrap()),
    ] {
        let said = tagged.is_srgb_tagged();
        let engine = Engine::builder().format(format).build().unwrap();
        let job = engine.start(tagged, palette.clone()).unwrap();
        let encoded = job.variations().recv().unwrap().result.unwrap();
        job.wait();
        let mut decoder = image::ImageReader::new(std::io::Cursor::new(encoded.bytes()))
            .with_guessed_format()
            .unwrap()
            .into_decoder()
            .unwrap();
        let icc = image::ImageDecoder::icc_profile(&mut decoder).unwrap();
        assert_eq!(icc.is_some_and(|icc| icc.len() > 100), said, "{format:?}");
        let reread = SourceImage::decode(encoded.bytes(), "out", 1 << 30).unwrap();
        assert_eq!(reread.is_srgb_tagged(), said, "{format:?}");
        if reread.channels() == Channels::Rgba {
            // The container made around libwebp's chunks keeps its alpha.
            let alpha = |pixels: &[u8]| pixels.chunks(4).map(|p| p[3]).collect::<Vec<u8>>();
            assert_eq!(alpha(reread.pixels()), alpha(cutout.as_raw()));
        }
    }
}

#[test]
fn an_animation_gives_its_first_frame() {
    // testdata/animated/: three frames, the first one also saved alone.
    let first = SourceImage::open(fixture("animated/first-frame.png"), 1 << 30).unwrap();
    for file in ["animated/animated.png", "animated/animated.webp"] {
        let animated = SourceImage::open(fixture(file), 1 << 30).unwrap();
        assert_eq!((animated.width(), animated.height()), (120, 80), "{file}");
        // An animated WebP's canvas has alpha (opaque here).
        let rgb: Vec<u8> = match animated.channels() {
            Channels::Rgb => animated.pixels().to_vec(),
            Channels::Rgba => animated.pixels().chunks(4).flat_map(|px| [px[0], px[1], px[2]]).collect(),
        };
        assert!(rgb == first.pixels(), "{file}: the first frame");
    }
}

#[test]
fn a_lying_metadata_length_allocates_nothing_for_it() {
    // Found by tests/fuzz.rs: a WebP whose EXIF chunk claims 512 MiB made
    // the decoder allocate that much before reading it.
    let mut webp = std::fs::read(fixture("oriented/exif3.webp")).unwrap();
    let exif = webp.windows(4).position(|w| w == b"EXIF").expect("an EXIF chunk");
    webp[exif + 4..exif + 8].copy_from_slice(&0x2000_0000u32.to_le_bytes());
    let image = decode(&webp).unwrap();
    assert_eq!((image.width(), image.height()), (300, 200), "decoded, its metadata not read");
}
