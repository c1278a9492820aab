//! The memory budget on the real binary: a run within it, fewer variations
//! at once, or a refusal in one line before any pixel memory, with peak
//! memory measured by the kernel.

// A binary of its own, so that the process spawning the runs it measures
// is small: a child's `ru_maxrss` (wait4) counts the pages of the process
// that spawned it, whose memory Linux carries across a vfork'd exec, and
// the other tests' process holds photos and frames of its own.
#[path = "it/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use variegate_test_support::jobs::files;

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
    // 8 threads would make all 7 palettes at once; 150 MiB holds one or two.
    let (code, log, peak) = run(job("budget", "150M"));
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("of 7 variations at a time, to stay within the memory budget of 150 MiB"), "{log}");
    assert!(peak <= 150 << 20, "peak {} MiB over the budget", peak >> 20);
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
    let (code, log, _) = run(job("refused-later", "120M"));
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

/// Runs `variegate run IMAGE --palette ... EXTRA` in `dir`, measured, and
/// asserts it was refused in one line within 5 s at a peak under 150 MB
/// (`wait4`'s, which also counts this test process's pages that the
/// child carried until its exec, so it is an upper bound). Returns the line.
fn refused_quickly(image: &str, extra: &[&str], dir: &Path) -> String {
    let started = std::time::Instant::now();
    let args = [&["run", image, "--palette", "#112233,#445566", "--out", "out"][..], extra].concat();
    let (code, log, peak) = variegate_measured(&args, dir);
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{image}: {log}");
    assert_eq!(log.lines().count(), 1, "{image}: one line: {log}");
    assert!(took < std::time::Duration::from_secs(5), "{image}: {took:?}");
    assert!(peak < 150_000_000, "{image}: peak {} MB", peak / 1_000_000);
    assert!(!dir.join("out").exists(), "{image}: nothing stored");
    log.trim_end().to_string()
}

/// The budget bounds what is read: a huge file is refused from its first
/// bytes or its size, a stream (a device of the test's own, a FIFO) no
/// further than the budget; and a batch's other images are made.
#[test]
fn reads_are_bounded_before_they_happen() {
    let dir = tempfile::tempdir().unwrap();
    let gib = 1 << 30;
    // 1 GiB of zeros, sparse: not an image, said from its first bytes.
    let zeros = dir.path().join("big.png");
    std::fs::File::create(&zeros).unwrap().set_len(gib).unwrap();
    let line = refused_quickly("big.png", &["--max-memory", "100M"], dir.path());
    assert_eq!(line, "error: big.png: not a PNG, JPEG or WebP image");
    // A real PNG with a 1 GiB tail: refused from its size, by the budget
    // or, without one, by the most bytes an image of --max-pixels can be.
    let tailed = dir.path().join("tailed.png");
    std::fs::write(&tailed, std::fs::read(fixture("coffee.png")).unwrap()).unwrap();
    std::fs::OpenOptions::new().write(true).open(&tailed).unwrap().set_len(gib).unwrap();
    let line = refused_quickly("tailed.png", &["--max-memory", "100M"], dir.path());
    assert_eq!(
        line,
        "error: tailed.png: file of 1.0 GiB, over the memory budget of 100 MiB (raise it with --max-memory)"
    );
    let line = refused_quickly("tailed.png", &["--max-pixels", "1000000"], dir.path());
    assert_eq!(line, "error: tailed.png: file of 1.0 GiB, larger than any image of at most 1.0 megapixels");

    // /dev/zero's twin, a device node of the test's own (root only).
    let device = dir.path().join("zero");
    let made = std::process::Command::new("mknod").arg(&device).args(["c", "1", "5"]).status();
    if made.is_ok_and(|status| status.success()) {
        let line = refused_quickly("zero", &["--max-memory", "100M"], dir.path());
        assert_eq!(line, "error: zero: not a PNG, JPEG or WebP image");
    } else {
        eprintln!("skipped: mknod is not allowed here");
    }
    // A FIFO fed a PNG's header and then zeros without end: read up to the
    // budget and no further.
    let fifo = dir.path().join("stream.png");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path of our own.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        let _ = pipe.write_all(&std::fs::read(fixture("coffee.png")).unwrap());
        let zeros = vec![0u8; 1 << 20];
        // Until the reader has had enough and closes its end (EPIPE).
        while pipe.write_all(&zeros).is_ok() {}
    });
    let line = refused_quickly("stream.png", &["--max-memory", "100M"], dir.path());
    assert_eq!(
        line,
        "error: stream.png: a stream of more than 100 MiB, over the memory budget of 100 MiB \
         (raise it with --max-memory)"
    );
    feeder.join().unwrap();

    // A batch folder holding such a file: that image refused in its line,
    // the other made, the peak still bounded.
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    std::fs::rename(&tailed, folder.join("tailed.png")).unwrap();
    std::fs::copy(fixture("coffee.png"), folder.join("coffee.png")).unwrap();
    let args = ["batch", "folder", "--palette", "#112233,#445566", "--out", "out", "--max-memory", "300M"];
    let (code, log, peak) = variegate_measured(&args, dir.path());
    assert_eq!(code, Some(3), "{log}");
    assert!(log.contains("2 images: 1 stored, 0 skipped, 0 partial, 1 failed"), "{log}");
    // Too large for its share (a third, for 3 in flight), and for the whole budget too.
    assert!(log.contains("tailed.png: failed: file of 1.0 GiB, over the memory budget of 300 MiB"), "{log}");
    assert!(peak < 150_000_000, "peak {} MB", peak / 1_000_000);
}
