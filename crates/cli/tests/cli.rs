//! The real `variegate` binary on real files: the main job, the report,
//! formats, the contact sheet, exit codes, and every kind of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jobs::files;
use serde_json::Value;

use variegate_test_support::jobs;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name);
    path.to_str().unwrap().to_string()
}

fn variegate(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_variegate")).args(args).current_dir(dir).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn runs_the_bundled_example_into_variations() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        variegate(&["run", &fixture("coffee.png"), "--palettes", &fixture("palettes.json")], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let files = files(&dir.path().join("variations"));
    assert_eq!(files.len(), 8, "{files:?}");
    assert!(
        files[0].starts_with("coffee-cc02f8ca/shift-") && files[0].ends_with("/00-sunset-coral.png"),
        "{files:?}"
    );
    assert!(files[7].ends_with("/manifest.json"));
    let folder = files[0].rsplit_once('/').unwrap().0;
    // Not a terminal here: one line per stored variation, then the tally.
    let stderr = stderr(&output);
    assert_eq!(stderr.lines().filter(|l| l.starts_with("stored ")).count(), 7, "{stderr}");
    let location = format!("file://{}/{folder} (", dir.path().join("variations").display());
    assert!(stderr.contains(&format!("7 of 7 variations stored in {location}")), "{stderr}");
}

#[test]
fn report_json_and_manifest_are_the_same_document() {
    let dir = tempfile::tempdir().unwrap();
    let output = variegate(
        &[
            "run",
            &fixture("rocket.jpg"),
            "--palettes",
            &fixture("palettes.json"),
            "--report",
            "report.json",
            "--json",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON alone on stdout");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    let folder = printed["folder"].as_str().unwrap();
    let manifest_path = dir.path().join("variations").join(folder).join("manifest.json");
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(manifest_path).unwrap()).unwrap();
    assert_eq!(manifest, printed);

    let source = &printed["source"];
    assert_eq!(source["width"], 640);
    assert_eq!(source["height"], 427);
    assert_eq!(source["format"], "jpeg");
    assert_eq!(source["sha256"].as_str().unwrap().len(), 64);
    assert!(source["path"].as_str().unwrap().ends_with("rocket.jpg"));
    assert!(printed["store"].as_str().unwrap().starts_with("file://"));
    assert_eq!((printed["stored"].as_u64(), printed["failed"].as_u64()), (Some(7), Some(0)));
    assert_eq!((printed["status"].as_str(), printed["cancelled"].as_u64()), (Some("complete"), Some(0)));
    assert_eq!(printed["recipe"]["look"], "shift");
    assert_eq!(printed["recipe"]["look_options"]["max_k"], 5);
    assert_eq!(printed["recipe"]["format"]["name"], "png");
    assert!(folder.ends_with(&printed["digest"].as_str().unwrap()[..8]), "{folder}");
    for stage in ["decode", "analyse", "total"] {
        assert!(printed["timings_ms"][stage].as_f64().unwrap() > 0.0, "{stage}");
    }
    let first = &printed["variations"][0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["name"], "Sunset Coral");
    assert_eq!(first["colors"][0], "#2B1B3D");
    assert_eq!(first["description"], "Warm dusk tones");
    assert_eq!(first["key"], format!("{folder}/00-sunset-coral.png"));
    assert!(first["url"].as_str().unwrap().starts_with("file:///"));
    assert_eq!(first["content_type"], "image/png");
    assert_eq!(first["status"], "stored");
    assert_eq!(first["error"], Value::Null);
    assert_eq!(first["spill_path"], Value::Null);
    let stored = std::fs::read(dir.path().join("variations").join(first["key"].as_str().unwrap())).unwrap();
    assert_eq!(first["bytes"].as_u64(), Some(stored.len() as u64));
    assert_eq!((first["width"].as_u64(), first["height"].as_u64()), (Some(640), Some(427)));
    for stage in ["recolour", "encode", "store"] {
        assert!(first["timings_ms"][stage].as_f64().is_some(), "{stage}");
    }
}

#[test]
fn formats_thumbnails_and_max_side() {
    let dir = tempfile::tempdir().unwrap();
    for (format, magic, extension) in [
        ("jpeg", &[0xFF, 0xD8, 0xFF][..], "jpg"),
        ("webp", &b"RIFF"[..], "webp"),
        ("png", &b"\x89PNG"[..], "png"),
    ] {
        let out = format!("out-{format}");
        let output = variegate(
            &[
                "run",
                &fixture("logo.png"),
                "--palette",
                "#102030,#F0E0D0",
                "--palette",
                "#FF0000,#00FF00,#0000FF",
                "--format",
                format,
                "--quality",
                "80",
                "--max-side",
                "200",
                "--thumbnail",
                "64",
                "--out",
                &out,
                "--json",
            ],
            dir.path(),
        );
        assert_eq!(output.status.code(), Some(0), "{format}: {}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["variations"][1]["name"], "Palette 2");
        assert_eq!(report["variations"][1]["colors"][2], "#0000FF");
        let key = report["variations"][0]["key"].as_str().unwrap();
        assert!(key.ends_with(&format!("00-palette-1.{extension}")), "{key}");
        let bytes = std::fs::read(dir.path().join(&out).join(key)).unwrap();
        assert!(bytes.starts_with(magic), "{format}");
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (200, 200), "--max-side 200");
        // Lossy WebP leaves out an alpha channel that is opaque everywhere, as the logo's is.
        if format != "webp" {
            assert_eq!(decoded.color().has_alpha(), format == "png", "alpha kept where the format has it");
        }
        let thumbnail = report["variations"][0]["thumbnail"].as_str().unwrap();
        assert!(thumbnail.contains("/thumbs/00-palette-1."), "{thumbnail}");
        let thumb = image::open(dir.path().join(&out).join(thumbnail)).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (64, 64));
    }
}

#[test]
fn contact_sheet_shows_original_and_variations() {
    let dir = tempfile::tempdir().unwrap();
    let output = variegate(
        &[
            "run",
            &fixture("coffee.png"),
            "--palettes",
            &fixture("palettes.json"),
            "--contact-sheet",
            "sheet.png",
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty() && output.stdout.is_empty(), "--quiet prints nothing on success");
    let sheet = image::open(dir.path().join("sheet.png")).unwrap().to_rgb8();
    // 8 cells (original + 7) in 4 columns, 2 rows, each 256 + gaps.
    assert_eq!((sheet.width(), sheet.height()), (4 * 268 + 12, 2 * (256 + 28 + 24) + 12));
    // The first swatch under the second cell is palette 1's first colour.
    let swatch = sheet.get_pixel(12 + 268 + 10, 12 + 256 + 6 + 10);
    assert_eq!(swatch.0, [0x2B, 0x1B, 0x3D]);
    // No thumbnails were asked for, so none were stored.
    assert!(!files(&dir.path().join("variations")).iter().any(|f| f.contains("thumbs/")));
}

/// A palette list that cannot work (a palette without colours, more than
/// 256 colours to dither) is fatal before any work in `run` and `batch`:
/// retrying would fail again in every image.
#[test]
fn a_palette_that_cannot_work_is_fatal_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let empty = fixture("bad/empty-palette.json");
    let expected = format!("error: {empty}: palette 2 (\"Nothing\"): no colours\n");
    for command in ["run", "batch"] {
        let input = if command == "run" { fixture("rocket.jpg") } else { fixture("") };
        let output = variegate(&[command, &input, "--palettes", &empty], dir.path());
        assert_eq!(output.status.code(), Some(1), "{command}: {}", stderr(&output));
        assert_eq!(stderr(&output), expected, "{command}");
    }
    let many: Vec<String> = (0..300).map(|i| format!("#{i:06X}")).collect();
    std::fs::write(
        dir.path().join("many.json"),
        serde_json::json!([{"name": "Many", "colors": many}]).to_string(),
    )
    .unwrap();
    let args = ["run", &fixture("rocket.jpg"), "--palettes", "many.json", "--look", "remap", "--dither"];
    let output = variegate(&args, dir.path());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "error: many.json: palette 1 (\"Many\"): dithering takes palettes of at most 256 colours, not 300\n"
    );
    // Without dithering a long palette is fine.
    let output = variegate(&args[..6], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!dir.path().join("variegate-spill").exists());
    assert_eq!(
        files(&dir.path().join("variations")).len(),
        2,
        "only the last run wrote: an image and its manifest"
    );
}

/// Each bad input: exit 1, exactly one line naming the file and the problem,
/// and no store folder created.
#[test]
fn bad_inputs_are_fatal_with_one_line_and_write_nothing() {
    let palettes = fixture("palettes.json");
    let coffee = fixture("coffee.png");
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![fixture("bad/missing.png"), palettes.clone()],
            format!("{}: cannot read file: No such file", fixture("bad/missing.png")),
        ),
        (
            vec![fixture("bad/empty.png"), palettes.clone()],
            format!("{}: file is empty", fixture("bad/empty.png")),
        ),
        (
            vec![fixture("bad/truncated.png"), palettes.clone()],
            format!("{}: cannot decode PNG image: ", fixture("bad/truncated.png")),
        ),
        (
            vec![fixture("bad/truncated.jpg"), palettes.clone()],
            format!("{}: cannot decode JPEG image: Premature end of JPEG file", fixture("bad/truncated.jpg")),
        ),
        (
            vec![fixture("bad/random.png"), palettes.clone()],
            format!("{}: not a PNG, JPEG or WebP image", fixture("bad/random.png")),
        ),
        (
            vec![fixture("bad/text.jpg"), palettes.clone()],
            format!("{}: not a PNG, JPEG or WebP image", fixture("bad/text.jpg")),
        ),
        (
            vec![fixture("bad/huge-header.png"), palettes.clone()],
            format!(
                "{}: image is 100000x100000 (10000.0 megapixels), over the limit of 100.0 megapixels",
                fixture("bad/huge-header.png")
            ),
        ),
        (
            vec![fixture("bad/zero-width.png"), palettes.clone()],
            format!("{}: image is 0x64, which has no pixels", fixture("bad/zero-width.png")),
        ),
        (
            vec![coffee.clone(), fixture("bad/syntax-error.json")],
            format!(
                "{}: invalid palettes JSON at line 3, column 18: expected `,` or `}}`\n",
                fixture("bad/syntax-error.json")
            ),
        ),
        (
            vec![coffee.clone(), fixture("bad/bad-colour.json")],
            format!(
                "{}: palette 2 (\"Broken\"): colour 2 \"#11223G\" is not a hex colour (#RGB or #RRGGBB)",
                fixture("bad/bad-colour.json")
            ),
        ),
        (
            vec![coffee.clone(), fixture("bad/empty-list.json")],
            format!(
                "{}: no palettes: expected a JSON array with at least one palette",
                fixture("bad/empty-list.json")
            ),
        ),
        (
            vec![coffee.clone(), fixture("bad/not-a-list.json")],
            format!("{}: expected a JSON array of palettes", fixture("bad/not-a-list.json")),
        ),
        (
            vec![coffee.clone(), fixture("bad/missing.json")],
            format!("{}: cannot read palettes: No such file", fixture("bad/missing.json")),
        ),
    ];
    for (inputs, expected) in cases {
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

#[test]
fn palette_files_as_people_write_them() {
    // A byte-order mark, "id" and "tags" fields, spaces around colours.
    let dir = tempfile::tempdir().unwrap();
    let palettes = fixture("palettes-as-written.json");
    let output = variegate(&["run", &fixture("coffee.png"), "--palettes", &palettes], dir.path());
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(
        warnings,
        [format!(
            " WARN {palettes}: ignoring fields other than name, colors and description: \"id\", \"tags\""
        )],
        "{stderr}"
    );
    assert_eq!(files(&dir.path().join("variations")).len(), 3);
}

#[test]
fn bad_inline_palette_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let output = variegate(&["run", &fixture("coffee.png"), "--palette", "#112233,#11223G"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: --palette: palette 1 (\"Palette 1\"): colour 2 \"#11223G\" is not a hex colour (#RGB or #RRGGBB)\n"
    );
    assert!(!dir.path().join("variations").exists());
}

/// A thread count far past the cores is capped with one warning, not
/// obeyed (100 000 threads once ran for ten minutes).
#[test]
fn threads_past_the_cores_are_capped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let output = variegate(
        &[
            "run",
            &fixture("coffee.png"),
            "--palettes",
            &fixture("palettes.json"),
            "--threads",
            "100000",
            "--json",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
    let cores = std::thread::available_parallelism().unwrap().get();
    let most = cores * variegate_core::THREADS_PER_CORE;
    let warning = format!("100000 threads asked for; using {most}, 4 for each of the {cores} cores");
    let stderr = stderr(&output);
    assert_eq!(stderr.lines().filter(|line| line.contains(&warning)).count(), 1, "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["stored"], 7);
}

#[test]
fn usage_errors_exit_2_and_help_explains_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(variegate(&["run"], dir.path()).status.code(), Some(2));
    assert_eq!(variegate(&["run", "x.png"], dir.path()).status.code(), Some(2), "palettes are required");
    let both = ["run", "x.png", "--palettes", "p.json", "--palette", "#000"];
    assert_eq!(variegate(&both, dir.path()).status.code(), Some(2), "one palette source");
    let threads = ["run", "x.png", "--palettes", "p.json", "--threads", "many"];
    assert_eq!(variegate(&threads, dir.path()).status.code(), Some(2));
    let quality = ["run", "x.png", "--palettes", "p.json", "--quality", "101"];
    assert_eq!(variegate(&quality, dir.path()).status.code(), Some(2));

    let help = variegate(&["run", "--help"], dir.path());
    let help = String::from_utf8(help.stdout).unwrap();
    for text in [
        "Exit codes:",
        "3    partial",
        "130  interrupted",
        "--contact-sheet",
        "[default: ./variations]",
        "[default: 90 JPEG, 90 WebP, 70 AVIF]",
        "--max-side",
    ] {
        assert!(help.contains(text), "--help lacks {text:?}");
    }
}

#[test]
fn every_look_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    for look in [
        &["--look", "shift"][..],
        &["--look", "soft", "--max-k", "4"],
        &["--look", "remap"],
        &["--look", "remap", "--dither"],
        &["--look", "remap", "--dither=ordered", "--dither-strength", "0.5"],
        &["--look", "gradient"],
    ] {
        let mut args = vec!["run", "--json", "--out", "out"];
        let image = fixture("rocket.jpg");
        let palettes = fixture("palettes.json");
        args.extend([image.as_str(), "--palettes", palettes.as_str()]);
        args.extend(look);
        let output = variegate(&args, dir.path());
        assert_eq!(output.status.code(), Some(0), "{look:?}: {}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["stored"], 7, "{look:?}");
    }
    let output =
        variegate(&["run", &fixture("rocket.jpg"), "--palette", "#000,#fff", "--dither"], dir.path());
    assert_eq!(output.status.code(), Some(2), "a usage error");
    assert!(stderr(&output).starts_with("error: --dither goes with --look remap\n"), "{}", stderr(&output));
    for (args, message) in [
        (
            &["--dither-strength", "0.5"][..],
            "error: the following required arguments were not provided:\n  --dither",
        ),
        (
            &["--dither", "--dither-strength", "1.5"],
            "error: invalid value '1.5' for '--dither-strength <0..1>'",
        ),
        (&["--dither=spiral"], "error: invalid value 'spiral' for '--dither[=<METHOD>]'"),
    ] {
        let mut all = vec!["run", "--look", "remap", "--palette", "#000,#fff"];
        all.extend(args);
        let image = fixture("rocket.jpg");
        all.push(&image);
        let output = variegate(&all, dir.path());
        assert_eq!(output.status.code(), Some(2), "{args:?}: a usage error");
        assert!(stderr(&output).starts_with(message), "{args:?}: {}", stderr(&output));
    }
    let output = variegate(
        &["run", &fixture("rocket.jpg"), "--palette", "#000,#fff", "--look", "gradient", "--max-k", "3"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2), "shift's options with another look");
    assert!(
        stderr(&output).starts_with("error: --max-k goes with --look shift or soft\n"),
        "{}",
        stderr(&output)
    );
}

/// The README's library example is the batch example's code, line for line.
#[test]
fn readme_library_example_is_the_batch_example() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("crates/cli/examples/batch.rs")).unwrap();
    let section = readme.split("## As a library").nth(1).unwrap();
    let code = section.split("```rust\n").nth(1).unwrap().split("```").next().unwrap();
    assert!(code.lines().count() <= 15, "at most 15 lines:\n{code}");
    let body: Vec<&str> = example.lines().map(str::trim).collect();
    for line in code.lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(body.contains(&line), "README line not in examples/batch.rs: {line}");
    }
}

/// Runs the binary, stderr to a file, and returns its exit code, stderr and
/// peak resident memory in bytes, from the kernel's accounting of that one
/// process (`wait4`).
fn variegate_measured(args: &[&str], dir: &Path) -> (Option<i32>, String, u64) {
    let log = dir.join("stderr.log");
    // Reaped by wait4 below, which std's Child cannot report rusage for.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_variegate"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data; the pid is our own child, not yet waited for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, std::fs::read_to_string(log).unwrap(), usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_memory_budget_holds_or_refuses_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (retina, palettes) = (fixture("retina.jpg"), fixture("palettes.json"));
    let job = |out: &str, budget: &str| {
        let mut args = vec!["run", &retina, "--palettes", &palettes, "--threads", "8", "-q", "--out"];
        args.push(out);
        if !budget.is_empty() {
            args.extend(["--max-memory", budget]);
        }
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        variegate_measured(&args.iter().map(String::as_str).collect::<Vec<_>>(), dir.path())
    };

    let (code, log, unlimited_peak) = run(job("unlimited", ""));
    assert_eq!(code, Some(0), "{log}");
    // 8 threads would make all 7 palettes at once; 120 MiB holds two or three.
    let (code, log, peak) = run(job("budget", "120M"));
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("of 7 variations at a time, to stay within the memory budget of 120 MiB"), "{log}");
    assert!(peak <= 120 << 20, "peak {} MiB over the budget", peak >> 20);
    assert!(peak < unlimited_peak, "peak {peak} against {unlimited_peak} unlimited");
    let unlimited = files(&dir.path().join("unlimited"));
    assert_eq!(unlimited, files(&dir.path().join("budget")));
    for file in unlimited.iter().filter(|f| f.ends_with(".png")) {
        let read = |folder: &str| std::fs::read(dir.path().join(folder).join(file)).unwrap();
        assert_eq!(read("unlimited"), read("budget"), "{file}");
    }

    // Too small for even one at a time: one line, exit 1, nothing stored.
    let (code, log, _) = run(job("refused", "40M"));
    assert_eq!(code, Some(1), "{log}");
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.starts_with(&format!("error: {retina}: recolouring ")), "{log}");
    assert!(log.contains(" needs at least ") && log.contains("image 6 MiB"), "{log}");
    assert_parts_add_up(&log);
    assert!(
        log.trim_end().ends_with("over the memory budget of 40 MiB (raise it with --max-memory)"),
        "{log}"
    );
    assert!(!dir.path().join("refused").exists() || files(&dir.path().join("refused")).is_empty());

    // A 9000x9000 header on a photo's worth of bytes: refused from the
    // header alone, before any pixel memory.
    let mut forged = std::fs::read(fixture("rocket.jpg")).unwrap();
    let sof = forged.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    forged[sof + 5..sof + 9].copy_from_slice(&[0x23, 0x28, 0x23, 0x28]);
    std::fs::write(dir.path().join("forged.jpg"), &forged).unwrap();
    let (code, log, peak) = run(vec![
        "run".into(),
        "forged.jpg".into(),
        "--palettes".into(),
        palettes.clone(),
        "--max-memory".into(),
        "200M".into(),
    ]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.starts_with("error: forged.jpg: recolouring 9000x9000 pixels needs at least "), "{log}");
    assert_parts_add_up(&log);

    // Past the header's least, this run's own estimate: its palettes, all
    // its encoded variations; its parts add up as well.
    let (code, log, _) = run(job("refused-later", "90M"));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.starts_with(&format!("error: {retina}: recolouring 7 palettes needs about ")), "{log}");
    assert_parts_add_up(&log);
    assert!(peak < 40 << 20, "peak {} MiB", peak >> 20);

    // Sizes are checked as the options are read.
    let output = variegate(&["run", &retina, "--palettes", &palettes, "--max-memory", "12Q"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("\"12Q\" is not a size (e.g. 512M, 2G, 1.5G)"), "{}", stderr(&output));
}

#[test]
fn a_contact_sheet_too_large_for_the_budget_is_refused_first() {
    let dir = tempfile::tempdir().unwrap();
    let many: Vec<Value> = (0..400)
        .map(|i| serde_json::json!({"name": format!("p{i}"), "colors": ["#112233", "#DDEEFF"]}))
        .collect();
    std::fs::write(dir.path().join("many.json"), serde_json::to_vec(&many).unwrap()).unwrap();
    let output = variegate(
        &[
            "run",
            &fixture("coffee.png"),
            "--palettes",
            "many.json",
            "--contact-sheet",
            "sheet.png",
            "--max-memory",
            "64M",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    let log = stderr(&output);
    assert!(log.starts_with("error: --contact-sheet of 400 palettes needs "), "{log}");
    assert!(
        log.trim_end().ends_with("over the memory budget of 64 MiB (raise it with --max-memory)"),
        "{log}"
    );
    assert!(!dir.path().join("variations").exists() && !dir.path().join("sheet.png").exists());
}

/// A memory refusal's total is the sum of the parts it names.
fn assert_parts_add_up(message: &str) {
    let (_, estimate) = message.split_once(" needs ").unwrap();
    let estimate = estimate.trim_start_matches("at least ").trim_start_matches("about ");
    let (total, parts) = estimate.split_once(" MiB: ").unwrap();
    let parts = parts.split([',', '(']).next().unwrap();
    let sum: u64 =
        parts.split(" + ").map(|part| part.trim().rsplit(' ').nth(1).unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(total.parse::<u64>().unwrap(), sum, "{message}");
}

/// Web formats: lossy WebP by default for `--format webp`, AVIF, and their
/// thumbnails, each under keys and content types of their own.
#[test]
fn web_formats_are_stored_with_their_thumbnails_under_their_own_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = std::collections::BTreeMap::new();
    let coffee = fixture("coffee.png");
    for format in [&["--format", "webp"][..], &["--format", "webp", "--lossless"], &["--format", "avif"]] {
        let mut args = vec!["run", &coffee, "--palette", "#112233,#DDAA44", "--thumbnail", "64", "--json"];
        args.extend(format);
        let output = variegate(&args, dir.path());
        assert_eq!(output.status.code(), Some(0), "{format:?}: {}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let variation = &report["variations"][0];
        let (key, thumbnail) = (variation["key"].as_str().unwrap(), variation["thumbnail"].as_str().unwrap());
        let extension = if format[1] == "avif" { ".avif" } else { ".webp" };
        assert!(key.ends_with(extension) && thumbnail.ends_with(extension), "{key} {thumbnail}");
        assert_eq!(variation["content_type"], format!("image/{}", &extension[1..]));
        let stored = std::fs::read(dir.path().join("variations").join(key)).unwrap();
        let lossless = format.contains(&"--lossless");
        match extension {
            ".webp" => assert_eq!(&stored[12..16], if lossless { b"VP8L" } else { b"VP8 " }),
            _ => assert_eq!(&stored[4..12], b"ftypavif"),
        }
        assert!(seen.insert(key.to_string(), report["recipe"]["format"].clone()).is_none(), "keys differ");
    }
}
