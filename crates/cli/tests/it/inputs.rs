//! Every kind of input on the real binary: bad files refused in one line
//! with nothing written, phone photos upright, damaged JPEGs read leniently
//! when asked, colour profiles converted, animations and transparency.

use crate::common;
use crate::common::{fixture, stderr, variegate};
use serde_json::Value;
use variegate_test_support::jobs::files;

#[test]
fn bad_inputs_are_fatal_with_one_line_and_write_nothing() {
    // (image, palettes, what the error says after naming the bad one of them)
    let (palettes, coffee) = ("palettes.json", "coffee.png");
    let cases = [
        ("bad/missing.png", palettes, "cannot read file: No such file"),
        ("bad/empty.png", palettes, "file is empty"),
        ("bad/truncated.png", palettes, "cannot decode PNG image: "),
        ("bad/truncated.jpg", palettes, "cannot decode JPEG image: Premature end of JPEG file"),
        ("bad/random.png", palettes, "not a PNG, JPEG or WebP image"),
        ("bad/text.jpg", palettes, "not a PNG, JPEG or WebP image"),
        (
            "bad/huge-header.png",
            palettes,
            "image is 100000x100000 (10000.0 megapixels), over the limit of 100.0 megapixels",
        ),
        ("bad/zero-width.png", palettes, "image is 0x64, which has no pixels"),
        (
            coffee,
            "bad/syntax-error.json",
            "invalid palettes JSON at line 3, column 18: expected `,` or `}`\n",
        ),
        (
            coffee,
            "bad/bad-colour.json",
            "palette 2 (\"Broken\"): colour 2 \"#11223G\" is not a hex colour (#RGB or #RRGGBB)",
        ),
        (coffee, "bad/empty-list.json", "no palettes: expected a JSON array with at least one palette"),
        (coffee, "bad/not-a-list.json", "expected a JSON array of palettes"),
        (coffee, "bad/missing.json", "cannot read palettes: No such file"),
    ];
    for (image, palettes, said) in cases {
        let inputs = [fixture(image), fixture(palettes)];
        let bad = if image.starts_with("bad/") { &inputs[0] } else { &inputs[1] };
        let expected = format!("{bad}: {said}");
        let dir = tempfile::tempdir().unwrap();
        let output = variegate(&["run", &inputs[0], "--palettes", &inputs[1]], dir.path());
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{inputs:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{inputs:?}: one line: {stderr}");
        let cause = stderr.rsplit(": ").next().unwrap();
        assert_eq!(stderr.matches(cause).count(), 1, "{inputs:?}: each cause once: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: {expected}")),
            "{inputs:?}:\n got {stderr}\nwant error: {expected}"
        );
        assert!(!stderr.contains("panicked"));
        assert!(!dir.path().join("variations").exists(), "{inputs:?}: nothing written");
    }
}

#[test]
fn phone_photos_come_out_upright() {
    // Stored turned a quarter (JPEG, EXIF orientation 6) or three quarters
    // (PNG eXIf, 8): every viewer shows them 300x200, and so do the outputs.
    for file in ["oriented/exif6.jpg", "oriented/exif8.png"] {
        let dir = tempfile::tempdir().unwrap();
        let output =
            variegate(&["run", &fixture(file), "--palette", "#112233,#FFEEDD", "--json"], dir.path());
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            (report["source"]["width"].as_u64(), report["source"]["height"].as_u64()),
            (Some(300), Some(200))
        );
        let stored = dir.path().join("variations").join(report["variations"][0]["key"].as_str().unwrap());
        let decoded = image::open(&stored).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (300, 200), "{file}");
    }
}

#[test]
fn lenient_decodes_a_truncated_jpeg_as_far_as_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = fixture("bad/truncated.jpg");
    let output = variegate(&["run", &truncated, "--palette", "#112233,#FFEEDD", "--lenient"], dir.path());
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(
        warnings,
        [format!(" WARN {truncated}: Premature end of JPEG file: decoded as far as it goes")]
    );
    assert_eq!(files(&dir.path().join("variations")).len(), 2);
}

#[test]
fn tagged_photos_are_converted_to_srgb_and_say_so() {
    let run = |file: &str| {
        let dir = tempfile::tempdir().unwrap();
        let output =
            variegate(&["run", &fixture(file), "--palette", "#112233,#AA5500,#FFEEDD", "--json"], dir.path());
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let stored = dir.path().join("variations").join(report["variations"][0]["key"].as_str().unwrap());
        (std::fs::read(stored).unwrap(), stderr(&output))
    };
    let has_srgb_chunk = |png: &[u8]| png.windows(4).any(|w| w == b"sRGB");
    // p3.png holds upright.png's values, meant as Display P3: other colours.
    let (p3, _) = run("profiles/p3.png");
    let (plain, _) = run("oriented/upright.png");
    assert!(has_srgb_chunk(&p3) && !has_srgb_chunk(&plain));
    assert_ne!(
        image::load_from_memory(&p3).unwrap().to_rgb8(),
        image::load_from_memory(&plain).unwrap().to_rgb8()
    );
    // A profile that does not parse: one warning, and the colours taken as sRGB.
    let (bad, stderr) = run("profiles/bad-profile.png");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0]
            .contains("bad-profile.png: colour profile ignored, colours taken as sRGB: it does not parse")
    );
    assert_eq!(
        image::load_from_memory(&bad).unwrap().to_rgb8(),
        image::load_from_memory(&plain).unwrap().to_rgb8()
    );
}

#[test]
fn an_animation_is_recoloured_from_its_first_frame_with_a_warning() {
    for file in ["animated/animated.png", "animated/animated.webp"] {
        let dir = tempfile::tempdir().unwrap();
        let path = fixture(file);
        let output = variegate(&["run", &path, "--palette", "#112233,#FFEEDD"], dir.path());
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        let format = if file.ends_with("png") { "PNG" } else { "WebP" };
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
        assert_eq!(
            warnings,
            [format!(" WARN {path}: animated {format}: only its first frame is recoloured")]
        );
    }
}

#[test]
fn jpeg_of_a_transparent_image_shows_the_background() {
    // The logo with its left half transparent, written here.
    let dir = tempfile::tempdir().unwrap();
    let mut logo = image::open(fixture("logo.png")).unwrap().to_rgba8();
    logo.pixels_mut().enumerate().filter(|(i, _)| i % 500 < 250).for_each(|(_, px)| px.0[3] = 0);
    let path = dir.path().join("half.png");
    logo.save(&path).unwrap();
    let args = ["run", path.to_str().unwrap(), "--palette", "#112233,#FFEEDD", "--format", "jpeg", "--json"];
    for (extra, expected) in [(None, [255u8, 255, 255]), (Some("#000000"), [0, 0, 0])] {
        let mut args = args.to_vec();
        if let Some(colour) = extra {
            args.extend(["--background", colour]);
        }
        let output = variegate(&args, dir.path());
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["recipe"]["background"].as_str(), Some(extra.unwrap_or("#FFFFFF")));
        let stored = dir.path().join("variations").join(report["variations"][0]["key"].as_str().unwrap());
        let jpeg = image::open(stored).unwrap().to_rgb8();
        let left = jpeg.get_pixel(100, 250).0;
        assert!(left.iter().zip(expected).all(|(a, b)| a.abs_diff(b) <= 3), "{extra:?}: {left:?}");
    }
}

/// Each format's size limit is known from the header: an image the format
/// cannot store is refused in one line naming the limit and `--max-side`,
/// before any work; within the limit (or downscaled to it) it is made.
#[test]
fn formats_size_limits_are_checked_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let strip = |width: u32, height: u32, name: &str| {
        let image =
            image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 251) as u8, (y * 9) as u8, 80]));
        image.save(dir.path().join(name)).unwrap();
    };
    strip(17000, 20, "wide.png");
    strip(65537, 1, "line.png");
    for (image, format, said) in [
        (
            "wide.png",
            &["--format", "webp"][..],
            "image is 17000x20, over lossy WebP's limit of 16383 pixels a side",
        ),
        (
            "wide.png",
            &["--format", "webp", "--lossless"],
            "image is 17000x20, over WebP's limit of 16383 pixels a side",
        ),
        ("line.png", &["--format", "jpeg"], "image is 65537x1, over JPEG's limit of 65535 pixels a side"),
        ("line.png", &["--format", "avif"], "image is 65537x1, over AVIF's limit of 65536 pixels a side"),
    ] {
        let started = std::time::Instant::now();
        let palettes = fixture("palettes.json");
        let args = [&["run", image, "--palettes", &palettes, "--out", "out"][..], format].concat();
        let output = std::process::Command::new(common::BIN)
            .args(&args)
            .env("RUST_LOG", "variegate_core=debug")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{format:?}: {stderr}");
        let limit = said.split(" limit of ").nth(1).unwrap().split(' ').next().unwrap();
        let line = format!("error: {image}: {said} (downscale it with --max-side {limit})\n");
        assert!(stderr.ends_with(&line), "{format:?}:\n got {stderr}\nwant {line}");
        assert!(!stderr.contains("decoded") && !stderr.contains("analys"), "no work: {stderr}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{format:?}");
        assert!(!dir.path().join("out").exists(), "{format:?}: nothing stored");
    }
    // Downscaled to the limit, as the message says, it is made.
    let args = ["run", "wide.png", "--palette", "#102030,#F0E0D0", "--format", "webp", "--max-side", "16383"];
    let output = variegate(&[&args[..], &["--out", "out"]].concat(), dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
