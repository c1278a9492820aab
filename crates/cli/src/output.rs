//! Writing the files a run names (the report, the contact sheet): a
//! regular file whole or not at all, anything else (a symlink's target, a
//! FIFO, a device) written through, never replaced; each checked before
//! any work.

use std::path::{Path, PathBuf};

use variegate_store::check_folder;

/// A file the run will write at the end must be writable now: a regular
/// file (or none yet) where its folder exists and takes files; a FIFO or a
/// device this user may write; never a folder.
pub fn check_output_file(flag: &str, path: &Path) -> anyhow::Result<()> {
    let problem = match destination(path) {
        Destination::Through(_) if path.is_dir() => Some("it is a folder".to_string()),
        Destination::Through(target) => writable(&target).err().map(|error| error.to_string()),
        Destination::Replace(target) => {
            let folder = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            match std::fs::metadata(folder) {
                Err(_) => Some(format!("folder {} does not exist", folder.display())),
                Ok(meta) if !meta.is_dir() => Some(format!("{} is not a folder", folder.display())),
                Ok(_) => check_folder(folder, false).err().map(|error| error.to_string()),
            }
        }
    };
    match problem {
        Some(problem) => anyhow::bail!("{flag} {}: cannot write there: {problem}", path.display()),
        None => Ok(()),
    }
}

/// How a path given for output is written.
enum Destination {
    /// A regular file, or nothing yet: written beside it and renamed over
    /// it, so that it is whole or untouched. A link to a regular file is
    /// its target's path: the target is replaced, the link kept.
    Replace(PathBuf),
    /// Anything else (a FIFO, a device, `/dev/stdout` and the process's
    /// own descriptors, a link whose target does not exist yet): opened and
    /// written, appending, never replaced.
    Through(PathBuf),
}

fn destination(path: &Path) -> Destination {
    // Links are followed hop by hop: the process's own descriptors
    // (/dev/stdout, /dev/fd/N, /proc/self/fd/N) are written through whatever
    // they reach, so that `--report /dev/stdout >> log` appends to the log.
    let mut hop = path.to_path_buf();
    for _ in 0..40 {
        let own = ["/dev/stdin", "/dev/stdout", "/dev/stderr"].iter().any(|name| hop == Path::new(name));
        if own || hop.starts_with("/proc") || hop.starts_with("/dev/fd") {
            return Destination::Through(path.to_path_buf());
        }
        match std::fs::read_link(&hop) {
            Ok(target) => hop = hop.parent().map_or(target.clone(), |folder| folder.join(&target)),
            Err(_) => break,
        }
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            Destination::Replace(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
        }
        Ok(_) => Destination::Through(path.to_path_buf()),
        // A link to nothing yet: its target is made.
        Err(_) if std::fs::symlink_metadata(path).is_ok() => Destination::Through(path.to_path_buf()),
        Err(_) => Destination::Replace(path.to_path_buf()),
    }
}

/// Whether a path written through may be written: its permissions, not an
/// open, which would be a FIFO's writer come and gone (its reader would
/// read an empty file and leave).
fn writable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: a NUL-terminated path.
    match unsafe { libc::access(name.as_ptr(), libc::W_OK) } {
        0 => Ok(()),
        // A link to nothing yet: its target is made, in a folder that must take it.
        _ if !path.exists() => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Writes a whole file or nothing where `path` is a regular file (or none
/// yet): to a hidden name beside it, then renamed. Anything else is opened
/// and written through (see [`Destination`]); a failed write is an error.
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let path = match destination(path) {
        Destination::Replace(path) => path,
        Destination::Through(path) => {
            let mut file = std::fs::OpenOptions::new().append(true).create(true).open(path)?;
            return file.write_all(bytes).and_then(|()| file.flush());
        }
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staged = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let written = std::fs::write(&staged, bytes).and_then(|()| std::fs::rename(&staged, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    written
}
