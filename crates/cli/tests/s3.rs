//! The real binary against a real S3-compatible server on 127.0.0.1,
//! configured through the standard AWS environment variables.

#[path = "../../uploader/tests/s3server/mod.rs"]
mod s3server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use s3server::{BUCKET, Fault, FaultProxy, S3Server, env_for, http_get};
use serde_json::Value;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name).to_str().unwrap().to_string()
}

fn variegate(args: &[&str], env: &[(&str, String)], dir: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_variegate"));
    command.args(args).current_dir(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn stores_to_s3_with_presigned_links() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let out = format!("s3://{BUCKET}/jobs");
    let args =
        ["run", &fixture("coffee.png"), "--palettes", &fixture("palettes.json"), "--out", &out, "--json"];
    let output = variegate(&args, &server.env(), dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["stored"], 7);
    let first = &report["variations"][0];
    let (status, headers, body) = http_get(first["url"].as_str().unwrap());
    assert_eq!(status, 200);
    assert_eq!(body.len() as u64, first["bytes"].as_u64().unwrap());
    assert!(headers.iter().any(|(k, v)| k == "x-amz-meta-palette_name" && v == "Sunset Coral"));
    let folder = report["folder"].as_str().unwrap();
    assert!(server.root.path().join(BUCKET).join("jobs").join(folder).join("manifest.json").is_file());
}

/// Variables set to nothing, as schedulers and shells write them, count as
/// unset: `AWS_ALLOW_HTTP=` and the other flags used to fail to parse
/// ("failed to parse \"\" as boolean").
#[test]
fn empty_aws_variables_count_as_unset() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let out = format!("s3://{BUCKET}/empty");
    let mut env = server.env();
    env.extend([("AWS_SKIP_SIGNATURE", String::new()), ("AWS_IMDSV1_FALLBACK", String::new())]);
    let args = ["run", &fixture("coffee.png"), "--palettes", &fixture("palettes.json"), "--out", &out, "-q"];
    let output = variegate(&args, &env, dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn a_store_that_fails_mid_run_spills_and_exits_3() {
    let server = S3Server::start();
    let proxy = FaultProxy::start(
        &server.endpoint,
        Arc::new(|n| if n < 2 { Fault::Pass } else { Fault::Unavailable }),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = format!("s3://{BUCKET}/jobs");
    let args = [
        "run",
        &fixture("rocket.jpg"),
        "--palettes",
        &fixture("palettes.json"),
        "--out",
        &out,
        "--retries",
        "1",
        "--deadline",
        "3",
        "--uploads",
        "1",
        "--json",
    ];
    let output = variegate(&args, &env_for(&proxy.endpoint), dir.path());
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["stored"].as_u64(), report["spilled"].as_u64()), (Some(2), Some(5)));
    let spilled: Vec<&Value> =
        report["variations"].as_array().unwrap().iter().filter(|v| v["status"] == "spilled").collect();
    assert_eq!(spilled.len(), 5);
    for variation in spilled {
        let path = variation["spill_path"].as_str().unwrap();
        assert!(path.starts_with("./variegate-spill/rocket-"), "{path}");
        let bytes = std::fs::read(dir.path().join(path)).unwrap();
        assert_eq!(bytes.len() as u64, variation["bytes"].as_u64().unwrap());
        assert!(bytes.starts_with(b"\x89PNG"));
    }
    let stderr = stderr(&output);
    let saved = stderr.lines().filter(|l| l.contains("not stored, saved to ./variegate-spill/")).count();
    assert_eq!(saved, 5, "{stderr}");
}

/// Exit 1 before any pixel work, within seconds, with nothing spilled.
fn fails_fast(out: &str, env: &[(&str, String)], expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = variegate(
        &["run", &fixture("coffee.png"), "--palettes", &fixture("palettes.json"), "--out", out],
        env,
        dir.path(),
    );
    let took = started.elapsed();
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{out}: {stderr}");
    assert!(took < Duration::from_secs(15), "{out}: took {took:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(expected), "{out}: {stderr}");
    assert!(!dir.path().join("variegate-spill").exists() && !dir.path().join("variations").exists());
}

#[test]
fn unusable_stores_are_fatal_before_any_work() {
    let server = S3Server::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    fails_fast(&format!("s3://{BUCKET}/x"), &env_for(&format!("http://{closed}")), "does not answer");
    fails_fast("s3://no-such-bucket/x", &server.env(), "does not answer");
    let mut wrong = server.env();
    wrong[2].1 = "wrong-secret".into();
    fails_fast(&format!("s3://{BUCKET}/x"), &wrong, "does not answer");
    fails_fast("ftp://example.com/x", &[], "unsupported scheme \"ftp\"");
}
