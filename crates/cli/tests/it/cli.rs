//! The real `variegate` binary on real files: the main job, the report,
//! formats, the contact sheet, exit codes, and every kind of bad input.

use crate::common;
use std::path::PathBuf;

use jobs::files;
use serde_json::Value;

use variegate_test_support::jobs;

use crate::common::{fixture, run_photo, stderr, variegate};

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
    let output = run_photo("rocket.jpg", &["--report", "report.json", "--json"], dir.path());
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
        // PNG takes no quality (a usage error: it would change the key, not the bytes).
        let quality: &[&str] = if format == "png" { &[] } else { &["--quality", "80"] };
        let output = variegate(
            &[
                &[
                    "run",
                    &fixture("logo.png"),
                    "--palette",
                    "#102030,#F0E0D0",
                    "--palette",
                    "#FF0000,#00FF00,#0000FF",
                    "--format",
                    format,
                    "--max-side",
                    "200",
                    "--thumbnail",
                    "64",
                    "--out",
                    &out,
                    "--json",
                ][..],
                quality,
            ]
            .concat(),
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
    let output = run_photo("coffee.png", &["--contact-sheet", "sheet.png", "-q"], dir.path());
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
    let output = run_photo("coffee.png", &["--threads", "100000", "--json"], dir.path());
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

/// The looks' options are the engine's table: each is a flag with its help
/// and range, and refused, naming it, with a look that does not take it.
#[test]
fn every_option_of_the_engines_table_is_a_flag_of_its_looks_only() {
    use variegate_core::looks::{LOOK_OPTIONS, LookName, OptionKind};
    let dir = tempfile::tempdir().unwrap();
    let help = String::from_utf8(variegate(&["run", "--help"], dir.path()).stdout).unwrap();
    for option in LOOK_OPTIONS {
        let flag = format!("--{}", option.flag());
        assert!(help.contains(&flag) && help.contains(option.help.trim_end_matches('.')), "{flag}");
        let (value, out_of_range) = match option.kind {
            OptionKind::Integer { min, max, .. } => (min.to_string(), Some(max as f64 + 1.0)),
            OptionKind::Number { min, .. } => (min.to_string(), Some(f64::from(min) - 1.0)),
            _ => (String::new(), None),
        };
        let given = if value.is_empty() { flag.clone() } else { format!("{flag}={value}") };
        let look = option.looks[0].as_str();
        let mut args = vec!["run", "x.png", "--palette", "#000", "--look", look, &given];
        if let Some(required) = option.requires {
            args.push(if required == "dither" { "--dither" } else { required });
        }
        let ours = variegate(&args, dir.path());
        assert_ne!(ours.status.code(), Some(2), "{flag} with --look {look}: {}", stderr(&ours));
        if let Some(wrong) = out_of_range {
            let wrong = format!("{flag}={wrong}");
            let refused =
                variegate(&["run", "x.png", "--palette", "#000", "--look", look, &wrong], dir.path());
            assert_eq!(refused.status.code(), Some(2), "{wrong}");
        }
        let Some(other) = LookName::ALL.into_iter().find(|l| !option.looks.contains(l)) else { continue };
        args[5] = other.as_str();
        let refused = variegate(&args, dir.path());
        assert_eq!(refused.status.code(), Some(2), "{flag} with --look {}", other.as_str());
        assert!(stderr(&refused).contains("goes with --look"), "{}", stderr(&refused));
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

/// The AVX2 kernels and their portable twins give the same bytes, look by
/// look (`VARIEGATE_SIMD=portable` runs the portable ones): the choice
/// between them, made in one place, is speed alone.
#[test]
fn portable_and_vector_kernels_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for look in [
        &["--look", "shift"][..],
        &["--look", "soft"],
        &["--look", "remap", "--dither"],
        &["--look", "remap", "--dither=ordered"],
        &["--look", "gradient"],
    ] {
        for photo in ["rocket.jpg", "logo.png"] {
            let made: Vec<_> = ["vector", "portable"]
                .map(|kernels| {
                    let out = dir.path().join(format!("{kernels}-{}-{photo}", look.join("")));
                    let (photo, palettes) = (fixture(photo), fixture("palettes.json"));
                    let args = [
                        &["run", &photo, "--palettes", &palettes, "--out"][..],
                        &[out.to_str().unwrap()],
                        look,
                    ];
                    let mut command = std::process::Command::new(common::BIN);
                    command.args(args.concat()).current_dir(dir.path());
                    if kernels == "portable" {
                        command.env("VARIEGATE_SIMD", "portable");
                    }
                    let output = command.output().unwrap();
                    assert_eq!(output.status.code(), Some(0), "{look:?}: {}", stderr(&output));
                    let mut keys: Vec<String> =
                        files(&out).into_iter().filter(|key| key.ends_with(".png")).collect();
                    keys.sort();
                    keys.into_iter()
                        .map(|key| (std::fs::read(out.join(&key)).unwrap(), key))
                        .collect::<Vec<_>>()
                })
                .into();
            assert_eq!(made[0].len(), 7, "{look:?} {photo}");
            assert!(made[0] == made[1], "{look:?} on {photo}: the kernels differ");
        }
    }
}

/// The library page's example is the embedding example's code, line for line.
#[test]
fn library_docs_example_is_the_embedding_example() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let page = std::fs::read_to_string(root.join("docs/library.md")).unwrap();
    let example = std::fs::read_to_string(root.join("crates/cli/examples/embed.rs")).unwrap();
    let code = page.split("```rust\n").nth(1).unwrap().split("```").next().unwrap();
    assert!(code.lines().count() <= 15, "at most 15 lines:\n{code}");
    let body: Vec<&str> = example.lines().map(str::trim).collect();
    for line in code.lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(body.contains(&line), "docs/library.md line not in examples/embed.rs: {line}");
    }
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

/// `--sizes`: each variation at each longest side asked for, never
/// upscaled (1920 and 4000 of a 1411-pixel image are the image itself, made
/// once), under keys naming the side, each file decoding at its size; the
/// manifest lists them with a srcset; the same bytes at 1 and 2 threads; a
/// size list the engine cannot take is a usage error.
#[test]
fn sizes_store_each_variation_at_each_side_for_a_srcset() {
    let dir = tempfile::tempdir().unwrap();
    let run = |threads: &str, out: &str| {
        let args = [
            "--format",
            "webp",
            "--sizes",
            "960,480,1920,4000",
            "--threads",
            threads,
            "--json",
            "--out",
            out,
        ];
        let output = run_photo("retina.jpg", &args, dir.path());
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        report
    };
    let report = run("2", "two");
    assert_eq!(report["recipe"]["sizes"], serde_json::json!([480, 960, 1920, 4000]));
    let variations = report["variations"].as_array().unwrap();
    assert_eq!(variations.len(), 7);
    let mut files = 0;
    for variation in variations {
        let sizes = variation["sizes"].as_array().unwrap();
        let sides: Vec<u64> = sizes.iter().map(|size| size["width"].as_u64().unwrap()).collect();
        assert_eq!(sides, [480, 960, 1411], "square: the width is the side");
        let mut srcset = Vec::new();
        for (size, side) in sizes.iter().zip(&sides) {
            let key = size["key"].as_str().unwrap();
            assert!(key.ends_with(&format!("-{side}.webp")), "{key}");
            let bytes = std::fs::read(dir.path().join("two").join(key)).unwrap();
            assert_eq!(size["bytes"].as_u64(), Some(bytes.len() as u64));
            let decoded = image::load_from_memory(&bytes).unwrap();
            assert_eq!((u64::from(decoded.width()), u64::from(decoded.height())), (*side, *side), "{key}");
            srcset.push(format!("{} {side}w", key.rsplit('/').next().unwrap()));
            files += 1;
        }
        assert_eq!(variation["srcset"].as_str(), Some(srcset.join(", ").as_str()));
        assert_eq!(variation["key"], sizes[2]["key"], "the variation's own file is the largest");
    }
    let stored: Vec<String> = files_under(&dir.path().join("two"));
    assert_eq!(files, 21);
    assert_eq!(stored.iter().filter(|name| name.ends_with(".webp")).count(), 21, "no full-size file besides");
    run("1", "one");
    let bytes = |root: &str| -> Vec<(String, Vec<u8>)> {
        let root = dir.path().join(root);
        files_under(&root)
            .into_iter()
            .filter(|f| f.ends_with(".webp"))
            .map(|f| {
                let bytes = std::fs::read(root.join(&f)).unwrap();
                (f, bytes)
            })
            .collect()
    };
    assert!(bytes("one") == bytes("two"), "the same bytes at 1 and 2 threads");
    let nine = ["--sizes", "1,2,3,4,5,6,7,8,9"];
    let output = run_photo("coffee.png", &nine, dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("error: --sizes takes at most 8 sides, not 9"), "{}", stderr(&output));
}

/// Every file under `root`, relative to it, sorted.
fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut found = files(root);
    found.sort();
    found
}

/// The same output gets one key: -0 is 0. A setting that would change the
/// key and not the bytes (a seed for a look without clustering, a quality
/// for PNG, a background for a format that keeps alpha) is a usage error,
/// under the subcommand's usage.
#[test]
fn one_output_one_key_and_ignored_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let folder = |extra: &[&str]| {
        let output = run_photo("coffee.png", &[&["--json", "--out", "out"][..], extra].concat(), dir.path());
        assert_eq!(output.status.code(), Some(0), "{extra:?}: {}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        report["folder"].as_str().unwrap().to_string()
    };
    for flag in ["--lightness", "--blend", "--saturation"] {
        assert_eq!(folder(&[&format!("{flag}=-0")]), folder(&[&format!("{flag}=0")]), "{flag}");
    }
    for (args, said) in [
        (&["--look", "gradient", "--seed", "3"][..], "error: --seed goes with --look shift or soft"),
        (&["--look", "remap", "--seed", "0"], "error: --seed goes with --look shift or soft"),
        (&["--quality", "80"], "error: --quality goes with format jpeg, webp or avif"),
        (&["--background", "#000"], "error: --background goes with --format jpeg (PNG keeps alpha)"),
        (&["--format", "webp", "--background", "#000"], "error: --background goes with --format jpeg"),
    ] {
        let output = run_photo("coffee.png", args, dir.path());
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).starts_with(said), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains("Usage: variegate run "), "{args:?}: {}", stderr(&output));
    }
    // Where they change the bytes, they are taken.
    folder(&["--format", "jpeg", "--background", "#000", "--quality", "80", "--seed", "2"]);
}

/// Messages say what they mean: the ones an operator met that did not.
#[test]
fn messages_say_what_they_mean() {
    let dir = tempfile::tempdir().unwrap();
    let coffee = fixture("coffee.png");
    let said = |args: &[&str], code: i32, text: &str| {
        let output = variegate(args, dir.path());
        assert_eq!(output.status.code(), Some(code), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(text), "{args:?}:\n got {}\nwant {text}", stderr(&output));
        stderr(&output)
    };
    let remap = ["run", &coffee, "--palette", "#000,#fff", "--look", "remap"];
    let text = said(
        &[&remap[..], &["--dither", "ordered"]].concat(),
        2,
        "error: --dither takes its method after an equals sign: --dither=ordered",
    );
    assert!(text.contains("Usage: variegate run "), "{text}");
    // A subcommand's usage error shows the subcommand's usage.
    let text = said(
        &["batch", "list.txt", "--palette", "#000", "--look", "gradient", "--max-k", "3"],
        2,
        "error: --max-k goes with --look shift or soft",
    );
    assert!(text.contains("Usage: variegate batch "), "{text}");
    said(&["run", &coffee, "--palette", "#000", "--lightness", "1e308"], 2, "\"1e308\" is too large");
    said(&["run", &coffee, "--palette", "#000", "--contact-sheet", "x.avif"], 2, "name it .png, not .avif");
    // Below a megapixel, pixels.
    image::RgbImage::new(17, 9).save(dir.path().join("small.png")).unwrap();
    said(
        &["run", "small.png", "--palette", "#000", "--max-pixels", "152"],
        1,
        "error: small.png: image is 17x9 (153 pixels), over the limit of 152 pixels\n",
    );
    said(&["run", "", "--palette", "#000"], 2, "error: a value is required for '<IMAGE>'");
    std::fs::write(dir.path().join("afile"), "").unwrap();
    said(
        &["run", &coffee, "--palette", "#000", "--report", "afile/r.json"],
        1,
        "error: --report afile/r.json: cannot write there: afile is not a folder\n",
    );
    // memory:// is written as given.
    let text = said(
        &["run", &coffee, "--palette", "#000", "--out", "memory://"],
        0,
        "1 of 1 variations stored in memory://coffee-",
    );
    assert!(!text.contains("memory:/coffee"), "{text}");
    // --quiet prints only warnings and errors, as its help says: no closing line.
    let output = variegate(&["run", &coffee, "--palette", "#000", "--analysis-size", "64", "-q"], dir.path());
    let warning = "WARN --analysis-size no longer changes the output (output version 4 on)\n";
    assert_eq!((output.status.code(), stderr(&output).trim_start()), (Some(0), warning));
    let help = String::from_utf8(variegate(&["run", "--help"], dir.path()).stdout).unwrap();
    assert!(help.contains("Print only warnings and errors"), "{help}");
}

/// The refusal docs/cli.md quotes is the one the binary prints, word for
/// word (the page wraps it; spaces are compared as one).
#[test]
fn the_memory_refusal_the_docs_quote_is_the_binarys() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let page = std::fs::read_to_string(root.join("docs/cli.md")).unwrap();
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let quoted = page.split("`error: testdata/retina.jpg: recolouring").nth(1).unwrap();
    let quoted =
        words(&format!("error: testdata/retina.jpg: recolouring{}", quoted.split('`').next().unwrap()));
    let args = ["run", "testdata/retina.jpg", "--palettes", "testdata/palettes.json", "--max-memory", "60M"];
    let output = variegate(&[&args[..], &["--out", "memory://"]].concat(), &root);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(words(&stderr(&output)), quoted);
}

/// Every flag of `run` and `batch` is in the docs' tables, as `--flag`:
/// the reference pages list what the binary takes, no more and no less.
#[test]
fn every_flag_is_in_the_docs() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let pages =
        ["docs/cli.md", "docs/batches.md"].map(|page| std::fs::read_to_string(root.join(page)).unwrap());
    for command in ["run", "batch"] {
        let output = variegate(&[command, "--help"], dir.path());
        let help = String::from_utf8_lossy(&output.stdout).into_owned();
        let flags: Vec<&str> = help
            .lines()
            .filter_map(|line| line.trim_start().trim_start_matches("-q, ").strip_prefix("--"))
            .map(|rest| rest.split([' ', '=', '[', '<']).next().unwrap_or(""))
            .filter(|flag| !flag.is_empty() && *flag != "help")
            .collect();
        assert!(flags.contains(&"max-memory"), "{help}");
        for flag in flags {
            let written = format!("`--{flag}");
            assert!(
                pages.iter().any(|page| page.contains(&written)),
                "--{flag} of {command} is in no docs page"
            );
        }
    }
}

/// The pictures of docs/looks are what the documented commands make today:
/// the contact sheets (`scripts/looks-pictures.sh`) and the crop of shift
/// beside soft. `VARIEGATE_BLESS=1` writes them after a change of look.
#[test]
fn the_looks_pictures_are_what_the_documented_commands_make() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bless = std::env::var_os("VARIEGATE_BLESS").is_some();
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(root.join("scripts/looks-pictures.sh"))
        .args([common::BIN, dir.path().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let crop = soft_crop(dir.path());
    crop.save(dir.path().join("soft-crop.png")).unwrap();
    for look in ["shift", "soft", "remap", "remap-dither", "remap-ordered", "gradient", "soft-crop"] {
        let made = std::fs::read(dir.path().join(format!("{look}.png"))).unwrap();
        let shown_path = root.join(format!("docs/looks/{look}.png"));
        if bless {
            std::fs::write(&shown_path, &made).unwrap();
        }
        let shown = std::fs::read(&shown_path).unwrap();
        // The crop is compared by its pixels: the PNG writer is the image
        // crate's, whose bytes may change with its version.
        let same = match look {
            "soft-crop" => image::load_from_memory(&shown).unwrap().to_rgb8() == crop,
            _ => made == shown,
        };
        assert!(
            same,
            "docs/looks/{look}.png is not what the command makes: VARIEGATE_BLESS=1 cargo test ... looks_pictures"
        );
    }
}

/// docs/looks/soft-crop.png: rocket.jpg in Citrus Pop, shift (left) beside
/// soft (right), the same 300x200 crop of each at 2x, 4 white pixels apart.
fn soft_crop(dir: &std::path::Path) -> image::RgbImage {
    let crop = |look: &str| {
        let out = dir.join(format!("rocket-{look}"));
        let args =
            ["run", &fixture("rocket.jpg"), "--palettes", &fixture("palettes.json"), "--look", look, "-q"];
        let output = variegate(&[&args[..], &["--out", out.to_str().unwrap()]].concat(), dir);
        assert!(output.status.success(), "{}", stderr(&output));
        let citrus = files(&out).into_iter().find(|path| path.ends_with("06-citrus-pop.png")).unwrap();
        let variation = image::open(out.join(citrus)).unwrap().to_rgb8();
        let crop = image::imageops::crop_imm(&variation, 150, 0, 300, 200).to_image();
        image::imageops::resize(&crop, 600, 400, image::imageops::FilterType::Nearest)
    };
    let mut sheet = image::RgbImage::from_pixel(1204, 400, image::Rgb([255, 255, 255]));
    image::imageops::replace(&mut sheet, &crop("shift"), 0, 0);
    image::imageops::replace(&mut sheet, &crop("soft"), 604, 0);
    sheet
}
