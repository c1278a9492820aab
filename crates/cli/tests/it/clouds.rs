//! The real binary against Azurite and fake-gcs-server on 127.0.0.1,
//! configured through the environment variables docs/stores.md names.

use crate::common::fixture;
use variegate_test_support::emulators;
use variegate_test_support::s3server;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use emulators::{Azurite, BUCKET, FakeGcs};
use s3server::http_get;
use serde_json::Value;

fn variegate(out: &str, env: &[(&str, String)], dir: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_variegate"));
    command.args([
        "run",
        &fixture("coffee.png"),
        "--palettes",
        &fixture("palettes.json"),
        "--out",
        out,
        "--report",
        "r.json",
    ]);
    for (key, value) in env {
        command.env(key, value);
    }
    command.current_dir(dir).output().unwrap()
}

/// Stores the bundled job into `out`: everything stored, every link works,
/// and the closing line names the run's folder in that store.
fn stores_everything(out: &str, env: &[(&str, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let output = variegate(out, env, dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(report["stored"], 7);
    let folder = report["folder"].as_str().unwrap();
    let closing = stderr.lines().last().unwrap();
    assert!(closing.starts_with(&format!("7 of 7 variations stored in {out}/{folder} (")), "{closing}");
    for variation in report["variations"].as_array().unwrap() {
        let (status, _, body) = http_get(variation["url"].as_str().unwrap());
        assert_eq!((status, body.len() as u64), (200, variation["bytes"].as_u64().unwrap()));
    }
    assert!(!dir.path().join("variegate-spill").exists());
}

/// Exit 1 within seconds, one line, nothing spilled.
fn refused(out: &str, env: &[(&str, String)], expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = variegate(out, env, dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("does not answer") && stderr.contains(expected), "{stderr}");
    assert!(!dir.path().join("variegate-spill").exists() && !dir.path().join("r.json").exists());
}

#[test]
fn azure_through_the_emulator_variables() {
    let Some(azurite) = Azurite::start() else { return };
    stores_everything(&format!("az://{BUCKET}/runs"), &azurite.env());
    refused("az://no-such-container/runs", &azurite.env(), "no-such-container");
    let mut wrong = azurite.env();
    wrong.retain(|(k, _)| *k != "AZURE_STORAGE_ACCOUNT_KEY");
    wrong.push((
        "AZURE_STORAGE_ACCOUNT_KEY",
        "d3Jvbmcga2V5IGZvciB0ZXN0aW5nIHRoZSBjaGVjayBiZWZvcmUgYW55IHdvcms=".into(),
    ));
    refused(&format!("az://{BUCKET}/runs"), &wrong, "403");
}

#[test]
fn gcs_through_a_service_account_file() {
    let Some(fake) = FakeGcs::start() else { return };
    stores_everything(&format!("gs://{BUCKET}/runs"), &fake.env());
    refused("gs://no-such-bucket/runs", &fake.env(), "no-such-bucket");
}
