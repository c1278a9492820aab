//! The real binary against a real S3-compatible server on 127.0.0.1,
//! configured through the standard AWS environment variables.

use crate::common::fixture;
use variegate_test_support::s3server;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use s3server::{BUCKET, Fault, FaultProxy, S3Server, env_for, http_get};
use serde_json::Value;

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

/// Waits until `proxy` has seen `count` PUTs it did not pass on.
fn wait_for_faults(proxy: &FaultProxy, count: usize) {
    let started = Instant::now();
    while proxy.injected.load(std::sync::atomic::Ordering::SeqCst) < count {
        assert!(started.elapsed() < Duration::from_secs(60), "the store was never reached");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `command` in `dir` against `proxy`, sends SIGTERM once the proxy
/// holds a PUT, and checks that it ends 143 within `--grace 3` and 2 s;
/// returns its stderr.
fn sigterm_once_the_store_hangs(mut command: Command, proxy: &FaultProxy, dir: &Path) -> String {
    let mut child = command
        .envs(env_for(&proxy.endpoint))
        .current_dir(dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_faults(proxy, 1);
    // SAFETY: kill(2) on our own child's pid; it has not been waited for, so the pid is still its.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let signalled = Instant::now();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(took < Duration::from_secs(5), "{took:?}: {stderr}");
    stderr
}

/// A run against a store that stops answering, SIGTERM, `--grace 3`: ends
/// 143 within the grace and 2 s (not the store's 120 s deadline), the
/// record saved locally and its last line saying where. `hang_from` is the
/// first PUT that hangs: 7 is the manifest's, after every variation.
fn sigterm_with_a_hung_store(hang_from: usize) -> (String, Value) {
    let server = S3Server::start();
    let policy = Arc::new(move |n| if n < hang_from { Fault::Pass } else { Fault::Hang });
    let proxy = FaultProxy::start(&server.endpoint, policy);
    let dir = tempfile::tempdir().unwrap();
    let out = format!("s3://{BUCKET}/hung");
    let args = ["run", &fixture("coffee.png"), "--palettes", &fixture("palettes.json"), "--out", &out];
    let mut command = Command::new(env!("CARGO_BIN_EXE_variegate"));
    command.args(args).args(["--grace", "3", "--spill-dir", "spill", "--report", "report.json"]);
    let stderr = sigterm_once_the_store_hangs(command, &proxy, dir.path());
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let folder = report["folder"].as_str().unwrap();
    let spilled = dir.path().join("spill").join(folder).join("manifest.json");
    let saved: Value = serde_json::from_slice(&std::fs::read(&spilled).unwrap()).unwrap();
    assert_eq!(saved, report, "the record was kept locally");
    assert!(stderr.contains("error: manifest not stored: "), "{stderr}");
    assert!(stderr.contains(&format!("saved to spill/{folder}/manifest.json")), "{stderr}");
    (stderr, report)
}

#[test]
fn after_sigterm_a_hung_manifest_put_gets_only_the_grace() {
    // Every variation stored; the manifest's put, started before the
    // signal, hangs: it used to hold the run for the whole deadline.
    let (_, report) = sigterm_with_a_hung_store(7);
    assert_eq!((report["stored"].as_u64(), report["status"].as_str()), (Some(7), Some("complete")));
}

#[test]
fn after_sigterm_hung_variation_puts_are_spilled_within_the_grace() {
    let (stderr, report) = sigterm_with_a_hung_store(2);
    assert_eq!(report["interrupted"], "SIGTERM");
    let variations = report["variations"].as_array().unwrap();
    let spilled: Vec<&Value> = variations.iter().filter(|v| v["status"] == "spilled").collect();
    assert!(!spilled.is_empty(), "puts under way were spilled: {report}");
    for variation in spilled {
        assert!(
            variation["error"].as_str().unwrap().contains("not stored within the 3 s grace after SIGTERM")
        );
        assert!(variation["spill_path"].as_str().unwrap().starts_with("spill/"));
    }
    let last = stderr.lines().last().unwrap();
    assert!(last.starts_with("interrupted by SIGTERM: 2 of 7 variations stored"), "{last}");
    assert!(
        last.ends_with(&format!(
            "record saved to spill/{}/manifest.json",
            report["folder"].as_str().unwrap()
        )),
        "{last}"
    );
}

#[test]
fn a_batch_after_sigterm_with_a_hung_store_ends_within_the_grace() {
    let server = S3Server::start();
    // The first image's puts go through; then the store hangs.
    let proxy =
        FaultProxy::start(&server.endpoint, Arc::new(|n| if n < 4 { Fault::Pass } else { Fault::Hang }));
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    for name in ["coffee.png", "rocket.jpg", "retina.jpg", "logo.png"] {
        std::fs::copy(fixture(name), images.join(name)).unwrap();
    }
    let out = format!("s3://{BUCKET}/batch");
    let mut command = Command::new(env!("CARGO_BIN_EXE_variegate"));
    command.args(["batch", "images", "--palettes", &fixture("palettes.json"), "--out", &out]);
    command.args(["--grace", "3", "--spill-dir", "spill", "--in-flight", "2"]);
    let stderr = sigterm_once_the_store_hangs(command, &proxy, dir.path());
    // The results copy could not be stored: it is kept locally, and says so.
    assert!(stderr.contains("error: results not stored: "), "{stderr}");
    let results = stderr.lines().find_map(|l| l.split_once("; they are in ")).unwrap().1;
    let lines = std::fs::read_to_string(dir.path().join(results)).unwrap();
    for line in lines.lines() {
        let result: Value = serde_json::from_str(line).unwrap();
        assert!(result["status"] != "stored" || result["manifest"].is_string(), "{result}");
    }
    assert!(stderr.lines().last().unwrap().starts_with("interrupted by SIGTERM: "), "{stderr}");
}

/// coffee.png run into `s3://BUCKET/PREFIX` with `extra` flags and a spill
/// folder, through a proxy that refuses every put whose path contains
/// `refused`: exit 3, all 7 variations stored, the run partial. Returns the
/// server, the working folder, the report and stderr.
fn run_with_puts_refused(
    refused: &'static str,
    prefix: &str,
    extra: &[&str],
) -> (S3Server, tempfile::TempDir, Value, String) {
    let server = S3Server::start();
    let policy =
        Arc::new(move |_, path: &str| if path.contains(refused) { Fault::Forbidden } else { Fault::Pass });
    let proxy = FaultProxy::start_by_path(&server.endpoint, policy);
    let dir = tempfile::tempdir().unwrap();
    let out = format!("s3://{BUCKET}/{prefix}");
    let args = ["run", &fixture("coffee.png"), "--palettes", &fixture("palettes.json"), "--out", &out];
    let mut command = Command::new(env!("CARGO_BIN_EXE_variegate"));
    command.args(args).args(extra).args(["--spill-dir", "spill", "--json"]);
    let output = command.envs(env_for(&proxy.endpoint)).current_dir(dir.path()).output().unwrap();
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["stored"].as_u64(), report["status"].as_str()), (Some(7), Some("partial")));
    (server, dir, report, stderr)
}

#[test]
fn a_refused_thumbnail_is_spilled_beside_its_stored_variation() {
    let (server, dir, report, stderr) = run_with_puts_refused("/thumbs/", "small", &["--thumbnail", "64"]);
    for variation in report["variations"].as_array().unwrap() {
        assert_eq!(variation["status"], "stored");
        assert!(variation["thumbnail"].is_null());
        assert!(variation["thumbnail_error"].as_str().unwrap().contains("thumbs/"), "{variation}");
        let path = dir.path().join(variation["thumbnail_spill_path"].as_str().unwrap());
        assert!(image::load_from_memory(&std::fs::read(&path).unwrap()).is_ok(), "{}", path.display());
        let key = variation["key"].as_str().unwrap();
        assert!(server.root.path().join(BUCKET).join("small").join(key).is_file(), "{key} is stored");
    }
    assert_eq!(stderr.matches("error: thumbnail of variation ").count(), 7, "{stderr}");
    assert!(stderr.contains("error: 7 thumbnails not stored"), "{stderr}");
}

/// One size the store refuses is spilled and recorded in its entry; the
/// variation's other sizes are stored, the srcset names only those, and the
/// run is partial.
#[test]
fn a_refused_size_is_spilled_beside_the_stored_ones() {
    let (_server, dir, report, stderr) = run_with_puts_refused("-480.", "sized", &["--sizes", "480,960"]);
    for variation in report["variations"].as_array().unwrap() {
        let (small, full) = (&variation["sizes"][0], &variation["sizes"][1]);
        assert!(small["error"].as_str().unwrap().contains("-480.png"), "{variation}");
        let spilled = dir.path().join(small["spill_path"].as_str().unwrap());
        assert_eq!(image::open(&spilled).unwrap().width(), 480);
        assert!(full["error"].is_null() && full["url"].is_string(), "{variation}");
        let srcset = variation["srcset"].as_str().unwrap();
        assert!(srcset.ends_with("-600.png 600w") && !srcset.contains("480"), "{srcset}");
    }
    assert!(stderr.contains("error: 7 sizes not stored"), "{stderr}");
}

/// A gallery of a run in a bucket links each stored size by its presigned
/// link: each one fetches its file.
#[test]
fn a_gallery_of_a_bucket_links_presigned_files() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let out = format!("s3://{BUCKET}/web");
    let args = ["run", &fixture("coffee.png"), "--palettes", &fixture("palettes.json"), "--out", &out];
    let extra = ["--format", "webp", "--sizes", "300,600", "--gallery", "page.html", "--json"];
    let output = variegate(&[&args[..], &extra].concat(), &server.env(), dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let page = std::fs::read_to_string(dir.path().join("page.html")).unwrap();
    let mut fetched = 0;
    for variation in report["variations"].as_array().unwrap() {
        for size in variation["sizes"].as_array().unwrap() {
            let url = size["url"].as_str().unwrap();
            assert!(page.contains(&format!("{} {}w", url.replace('&', "&amp;"), size["width"])), "{url}");
            let (status, _, body) = http_get(url);
            assert_eq!((status, body.len() as u64), (200, size["bytes"].as_u64().unwrap()));
            fetched += 1;
        }
    }
    assert_eq!(fetched, 14);
}

/// Store settings from the environment that would go into a header or a URL
/// unfit (a secret read from a file keeps its newline; an endpoint without
/// a scheme, with a space, half an IPv6 address): refused in one line naming
/// the variable, exit 1, never a panic.
#[test]
fn store_settings_unfit_for_a_header_or_url_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (variable, value, said) in [
        ("AWS_REGION", "us-east-1\n", "has a line break in it (read from a file?): U+000A"),
        ("AWS_ENDPOINT_URL", "127.0.0.1:9000", "\"127.0.0.1:9000\" is not a URL"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000 ", "is not a URL: it has a space"),
        ("AWS_ENDPOINT_URL", "http://[::1", "is not a URL: invalid IPv6 address"),
        ("AWS_ENDPOINT_URL", "http://exa mple.com", "is not a URL: it has a space"),
        ("AWS_ENDPOINT_URL", "ftp://host", "is not an http:// or https:// URL with a host"),
        ("AWS_ACCESS_KEY_ID", "AK IA", "has a space in it"),
        ("AWS_SESSION_TOKEN", "ab\u{1}c", "has a control character in it: U+0001"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_variegate"))
            .args(["run", &fixture("coffee.png"), "--palette", "#112233,#445566", "--out", "s3://b/x"])
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "y")
            .env(variable, value)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{variable}={value:?}: {stderr}");
        let line = format!("error: store \"s3://b/x\": environment variable {variable} ");
        assert!(stderr.starts_with(&line) && stderr.contains(said), "{variable}={value:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
