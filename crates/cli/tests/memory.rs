//! The memory budget on the real binary: a run within it, fewer variations
//! at once, or a refusal in one line before any pixel memory, with peak
//! memory measured by the kernel.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use variegate_test_support::jobs::files;

mod common;

use common::{BIN, fixture, stderr, variegate};

/// Runs the binary, stderr to a file, and returns its exit code, stderr and
/// peak resident memory in bytes, from the kernel's accounting of that one
/// process (`wait4`).
fn variegate_measured(args: &[&str], dir: &Path) -> (Option<i32>, String, u64) {
    let log = dir.join("stderr.log");
    // Reaped by wait4 below, which std's Child cannot report rusage for.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(BIN)
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
