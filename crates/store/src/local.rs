//! Local files written whole or not at all, and never left half-written.
//!
//! A file is written under a staging folder private to this process,
//! `<root>/.variegate-staging/<pid>-<time>/`, then renamed into place. The
//! process holds a lock on a file in that folder for as long as it lives,
//! so a later run (or a concurrent one) tells a dead process's leftovers
//! (lock free) from a live one's (lock held) and removes only the former.
//! [`LocalDir::abandon_writes`] deletes every file being written, so that
//! those writes fail instead of landing, for a process that has run out of
//! time or is about to exit at once.

use std::collections::HashMap;
use std::fs::{self, File, TryLockError};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where every process stages its files, under the root.
pub(crate) const STAGING: &str = ".variegate-staging";
/// A staging folder without a lock file is being born, or its process died
/// while making it: only this old is it taken for a leftover.
const UNLOCKED_GRACE: Duration = Duration::from_secs(60);

/// A folder of the local file system that files are stored under.
#[derive(Debug)]
pub(crate) struct LocalDir {
    root: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// This process's staging folder, made on the first write.
    staging: Option<Staging>,
    /// Files being written, by write number.
    writing: HashMap<u64, PathBuf>,
    next: u64,
    /// No more writes: the process is about to exit.
    stopped: bool,
}

#[derive(Debug)]
struct Staging {
    path: PathBuf,
    /// Held (locked) for the life of the process, released by the OS on any exit.
    _lock: File,
}

impl LocalDir {
    /// Files under `root`; nothing is created until the first write.
    pub(crate) fn new(root: PathBuf) -> LocalDir {
        LocalDir { root, state: Mutex::default() }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The path of `key` (`a/b/c.png`) under the root.
    pub(crate) fn path_of(&self, key: &str) -> PathBuf {
        key.split('/').fold(self.root.clone(), |path, part| path.join(part))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements; a panic elsewhere
        // while it was held changes nothing here.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `bytes` to `key` under the root, replacing what is there (or,
    /// with `keep_existing`, leaving a file already there as it is): the
    /// file appears whole or not at all.
    pub(crate) fn write(&self, key: &str, bytes: &[u8], keep_existing: bool) -> io::Result<PathBuf> {
        let destination = self.path_of(key);
        let (number, staged) = self.begin()?;
        let written = (|| {
            let mut file = File::create_new(&staged)?;
            file.write_all(bytes)?;
            drop(file);
            if let Some(parent) = destination.parent() {
                fs::create_dir_all(parent)?;
            }
            self.finish(number, &staged, &destination, keep_existing)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&staged);
            self.state().writing.remove(&number);
        }
        written.map(|()| destination)
    }

    /// Registers a new staged file; makes the staging folder on first use.
    fn begin(&self) -> io::Result<(u64, PathBuf)> {
        let mut state = self.state();
        if state.stopped {
            return Err(io::Error::other("the process is exiting"));
        }
        if state.staging.is_none() {
            state.staging = Some(self.make_staging()?);
        }
        let number = state.next;
        state.next += 1;
        let staging = state.staging.as_ref().map(|s| s.path.clone()).unwrap_or_default();
        let staged = staging.join(format!("{number}.partial"));
        state.writing.insert(number, staged.clone());
        Ok((number, staged))
    }

    /// Puts a staged file in place, unless its write was abandoned: renamed
    /// over what is there, or, with `keep_existing`, linked only if nothing
    /// is (atomic create-if-absent). Under the lock, so that nothing lands
    /// after an abandon.
    fn finish(&self, number: u64, staged: &Path, destination: &Path, keep_existing: bool) -> io::Result<()> {
        let mut state = self.state();
        if state.writing.remove(&number).is_none() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "abandoned"));
        }
        if !keep_existing {
            return fs::rename(staged, destination);
        }
        let linked = match fs::hard_link(staged, destination) {
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            linked => linked,
        };
        fs::remove_file(staged)?;
        linked
    }

    /// Deletes every file being written; their writes fail. New writes may
    /// follow (a manifest).
    pub(crate) fn abandon_writes(&self) {
        let mut state = self.state();
        for (_, staged) in state.writing.drain() {
            let _ = fs::remove_file(staged);
        }
    }

    /// Removes the staging folder if no write is under way (it is made
    /// again by the next one), so that a finished job leaves nothing but
    /// its files.
    pub(crate) fn release(&self) {
        let mut state = self.state();
        if state.writing.is_empty()
            && let Some(staging) = state.staging.take()
        {
            remove_staging(&staging.path);
        }
    }

    /// For a process about to exit at once: abandons every write, refuses
    /// new ones, and removes the staging folder.
    pub(crate) fn stop(&self) {
        let mut state = self.state();
        state.stopped = true;
        for (_, staged) in state.writing.drain() {
            let _ = fs::remove_file(staged);
        }
        if let Some(staging) = state.staging.take() {
            remove_staging(&staging.path);
        }
    }

    fn make_staging(&self) -> io::Result<Staging> {
        let parent = self.root.join(STAGING);
        fs::create_dir_all(&self.root)?;
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let mut raced = None;
        for attempt in 0..100u32 {
            // Made again on every attempt: another process finishing removes
            // the shared folder when it leaves it empty, which may be just
            // after we made it and before ours is in it.
            match fs::create_dir(&parent) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error),
            }
            if attempt == 0 {
                remove_leftovers(&parent);
            }
            let path = parent.join(format!("{}-{stamp}-{attempt}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => {}
                // Taken, or the parent removed under us: the next attempt.
                Err(error)
                    if matches!(error.kind(), io::ErrorKind::AlreadyExists | io::ErrorKind::NotFound) =>
                {
                    raced = Some(error);
                    continue;
                }
                Err(error) => return Err(error),
            }
            // Locked under another name, then renamed: whoever sees `lock`
            // sees it locked.
            let lock = File::create_new(path.join("lock.new"))?;
            lock.lock()?;
            fs::rename(path.join("lock.new"), path.join("lock"))?;
            return Ok(Staging { path, _lock: lock });
        }
        let reason = raced.map(|error| error.to_string()).unwrap_or_default();
        Err(io::Error::other(format!("no staging folder could be made in {}: {reason}", parent.display())))
    }
}

impl Drop for LocalDir {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(staging) = state.staging.take() {
            remove_staging(&staging.path);
        }
    }
}

/// Removes a staging folder, and the folder of all staging folders if that
/// leaves it empty.
fn remove_staging(path: &Path) {
    let _ = fs::remove_dir_all(path);
    if let Some(parent) = path.parent() {
        // Fails, as it should, while another process stages there.
        let _ = fs::remove_dir(parent);
    }
}

/// Removes the staging folders of processes that no longer run.
fn remove_leftovers(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = match File::open(path.join("lock")) {
            Ok(lock) => match lock.try_lock() {
                Ok(()) => true,
                Err(TryLockError::WouldBlock) => false,
                Err(TryLockError::Error(_)) => false,
            },
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let modified = entry.metadata().and_then(|m| m.modified()).ok();
                modified.and_then(|m| m.elapsed().ok()).is_some_and(|age| age > UNLOCKED_GRACE)
            }
            Err(_) => false,
        };
        if stale {
            tracing::info!(path = %path.display(), "removing what an earlier run left half-written");
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// Whether files can be made in `dir`, tried by making (and removing) one.
/// With `create`, a missing `dir` passes if its nearest existing ancestor
/// is a folder that takes files (it will be made there on first write).
/// Nothing is left, and no folder is made: processes starting side by side
/// cannot trip over each other's probes.
pub(crate) fn probe(dir: &Path, create: bool) -> io::Result<()> {
    let existing = match dir.ancestors().find(|a| a.as_os_str().is_empty() || fs::symlink_metadata(a).is_ok())
    {
        Some(existing) if existing == dir || create => existing,
        _ => return Err(io::Error::new(io::ErrorKind::NotFound, "no such folder")),
    };
    let existing = if existing.as_os_str().is_empty() { Path::new(".") } else { existing };
    if !fs::metadata(existing)?.is_dir() {
        let what = if existing == dir {
            "not a folder".to_string()
        } else {
            format!("{} is not a folder", existing.display())
        };
        return Err(io::Error::new(io::ErrorKind::NotADirectory, what));
    }
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let probe = existing.join(format!(".variegate-probe-{}-{stamp}", std::process::id()));
    File::create_new(&probe)?;
    fs::remove_file(&probe)
}

/// `path` without `.`, `..` or repeated separators, taken lexically (a
/// `..` after a link is not resolved through it).
pub(crate) fn normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// `path` made absolute, its `..` taken as the file system does: the part
/// up to the last `..` that exists is resolved (links included), and the
/// rest, not there yet, lexically. A path without `..` is only made absolute.
/// object_store's folders take no `..`, and a user's `--out ../x` means the
/// folder beside this one.
pub(crate) fn resolve_dots(path: &Path) -> io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let components: Vec<Component> = absolute.components().collect();
    let Some(last) = components.iter().rposition(|c| *c == Component::ParentDir) else {
        return Ok(absolute);
    };
    let head: PathBuf = components[..=last].iter().collect();
    let rest: PathBuf = components[last + 1..].iter().collect();
    Ok(match fs::canonicalize(&head) {
        Ok(head) => normal(&head.join(rest)),
        Err(_) => normal(&absolute),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(files(&path));
            } else {
                found.push(path.strip_prefix(dir).unwrap_or(&path).display().to_string());
            }
        }
        found
    }

    #[test]
    fn writers_that_start_and_finish_side_by_side_never_fail() {
        // Two processes' stores on one folder (as two workers on one shard):
        // one finishing removes the shared staging parent while the other is
        // making its staging folder in it. Seen in CI as "No such file or
        // directory" on a manifest.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        std::thread::scope(|scope| {
            for worker in 0..2 {
                let root = root.clone();
                scope.spawn(move || {
                    for round in 0..300 {
                        let local = LocalDir::new(root.clone());
                        local.write(&format!("{worker}/{round}.json"), b"{}", false).unwrap();
                        local.release();
                    }
                });
            }
        });
        assert!(!root.join(STAGING).exists());
    }

    #[test]
    fn writes_whole_files_and_leaves_no_staging() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalDir::new(dir.path().join("out"));
        let path = local.write("a/b/c.png", b"pixels", false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"pixels");
        local.write("a/b/c.png", b"again", false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"again");
        local.write("a/b/c.png", b"kept?", true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"again", "keep_existing leaves it");
        local.write("a/b/new.png", b"new", true).unwrap();
        assert_eq!(fs::read(dir.path().join("out/a/b/new.png")).unwrap(), b"new");
        assert!(dir.path().join("out").join(STAGING).is_dir(), "staged until released");
        local.release();
        assert!(!dir.path().join("out").join(STAGING).exists());
        local.write("a/d.png", b"more", false).unwrap();
        drop(local);
        assert!(!dir.path().join("out").join(STAGING).exists());
        assert_eq!(files(&dir.path().join("out")), ["c.png", "new.png", "d.png"]);
    }

    #[test]
    fn leftovers_of_dead_processes_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let parent = dir.path().join(STAGING);
        // A dead process's folder: a lock file nobody holds, and a half-written file.
        let dead = parent.join("1-1-0");
        fs::create_dir_all(&dead).unwrap();
        File::create(dead.join("lock")).unwrap();
        fs::write(dead.join("3.partial"), b"half").unwrap();
        // A live one: another LocalDir on the same root, mid-life.
        let live = LocalDir::new(dir.path().to_path_buf());
        live.write("x.png", b"x", false).unwrap();
        let live_staging = live.state().staging.as_ref().unwrap().path.clone();

        let local = LocalDir::new(dir.path().to_path_buf());
        local.write("y.png", b"y", false).unwrap();
        assert!(!dead.exists(), "the dead process's leftovers were removed");
        assert!(live_staging.is_dir(), "the live process's staging folder stays");
    }

    #[test]
    fn abandoned_writes_never_land() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalDir::new(dir.path().to_path_buf());
        let (number, staged) = local.begin().unwrap();
        fs::write(&staged, b"half").unwrap();
        local.abandon_writes();
        assert!(!staged.exists());
        let error = local.finish(number, &staged, &dir.path().join("z.png"), false).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::Interrupted);
        assert!(!dir.path().join("z.png").exists());
        // Later writes still work; after a stop, none do.
        local.write("m.json", b"{}", false).unwrap();
        local.stop();
        assert!(local.write("n.json", b"{}", false).is_err());
        assert!(!dir.path().join(STAGING).exists());
    }

    #[test]
    fn dots_resolve_as_the_file_system_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink(root.join("a/b"), root.join("link")).unwrap();
        let resolved = |p: &str| resolve_dots(&root.join(p)).unwrap();
        assert_eq!(resolved("a/../x"), root.join("x"));
        assert_eq!(resolved("a/./b/../../x/y"), root.join("x/y"));
        // Through the link: its target's parent, as `mkdir -p link/../z` does.
        assert_eq!(resolved("link/../z"), root.join("a/z"));
        // Not there yet: lexically.
        assert_eq!(resolved("new/../x"), root.join("x"));
        assert_eq!(resolved("a/b"), root.join("a/b"));
    }

    #[test]
    fn probes_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        probe(&nested, true).unwrap();
        assert!(!dir.path().join("a").exists(), "no folder is made for the probe");
        assert!(probe(&nested, false).is_err(), "missing and not to be made");
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        assert_eq!(probe(&file, true).unwrap_err().to_string(), "not a folder");
        assert!(probe(&file.join("below"), true).unwrap_err().to_string().ends_with("file is not a folder"));
        probe(dir.path(), false).unwrap();
        assert!(files(dir.path()) == ["file"]);
    }
}
