//! A run as a unit of work, on the real binary: keys named by the recipe,
//! a true record and a clean store however the process ends (signals,
//! closed or full output streams, a full disk), destinations checked before
//! any work, and exit codes that say what happened; and what a run of
//! many palettes costs in memory against one of few.
//!
//! Read-only folders and a full disk are made with a private mount
//! namespace (`unshare -m` and a tmpfs), which needs root; where that is not
//! possible those cases say so and are skipped.

use crate::common;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{BIN, fixture, inputs, stderr, variegate};

/// Every file below `dir`, relative to it, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Files no exit may leave behind: staging folders and files, partial files.
fn stray(dir: &Path) -> Vec<String> {
    snapshot(dir)
        .into_keys()
        .filter(|name| name.contains(".variegate-staging") || name.contains("partial") || name.contains('#'))
        .collect()
}

fn manifest_of(report: &Value, out: &Path) -> Value {
    let path = out.join(report["folder"].as_str().unwrap()).join("manifest.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn keys(report: &Value) -> Vec<String> {
    report["variations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["key"].as_str().map(String::from))
        .collect()
}

#[test]
fn recipes_never_share_keys_and_the_same_recipe_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let run = |extra: &[&str]| -> Value {
        let (coffee, palettes) = (fixture("coffee.png"), fixture("palettes.json"));
        let mut args = vec!["run", &coffee, "--out", "o", "--json", "-q"];
        if !extra.contains(&"--palette") {
            args.extend(["--palettes", &palettes]);
        }
        args.extend(extra);
        let output = variegate(&args, dir.path());
        assert_eq!(output.status.code(), Some(0), "{extra:?}: {}", stderr(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let first = run(&[]);
    let mut seen: Vec<String> = keys(&first);
    let mut before = snapshot(&out);
    for recipe in [
        &["--max-side", "64"][..],
        &["--look", "remap"],
        &["--look", "remap", "--dither"],
        &["--look", "gradient"],
        &["--seed", "7"],
        &["--analysis-size", "64"],
        &["--lightness", "0.5"],
        &["--format", "jpeg"],
        &["--format", "jpeg", "--quality", "80"],
        &["--format", "webp"],
        &["--thumbnail", "32"],
        &["--palette", "#2B1B3D,#6B2D5C,#F0544F,#FF9F6B,#FDE8C9"],
        &["--palette", "#2B1B3D,#6B2D5C,#F0544F,#FF9F6B,#FDE8CA"],
    ] {
        let report = run(recipe);
        let new = keys(&report);
        assert!(new.iter().all(|k| !seen.contains(k)), "{recipe:?} reused a key: {new:?}");
        let after = snapshot(&out);
        for (name, bytes) in &before {
            assert!(after.get(name) == Some(bytes), "{recipe:?} changed {name}");
        }
        // Each recipe's manifest is its own, beside its files, and says what it was.
        let manifest = manifest_of(&report, &out);
        assert_eq!(manifest, report);
        assert!(report["recipe"]["output_version"].as_u64().is_some());
        seen.extend(new);
        before = after;
    }
    // The first recipe again: the same keys, the same bytes, nothing new.
    let again = run(&[]);
    assert_eq!(keys(&again), keys(&first));
    let after = snapshot(&out);
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "no new file");
    for key in keys(&first) {
        assert_eq!(after[&key], before[&key], "{key}: the same bytes");
    }
    assert_eq!(manifest_of(&first, &out)["recipe"], first["recipe"]);
}

/// Starts a run of 63 palettes on the 2048x2048 frame, stderr piped.
fn start_big_run(dir: &Path, extra: &[&str]) -> Child {
    let inputs = inputs();
    let mut args =
        vec!["run", &inputs.frame, "--palettes", &inputs.palettes63, "--out", "out", "--spill-dir", "spill"];
    args.extend(extra);
    Command::new(BIN)
        .args(&args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads stderr lines until `stored` variations are stored.
fn wait_until_stored(lines: &mut impl Iterator<Item = std::io::Result<String>>, stored: usize) {
    let mut count = 0;
    for line in lines.by_ref() {
        count += usize::from(line.unwrap().starts_with("stored "));
        if count == stored {
            return;
        }
    }
    panic!("the run ended before {stored} variations were stored");
}

fn kill(signal: &str, child: &Child) {
    let number = if signal == "INT" { libc::SIGINT } else { libc::SIGTERM };
    // SAFETY: kill(2) on our own child's pid; it has not been waited for, so the pid is still its.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, number) };
    assert_eq!(sent, 0, "kill -{signal}");
}

fn interrupted_run_leaves_a_true_record(signal: &str, code: i32) {
    let name = format!("SIG{signal}");
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_big_run(dir.path(), &["--report", "report.json"]);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    wait_until_stored(&mut lines, 5);
    kill(signal, &child);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(code), "{rest:?}");

    let last = rest.last().unwrap();
    assert!(last.starts_with(&format!("interrupted by {name}: ")), "{last}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let out = dir.path().join("out");
    assert_eq!(manifest_of(&report, &out), report, "the stored manifest is the report");
    let variations = report["variations"].as_array().unwrap();
    assert_eq!(variations.len(), 63, "every palette accounted for");
    let count = |status: &str| variations.iter().filter(|v| v["status"] == status).count();
    let (stored, cancelled) = (count("stored"), count("cancelled"));
    assert_eq!(stored + cancelled, 63, "{report}");
    assert!(stored >= 5 && cancelled >= 1, "{stored} stored, {cancelled} cancelled");
    assert_eq!(
        (report["status"].as_str(), report["interrupted"].as_str()),
        (Some("interrupted"), Some(name.as_str()))
    );
    assert!(last.contains(&format!("{stored} of 63 variations stored")), "{last}");
    // What is on disk is what the record says, and whole.
    let files = snapshot(&out);
    for variation in variations {
        let key = variation["key"].as_str().map(String::from);
        let on_disk = key.as_ref().and_then(|k| files.get(k));
        assert_eq!(on_disk.is_some(), variation["status"] == "stored", "{variation}");
        if let Some(bytes) = on_disk {
            assert_eq!(bytes.len() as u64, variation["bytes"].as_u64().unwrap());
        }
    }
    assert_eq!(files.len(), stored + 1, "the stored ones and the manifest: {:?}", files.keys());
    assert!(stray(dir.path()).is_empty(), "{:?}", stray(dir.path()));

    // Re-running the same job is the recovery: everything, nothing stray.
    let mut rerun = start_big_run(dir.path(), &["-q"]);
    let mut quiet = String::new();
    rerun.stderr.take().unwrap().read_to_string(&mut quiet).unwrap();
    assert_eq!(rerun.wait().unwrap().code(), Some(0), "{quiet}");
    let manifest = manifest_of(&report, &out);
    assert_eq!((manifest["stored"].as_u64(), manifest["status"].as_str()), (Some(63), Some("complete")));
    assert_eq!(snapshot(&out).len(), 64);
    assert!(stray(dir.path()).is_empty(), "{:?}", stray(dir.path()));
    assert!(!dir.path().join("spill").exists());
}

#[test]
fn sigint_mid_run_leaves_a_true_record_and_a_rerun_completes() {
    interrupted_run_leaves_a_true_record("INT", 130);
}

#[test]
fn sigterm_mid_run_leaves_a_true_record_and_a_rerun_completes() {
    interrupted_run_leaves_a_true_record("TERM", 143);
}

#[test]
fn a_second_signal_ends_at_once_and_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_big_run(dir.path(), &[]);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    wait_until_stored(&mut lines, 3);
    kill("INT", &child);
    kill("INT", &child);
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(started.elapsed() < Duration::from_secs(2), "ended at once: {:?}", started.elapsed());
    assert!(stray(dir.path()).is_empty(), "{:?}", stray(dir.path()));
    // Whatever is there is whole.
    for (name, bytes) in snapshot(&dir.path().join("out")) {
        if name.ends_with(".png") {
            assert!(image::load_from_memory(&bytes).is_ok(), "{name} is whole");
        }
    }
}

/// A run whose stdout and stderr are given; returns its exit code and the
/// stored manifest.
fn run_with_streams(stdout: Stdio, stderr: Stdio, extra: &[&str]) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs();
    let rocket = fixture("rocket.jpg");
    let mut args = vec!["run", &rocket, "--palettes", &inputs.palettes63, "--out", "out"];
    args.extend(extra);
    let status =
        Command::new(BIN).args(&args).current_dir(dir.path()).stdout(stdout).stderr(stderr).status().unwrap();
    let manifests: Vec<_> =
        snapshot(&dir.path().join("out")).into_iter().filter(|(k, _)| k.ends_with("manifest.json")).collect();
    assert_eq!(manifests.len(), 1, "one manifest");
    (status.code(), serde_json::from_slice(&manifests[0].1).unwrap())
}

#[test]
fn closed_or_full_output_streams_never_stop_the_work() {
    let inputs = inputs();
    // stderr closed after its first line.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "run",
            &fixture("rocket.jpg"),
            "--palettes",
            &inputs.palettes63,
            "--out",
            "out",
            "--report",
            "r.json",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut first).unwrap();
    // The reader is dropped here: the pipe is closed.
    assert!(first.starts_with("stored "), "{first}");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "no panic (101), everything stored");
    let report: Value = serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(report["stored"], 63);
    assert_eq!(manifest_of(&report, &dir.path().join("out")), report);

    // stdout closed after 10 bytes of the JSON report.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["run", &fixture("rocket.jpg"), "--palettes", &inputs.palettes63, "--out", "out", "--json"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ten = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut ten).unwrap();
    assert_eq!(&ten[..2], b"{\n");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"));
    assert_eq!(snapshot(&dir.path().join("out")).len(), 64);

    // stdout closed before anything is written; stderr a full device.
    let (code, manifest) = run_with_streams(Stdio::piped(), Stdio::null(), &["--json"]);
    assert_eq!((code, manifest["stored"].as_u64()), (Some(0), Some(63)));
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let (code, manifest) = run_with_streams(Stdio::null(), Stdio::from(full), &[]);
    assert_eq!((code, manifest["stored"].as_u64()), (Some(0), Some(63)), "stderr on /dev/full (ENOSPC)");
}

/// Whether this machine lets us make private mounts (root, unshare).
fn can_mount() -> bool {
    static CAN: OnceLock<bool> = OnceLock::new();
    *CAN.get_or_init(|| {
        let ok = Command::new("unshare")
            .args(["-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: private mounts (unshare -m, mount -t tmpfs) are not allowed here");
        }
        ok
    })
}

/// Runs `script` in a private mount namespace, in `dir`; `$BIN` is the binary.
fn in_namespace(dir: &Path, script: &str) -> Output {
    Command::new("unshare")
        .args(["-m", "sh", "-c", script])
        .env("BIN", BIN)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Exit 1 within a second with one line naming `path`, nothing computed,
/// nothing written or spilled.
fn refused_before_work(output: &Output, took: Duration, path: &str, dir: &Path) {
    let stderr = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(stderr.lines().filter(|l| !l.contains("DEBUG")).count(), 1, "one line: {stderr}");
    let line = stderr.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(line.contains(path) && line.contains("cannot write there"), "{line}");
    assert!(!stderr.contains("analysed") && !stderr.contains("decoded"), "nothing computed: {stderr}");
    assert!(!dir.join("spill").exists() && !dir.join("variations").exists(), "nothing written");
}

#[test]
fn destinations_are_checked_before_any_work() {
    let inputs = inputs();
    let base = ["run", &inputs.frame, "--palettes", &inputs.palettes63];
    let refused = |extra: &[&str], path: &str| {
        let spill: &[&str] = if extra.contains(&"--spill-dir") { &[] } else { &["--spill-dir", "spill"] };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a-file"), b"").unwrap();
        std::fs::create_dir(dir.path().join("a-folder")).unwrap();
        let started = Instant::now();
        let output = Command::new(BIN)
            .args(base.iter().chain(spill).chain(extra))
            .env("RUST_LOG", "variegate_core=debug")
            .current_dir(dir.path())
            .output()
            .unwrap();
        refused_before_work(&output, started.elapsed(), path, dir.path());
    };
    refused(&["--out", "a-file"], "a-file");
    refused(&["--out", "a-file/below"], "a-file/below");
    refused(&["--report", "missing/report.json"], "missing/report.json");
    refused(&["--report", "a-folder"], "a-folder");
    refused(&["--contact-sheet", "missing/sheet.png"], "missing/sheet.png");
    refused(&["--spill-dir", "a-file/spill"], "a-file/spill");

    if !can_mount() {
        return;
    }
    for (option, path) in [
        ("--out", "ro/out"),
        ("--spill-dir", "ro/spill"),
        ("--report", "ro/report.json"),
        ("--contact-sheet", "ro/sheet.png"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ro")).unwrap();
        let spill = if option == "--spill-dir" { "" } else { "--spill-dir spill" };
        let script = format!(
            "mount -t tmpfs -o ro tmpfs ro && exec \"$BIN\" run '{}' --palettes '{}' {spill} {option} {path}",
            inputs.frame, inputs.palettes63
        );
        let started = Instant::now();
        let output = in_namespace(dir.path(), &script);
        refused_before_work(&output, started.elapsed(), path, dir.path());
        assert!(stderr(&output).contains("Read-only file system"), "{}", stderr(&output));
    }
}

#[test]
fn a_full_disk_leaves_no_partial_file_and_says_nothing_was_kept() {
    if !can_mount() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("disk")).unwrap();
    // 64 KiB: room for the manifest, none for a single image.
    let script = format!(
        "mount -t tmpfs -o size=64k tmpfs disk && \"$BIN\" run '{}' --palettes '{}' --out disk/out --spill-dir disk/spill --json; \
         echo \"exit=$?\" >&2; find disk -type f >&2",
        fixture("coffee.png"),
        fixture("palettes.json")
    );
    let output = in_namespace(dir.path(), &script);
    let stderr = stderr(&output);
    assert!(stderr.contains("exit=1"), "nothing stored or spilled: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (report["stored"].as_u64(), report["spilled"].as_u64(), report["failed"].as_u64()),
        (Some(0), Some(0), Some(7))
    );
    let error = report["variations"][0]["error"].as_str().unwrap();
    assert!(error.contains("No space left on device") && error.contains("could not save it to"), "{error}");
    let files: Vec<&str> = stderr.lines().filter(|l| l.starts_with("disk/")).collect();
    assert_eq!(files.len(), 1, "only the manifest: {files:?}");
    assert!(files[0].ends_with("/manifest.json"), "{files:?}");
}

#[test]
fn exit_codes_say_what_was_kept() {
    let dir = tempfile::tempdir().unwrap();
    // Palettes that cannot work: fatal before any work, nothing written.
    std::fs::write(
        dir.path().join("empty.json"),
        r#"[{"name": "A", "colors": []}, {"name": "B", "colors": []}]"#,
    )
    .unwrap();
    let output =
        variegate(&["run", &fixture("coffee.png"), "--palettes", "empty.json", "--json"], dir.path());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stderr(&output), "error: empty.json: palette 1 (\"A\"): no colours\n");
    assert!(output.stdout.is_empty() && !dir.path().join("variations").exists());

    // Every value out of its range is a usage error.
    for bad in [
        &["--max-side", "0"][..],
        &["--thumbnail", "0"],
        &["--blend", "2"],
        &["--blend", "-0.5"],
        &["--lightness", "nan"],
        &["--saturation", "-1"],
        &["--max-k", "0"],
        &["--max-k", "256"],
        &["--analysis-size", "0"],
        &["--look", "gradient", "--analysis-size", "64"],
        &["--uploads", "0"],
        &["--threads", "0"],
        &["--quality", "0"],
        &["--max-pixels", "0"],
        &["--url-ttl", "0"],
        &["--deadline", "0"],
        &["--look", "remap", "--lightness", "0.5"],
        &["--look", "gradient", "--dither"],
        &["--lossless"],
        &["--format", "webp", "--speed", "3"],
        &["--format", "webp", "--lossless", "--quality", "80"],
        &["--format", "avif", "--speed", "11"],
        &["--format", "gif"],
    ] {
        let mut args = vec!["run", "x.png", "--palettes", "p.json"];
        args.extend(bad);
        let output = variegate(&args, dir.path());
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {}", stderr(&output));
        assert!(stderr(&output).starts_with("error: "), "{bad:?}: {}", stderr(&output));
    }
}

/// Makes a device node of the test's own (root only): `None` where not allowed.
fn device(path: &Path, major: &str, minor: &str) -> Option<()> {
    let made = Command::new("mknod").arg(path).args(["c", major, minor]).stderr(Stdio::null()).status();
    made.is_ok_and(|status| status.success()).then_some(()).or_else(|| {
        eprintln!("skipped: mknod is not allowed here");
        None
    })
}

/// A path given for output is written through, never replaced: a link's
/// target (the link kept), a FIFO's reader, the process's own stdout, a
/// device of the test's own; a write the device refuses (a full one) is a
/// lost record, exit 3.
#[test]
fn report_and_sheet_paths_are_written_through_never_replaced() {
    use std::os::unix::fs::{FileTypeExt, symlink};
    let dir = tempfile::tempdir().unwrap();
    let (coffee, palettes) = (fixture("coffee.png"), fixture("palettes.json"));
    let run = |extra: &[&str]| -> Output {
        let base = ["run", coffee.as_str(), "--palettes", palettes.as_str(), "--out", "out"];
        Command::new(BIN).args(base).args(extra).current_dir(dir.path()).output().unwrap()
    };
    let at = |name: &str| dir.path().join(name);
    let is_link = |name: &str| std::fs::symlink_metadata(at(name)).unwrap().file_type().is_symlink();

    // Links to files: the targets are written, the links stay links.
    std::fs::write(at("report-target.json"), "old").unwrap();
    symlink("report-target.json", at("report.json")).unwrap();
    symlink("sheet-target.png", at("sheet.png")).unwrap();
    std::fs::write(at("sheet-target.png"), "old").unwrap();
    let output = run(&["--report", "report.json", "--contact-sheet", "sheet.png"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(is_link("report.json") && is_link("sheet.png"));
    let report: Value = serde_json::from_slice(&std::fs::read(at("report-target.json")).unwrap()).unwrap();
    assert_eq!(report["stored"], 7);
    assert!(std::fs::read(at("sheet-target.png")).unwrap().starts_with(b"\x89PNG"));

    // A FIFO: its reader gets the report.
    let path = std::ffi::CString::new(at("fifo").to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path of our own.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let fifo = at("fifo");
    let reader = std::thread::spawn(move || std::fs::read(fifo).unwrap());
    let output = run(&["--report", "fifo"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let read: Value = serde_json::from_slice(&reader.join().unwrap()).unwrap();
    assert_eq!(read["stored"], 7);
    assert!(std::fs::metadata(at("fifo")).unwrap().file_type().is_fifo());

    // The process's own stdout, through a link of the test's own to it.
    symlink("/proc/self/fd/1", at("stdout")).unwrap();
    let output = run(&["--report", "stdout"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["stored"], 7);
    assert!(is_link("stdout"));

    // Devices of the test's own: /dev/null's twin takes the sheet; a full
    // one refuses the report, which is then a lost record (exit 3).
    if device(&at("null"), "1", "3").is_none() || device(&at("full"), "1", "7").is_none() {
        return;
    }
    let output = run(&["--contact-sheet", "null", "--report", "full"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("error: --report full: No space left on device"), "{}", stderr(&output));
    for name in ["null", "full"] {
        assert!(std::fs::metadata(at(name)).unwrap().file_type().is_char_device(), "{name} kept");
    }

    // An unprivileged user (setpriv) may not write a device of root's
    // (mode 0600): refused before any work, as any path that cannot be written.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(at("null"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN, "run", coffee.as_str()])
        .args(["--palettes", palettes.as_str(), "--out", "mine", "--spill-dir", "spill", "--report", "null"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "error: --report null: cannot write there: Permission denied (os error 13)\n"
    );
    assert!(!at("mine").exists(), "nothing stored");
}

/// A container whose working folder is read-only, with a writable `--out`
/// given as `../out`: the run needs no spill folder there (the default
/// falls back to the temporary folder) and `..` is the folder above.
#[test]
fn a_read_only_working_folder_and_an_out_above_it_work() {
    if !can_mount() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("work")).unwrap();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    let script = format!(
        "mount -t tmpfs -o ro tmpfs work && cd work && TMPDIR=../tmp exec \"$BIN\" run '{}' --palettes '{}' \
         --out ../out --json",
        fixture("coffee.png"),
        fixture("palettes.json")
    );
    let output = in_namespace(dir.path(), &script);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["stored"], 7);
    let out = std::fs::canonicalize(dir.path()).unwrap().join("out");
    assert_eq!(report["store"], format!("file://{}/", out.display()));
    assert!(out.join(report["folder"].as_str().unwrap()).join("manifest.json").is_file());
    // And `/abs/a/../b` names b, in batch as in run.
    std::fs::write(dir.path().join("list.txt"), fixture("coffee.png")).unwrap();
    let dotted = format!("{}/work/../out2", dir.path().display());
    let output = Command::new(BIN)
        .args(["batch", "list.txt", "--palettes", &fixture("palettes.json"), "--out", &dotted])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(dir.path().join("out2/_results").is_dir());
}

/// Sizes for a srcset cost no more memory than the one full-size file:
/// the lane's full-size frame is let go before the largest size is encoded.
#[test]
fn sizes_cost_what_the_full_size_file_does() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs();
    let measure = |extra: &[&str]| {
        let args = ["run", &inputs.frame, "--palettes", &fixture("palettes.json"), "--format", "webp"];
        let args = [&args[..], &["--threads", "2", "-q", "--out", "out"], extra].concat();
        let (code, log, peak) = common::peak_of(&args, dir.path());
        assert_eq!(code, Some(0), "{log}");
        peak
    };
    let full = measure(&[]);
    let sized = measure(&["--sizes", "480,960,1920"]);
    assert!(
        sized as f64 <= 1.1 * full as f64,
        "peaks: sizes {} MiB, full size {} MiB",
        sized >> 20,
        full >> 20
    );
}

/// Memory is bounded by threads, not by palettes: on the 2048x2048 frame,
/// 63 palettes peak within 1.2 times what 7 do, and their estimate is
/// within 1.3 times (finished files waiting for a local folder are few, and
/// freed frames and files go back to the system). Peaks are the child's own
/// (`VmHWM`), as the frame is made in this process.
#[test]
fn sixty_three_palettes_cost_what_seven_do() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs();
    let measure = |palettes: &str| {
        let args = ["run", &inputs.frame, "--palettes", palettes, "--threads", "2", "-q", "--out", "out"];
        let (code, log, peak) = common::peak_of(&args, dir.path());
        assert_eq!(code, Some(0), "{log}");
        // The run's own estimate, from a budget it does not fit (but the
        // least any run of the frame needs does).
        let args = ["run", &inputs.frame, "--palettes", palettes, "--threads", "2", "--max-memory", "150M"];
        let (code, log, _) = common::peak_of(&args, dir.path());
        assert_eq!(code, Some(1), "{log}");
        let about = log.split(" needs about ").nth(1).and_then(|t| t.split(' ').next());
        let estimate: u64 = about.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{log}"));
        (peak, estimate)
    };
    let (peak7, estimate7) = measure(&fixture("palettes.json"));
    let (peak63, estimate63) = measure(&inputs.palettes63);
    assert!(peak63 as f64 <= 1.2 * peak7 as f64, "peaks: 63 {} MiB, 7 {} MiB", peak63 >> 20, peak7 >> 20);
    assert!(estimate63 as f64 <= 1.3 * estimate7 as f64, "estimates: 63 {estimate63} MiB, 7 {estimate7} MiB");
}
