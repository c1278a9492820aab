//! Runs the Python package's own tests (`tests/test_*.py`) on the package as
//! users install it: a virtual environment of its own in
//! `target/python-venv`, the test tools pinned in `tests/requirements.txt`,
//! then `pip install ./crates/python` (maturin, the workspace's `wheel-test`
//! profile: the test profile without its debug assertions), then
//! pytest. The tests compare bytes with the `variegate` binary that
//! `cargo test --workspace` builds beside this test.
//!
//! Without `python3` the test is skipped, unless VARIEGATE_REQUIRE_PYTHON is
//! set (CI sets it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// `target/debug` (or whichever profile folder this test was built into).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/").to_path_buf()
}

fn run(what: &str, command: &mut Command) {
    let status = command.status().unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(status.success(), "{what} failed ({status})");
}

/// The newest modification time of any file under `dir`.
fn newest(dir: &Path) -> SystemTime {
    std::fs::read_dir(dir)
        .expect("source folder")
        .filter_map(Result::ok)
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                newest(&path)
            } else {
                entry.metadata().and_then(|m| m.modified()).expect("mtime")
            }
        })
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

#[test]
fn python_package() {
    let root = workspace();
    let python = match Command::new("python3").arg("--version").output() {
        Ok(output) if output.status.success() => "python3",
        _ if std::env::var_os("VARIEGATE_REQUIRE_PYTHON").is_some() => {
            panic!("python3 is needed (VARIEGATE_REQUIRE_PYTHON is set)")
        }
        _ => {
            eprintln!("skipped: no python3");
            return;
        }
    };

    // The bytes are compared with this build's command line, which must
    // therefore be as new as the engine's sources.
    let cli = profile_dir().join(format!("variegate{}", std::env::consts::EXE_SUFFIX));
    let sources = ["crates/core/src", "crates/store/src", "crates/batch/src", "crates/cli/src"]
        .map(|dir| newest(&root.join(dir)));
    let built = std::fs::metadata(&cli).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
    assert!(
        sources.iter().all(|&source| source <= built),
        "{} is missing or older than the sources: run `cargo test --workspace`, which builds it",
        cli.display()
    );

    let target = profile_dir().parent().expect("target folder").to_path_buf();
    let venv = target.join("python-venv");
    let bin = venv.join("bin");
    if !bin.join("python").exists() {
        run("creating the virtual environment", Command::new(python).args(["-m", "venv"]).arg(&venv));
    }
    let path = std::env::join_paths(
        std::iter::once(bin.clone())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let in_venv = |program: &str| {
        let mut command = Command::new(bin.join(program));
        command.current_dir(&root).env("PATH", &path).env("PYTHONDONTWRITEBYTECODE", "1");
        // What cargo set for this test would mislead the cargo that maturin
        // runs (the package, the manifest); its own settings stay.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let keep = [
                "CARGO_HOME",
                "CARGO_TARGET_DIR",
                "CARGO_TERM_COLOR",
                "CARGO_INCREMENTAL",
                "CARGO_BUILD_JOBS",
            ];
            if name.starts_with("CARGO_") && !keep.contains(&name.as_ref()) {
                command.env_remove(name.as_ref());
            }
        }
        command
    };
    let pip = |what: &str, args: &[&str]| {
        // The wheel in the workspace's `wheel-test` profile (see Cargo.toml).
        let mut pip = in_venv("python");
        pip.env("MATURIN_PEP517_ARGS", "--profile wheel-test");
        run(what, pip.args(["-m", "pip", "--disable-pip-version-check", "-q"]).args(args));
    };
    pip("installing the test tools", &["install", "-r", "crates/python/tests/requirements.txt"]);
    pip(
        "building and installing the package",
        &["install", "--no-build-isolation", "--no-deps", "--force-reinstall", "./crates/python"],
    );
    run(
        "pytest",
        in_venv("python")
            .args(["-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "crates/python/tests"])
            .env("VARIEGATE_CLI", &cli),
    );
}
