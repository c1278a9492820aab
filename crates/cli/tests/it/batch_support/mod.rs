//! What the batch tests share: the binary, 24 small photos and their
//! list, a way to run `variegate batch`, the results and stored files it
//! leaves, and a one-node Slurm cluster.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_variegate");

pub use crate::common::fixture;

/// 24 distinct small photos (crops of the bundled ones, 128 px on the long
/// side, PNG and JPEG), in a folder made once, and a text list of them.
pub struct Photos {
    pub dir: tempfile::TempDir,
    pub names: Vec<String>,
}

pub fn photos() -> &'static Photos {
    static PHOTOS: OnceLock<Photos> = OnceLock::new();
    PHOTOS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let sources =
            ["coffee.png", "rocket.jpg", "retina.jpg", "logo.png"].map(|f| image::open(fixture(f)).unwrap());
        let mut names = Vec::new();
        for i in 0..24u32 {
            let source = &sources[i as usize % 4];
            let (w, h) = (source.width(), source.height());
            let crop =
                source.crop_imm(i * 7 % (w / 4), i * 5 % (h / 4), w * 3 / 4, h * 3 / 4).thumbnail(128, 128);
            let name = format!("photo-{i:02}.{}", if i % 3 == 0 { "jpg" } else { "png" });
            let path = dir.path().join(&name);
            match i % 3 {
                0 => crop.to_rgb8().save(&path).unwrap(),
                _ => crop.save(&path).unwrap(),
            }
            names.push(path.to_str().unwrap().to_string());
        }
        std::fs::write(dir.path().join("list.txt"), names.join("\n") + "\n").unwrap();
        Photos { dir, names }
    })
}

pub fn list() -> String {
    photos().dir.path().join("list.txt").to_str().unwrap().to_string()
}

pub fn batch(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Output {
    let palettes = fixture("palettes.json");
    let mut command = Command::new(BIN);
    command.arg("batch").args(args).args(["--palettes", &palettes]).current_dir(dir);
    for variable in ["SLURM_ARRAY_TASK_ID", "AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX"] {
        command.env_remove(variable);
    }
    command.envs(env.iter().copied()).output().unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every results line written under `out`.
pub fn results(out: &Path) -> Vec<Value> {
    let mut lines = Vec::new();
    for entry in walk(&out.join("_results")) {
        let text = std::fs::read_to_string(entry).unwrap();
        lines.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
    }
    lines
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Every stored file below `out` but results and markers, relative, with its bytes.
pub fn stored(out: &Path) -> BTreeMap<String, Vec<u8>> {
    walk(out)
        .into_iter()
        .map(|p| (p.strip_prefix(out).unwrap().to_str().unwrap().to_string(), p))
        .filter(|(name, _)| !name.starts_with("_results/") && !name.starts_with("_index/"))
        .map(|(name, path)| (name, std::fs::read(path).unwrap()))
        .collect()
}

/// Images of the results lines with a status.
pub fn images_with(lines: &[Value], status: &str) -> BTreeSet<String> {
    lines.iter().filter(|l| l["status"] == status).map(|l| l["image"].as_str().unwrap().to_string()).collect()
}

/// A one-node Slurm cluster started by `scripts/slurm-one-node` for one
/// test, stopped when it ends.
pub struct Slurm {
    pub dir: tempfile::TempDir,
    pub conf: String,
}

impl Slurm {
    pub fn start() -> Option<Slurm> {
        let dir = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm-one-node");
        let output = Command::new(&script).arg("start").arg(dir.path()).output().unwrap();
        if !output.status.success() {
            let why = format!("Slurm could not start here: {}", stderr(&output).trim());
            if std::env::var_os("VARIEGATE_REQUIRE_SLURM").is_some() {
                panic!("{why}");
            }
            eprintln!("skipped: {why}");
            return None;
        }
        let conf = dir.path().join("slurm.conf").to_str().unwrap().to_string();
        Some(Slurm { dir, conf })
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm-one-node");
        let _ = Command::new(script).arg("stop").arg(self.dir.path()).status();
    }
}

impl Slurm {
    /// Submits docs/deploy/job.sh (`variegate batch LIST --palettes P --out
    /// WORK/out --resume -q`, `--shard ID/SHARDS` where `shards` is given) as
    /// an array job of `array` (sbatch's syntax) and waits for it; returns
    /// whether sbatch succeeded and, in either case, the logs of `tasks`.
    pub fn run_array(&self, work: &Path, array: &str, tasks: &[u32], shards: Option<u32>) -> (bool, String) {
        let job = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy/job.sh");
        let out = format!("{}/out", work.display());
        let logs = format!("{}/task-%a.log", work.display());
        let output = Command::new("sbatch")
            .args([&format!("--array={array}"), "--wait", "--output", &logs, "--cpus-per-task=1"])
            .arg(&job)
            .args([list().as_str(), &fixture("palettes.json"), &out])
            .env("SLURM_CONF", &self.conf)
            .env("VARIEGATE", BIN)
            .env("SHARDS", shards.map(|n| n.to_string()).unwrap_or_default())
            .output()
            .unwrap();
        let logs: String = tasks
            .iter()
            .map(|i| std::fs::read_to_string(work.join(format!("task-{i}.log"))).unwrap_or_default())
            .collect();
        (output.status.success(), format!("sbatch: {}\n{logs}", stderr(&output)))
    }
}
