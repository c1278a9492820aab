//! The default memory budget follows the process's own cgroup: the real
//! binary in a nested group under a limited one, as Slurm's `--mem`,
//! systemd slices and nested containers place a task. Needs root and a
//! writable cgroup hierarchy; skipped (saying so) where there is none.

use crate::common::fixture;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A group made under `parent` for one test, with a memory limit written
/// to `limit_file`, and an unlimited group inside it; both removed at the end.
struct LimitedGroup {
    outer: PathBuf,
    inner: PathBuf,
}

impl LimitedGroup {
    fn make(parent: &Path, limit_file: &str, limit: u64) -> Option<LimitedGroup> {
        let outer = parent.join(format!("variegate-test-{}", std::process::id()));
        std::fs::create_dir(&outer).ok()?;
        let group = LimitedGroup { inner: outer.join("inner"), outer };
        std::fs::write(group.outer.join(limit_file), limit.to_string()).ok()?;
        std::fs::create_dir(&group.inner).ok()?;
        Some(group)
    }

    /// Runs `variegate ARGS` inside the inner group: exit code and stderr.
    fn run(&self, args: &[&str], dir: &Path) -> (Option<i32>, String) {
        let procs = self.inner.join("cgroup.procs");
        let output = Command::new("sh")
            .args(["-c", "echo $$ 2>/dev/null > \"$PROCS\" || exit 99; exec \"$BIN\" \"$@\"", "sh"])
            .args(args)
            .env("PROCS", &procs)
            .env("BIN", env!("CARGO_BIN_EXE_variegate"))
            .current_dir(dir)
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

impl Drop for LimitedGroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.inner);
        let _ = std::fs::remove_dir(&self.outer);
    }
}

/// This process's group in the hierarchy whose `/proc/self/cgroup` line
/// matches `controllers`, under `mount`, if that directory exists.
fn own_group(mount: &str, controllers: impl Fn(&str) -> bool) -> Option<PathBuf> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let group = cgroups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, names, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers(names).then(|| path.trim_start_matches('/').to_string())
    })?;
    let dir = Path::new(mount).join(group);
    dir.is_dir().then_some(dir)
}

fn refused_within_the_groups_budget(group: Option<LimitedGroup>, version: &str) {
    let Some(group) = group else {
        eprintln!("skipped: no writable cgroup {version} memory hierarchy here");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let args = ["run", &fixture("retina.jpg"), "--palettes", &fixture("palettes.json"), "--threads", "8"];
    let (code, stderr) = group.run(&args, dir.path());
    if code == Some(99) {
        eprintln!("skipped: cannot move a process into a cgroup {version} group here");
        return;
    }
    // Half the outer group's 120 MiB: refused in one line, not OOM-killed.
    assert_eq!(code, Some(1), "{version}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.trim_end().ends_with("over the memory budget of 60 MiB (raise it with --max-memory)"),
        "{stderr}"
    );
    assert!(!dir.path().join("variations").exists());
}

#[test]
fn the_default_budget_is_half_the_limit_of_a_nested_v1_group() {
    let parent = own_group("/sys/fs/cgroup/memory", |names| names.split(',').any(|c| c == "memory"));
    let group = parent.and_then(|parent| LimitedGroup::make(&parent, "memory.limit_in_bytes", 120 << 20));
    refused_within_the_groups_budget(group, "v1");
}

#[test]
fn the_default_budget_is_half_the_limit_of_a_nested_v2_group() {
    // A unified hierarchy with the memory controller (pure v2, or hybrid
    // where v1 does not hold memory).
    let mount = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"].into_iter().find(|mount| {
        std::fs::read_to_string(Path::new(mount).join("cgroup.controllers"))
            .is_ok_and(|controllers| controllers.split_whitespace().any(|c| c == "memory"))
    });
    let parent = mount.and_then(|mount| own_group(mount, str::is_empty));
    let group = parent.and_then(|parent| {
        let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+memory");
        let group = LimitedGroup::make(&parent, "memory.max", 120 << 20)?;
        std::fs::write(group.outer.join("cgroup.subtree_control"), "+memory").ok()?;
        Some(group)
    });
    refused_within_the_groups_budget(group, "v2");
}
