//! What the binary's test files share: fixtures, running the real
//! `variegate`, and the 2048x2048 frame with 63 palettes made once.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_variegate");

pub fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name).to_str().unwrap().to_string()
}

pub fn variegate(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN).args(args).current_dir(dir).output().unwrap()
}

/// `variegate run PHOTO --palettes palettes.json EXTRA...` in `dir`, on a
/// bundled photo with the bundled palettes.
pub fn run_photo(photo: &str, extra: &[&str], dir: &Path) -> Output {
    let (photo, palettes) = (fixture(photo), fixture("palettes.json"));
    let args = [&["run", &photo, "--palettes", &palettes][..], extra].concat();
    variegate(&args, dir)
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Shared inputs, made once: the 2048x2048 frame the original service
/// worked on (retina.jpg upscaled), and 63 palettes (the bundled seven,
/// nine times over, renamed).
pub struct Inputs {
    _dir: tempfile::TempDir,
    pub frame: String,
    pub palettes63: String,
}

pub fn inputs() -> &'static Inputs {
    static INPUTS: OnceLock<Inputs> = OnceLock::new();
    INPUTS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let photo = image::open(fixture("retina.jpg")).unwrap().to_rgb8();
        let frame = image::imageops::resize(&photo, 2048, 2048, image::imageops::FilterType::Triangle);
        let frame_path = dir.path().join("frame-2048.png");
        frame.save(&frame_path).unwrap();
        let seven: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(fixture("palettes.json")).unwrap()).unwrap();
        let many: Vec<Value> = (0..9)
            .flat_map(|round| {
                seven.iter().map(move |p| {
                    let mut p = p.clone();
                    p["name"] = format!("{} {round}", p["name"].as_str().unwrap()).into();
                    p
                })
            })
            .collect();
        let palettes_path = dir.path().join("palettes-63.json");
        std::fs::write(&palettes_path, serde_json::to_vec(&many).unwrap()).unwrap();
        Inputs {
            frame: frame_path.to_str().unwrap().into(),
            palettes63: palettes_path.to_str().unwrap().into(),
            _dir: dir,
        }
    })
}

/// Runs the binary with `args` in `dir`: its exit code, stderr and peak
/// resident memory in bytes, the process's own `VmHWM` read until it exits
/// (its `ru_maxrss` would count this test process's pages, which a spawned
/// child carries until its exec).
pub fn peak_of(args: &[&str], dir: &Path) -> (Option<i32>, String, u64) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut { stderr }, &mut text).unwrap();
        text
    });
    let mut peak = 0;
    let code = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit.code();
        }
        let kib = std::fs::read_to_string(&status).ok().and_then(|text| {
            let line = text.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
            line.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        });
        peak = peak.max(kib.unwrap_or(0) * 1024);
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    (code, reader.join().unwrap(), peak)
}
