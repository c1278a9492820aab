//! The real `variegate` binary on real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)
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
    let image = fixture("coffee.png");
    let palettes = fixture("palettes.json");
    let output =
        variegate(&["run", image.to_str().unwrap(), "--palettes", palettes.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let folder = dir.path().join("variations");
    let run = std::fs::read_dir(&folder).unwrap().next().unwrap().unwrap().path();
    assert!(run.file_name().unwrap().to_str().unwrap().starts_with("coffee-"));
    let mut files: Vec<String> =
        std::fs::read_dir(&run).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files.len(), 8);
    assert_eq!(files[0], "00-sunset-coral.png");
    assert_eq!(files[7], "manifest.json");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("7 of 7 variations stored"), "{stdout}");
}

#[test]
fn bad_palette_file_is_fatal_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.json"), r##"[{"name": "Neon", "colors": ["#112233", "#11223G"]}]"##)
        .unwrap();
    let image = fixture("coffee.png");
    let output = variegate(&["run", image.to_str().unwrap(), "--palettes", "bad.json"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: bad.json: palette 1 (\"Neon\"): colour 2 \"#11223G\" is not a hex colour (#RGB or #RRGGBB)\n"
    );
    assert!(!dir.path().join("variations").exists());
}

#[test]
fn unreadable_image_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.png"), "not an image").unwrap();
    let palettes = fixture("palettes.json");
    let output = variegate(&["run", "notes.png", "--palettes", palettes.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output), "error: notes.png: not a PNG, JPEG or WebP image\n");
    assert!(!dir.path().join("variations").exists());
}

#[test]
fn an_empty_palette_is_partial() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("palettes.json"),
        r##"[{"name": "Good", "colors": ["#102030", "#F0E0D0"]}, {"name": "Empty", "colors": []}]"##,
    )
    .unwrap();
    let image = fixture("rocket.jpg");
    let output = variegate(
        &["run", image.to_str().unwrap(), "--palettes", "palettes.json", "--out", "out"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("error: variation 1 failed: palette \"Empty\" has no colours"));
    let run = std::fs::read_dir(dir.path().join("out")).unwrap().next().unwrap().unwrap().path();
    assert!(run.join("00-good.png").is_file());
    let manifest = std::fs::read_to_string(run.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"status\": \"failed\""));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(variegate(&["run"], dir.path()).status.code(), Some(2));
    assert_eq!(
        variegate(&["run", "x.png", "--palettes", "p.json", "--threads", "many"], dir.path()).status.code(),
        Some(2)
    );
}
