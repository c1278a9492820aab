//! What `run` and `batch` build alike before any pixel work: the palettes,
//! the engine and the uploader, every destination checked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sheet::contact_sheet_bytes;
use variegate_core::decoding::ColourProfiles;
use variegate_core::memory::{Size, default_max_memory};
use variegate_core::{DecodeError, Engine, Palette};
use variegate_store::{Store, StoreOptions, Uploader, check_folder, default_spill_dir};

use crate::args::{JobArgs, Profiles, output_format};

/// How a command spends the memory budget besides the engine's runs.
pub enum Memory {
    /// All of it for the engine (a batch shares it between its images).
    Whole,
    /// The contact sheet's share first.
    ContactSheet,
}

/// What `run` and `batch` build alike from their options, every
/// destination checked: the engine (keeping `previews` of that side), the
/// palettes and the uploader (`keep_existing` for batches: see
/// `UploaderBuilder::keep_existing`).
pub fn setup(
    args: &JobArgs,
    previews: Option<u32>,
    keep_existing: bool,
    memory: Memory,
) -> anyhow::Result<(Engine, Vec<Palette>, Uploader, StoreOptions)> {
    let palettes: Vec<Palette> = match &args.palettes {
        Some(path) => Palette::load_list(path)?,
        None => args
            .palette
            .iter()
            .enumerate()
            .map(|(i, text)| Palette::parse_inline(text, i + 1, "--palette"))
            .collect::<Result<_, _>>()?,
    };
    let budget = args.max_memory.unwrap_or_else(default_max_memory);
    let engine_budget = match memory {
        Memory::ContactSheet => {
            let sheet = contact_sheet_bytes(palettes.len() + 1);
            if sheet >= budget {
                anyhow::bail!(
                    "--contact-sheet of {} palettes needs {}, over the memory budget of {} (raise it with --max-memory)",
                    palettes.len(),
                    Size(sheet),
                    Size(budget)
                );
            }
            budget - sheet
        }
        Memory::Whole => budget,
    };
    let engine = engine(args, previews, engine_budget)?;
    let origin = args.palettes.as_ref().map_or("--palette".into(), |path| path.display().to_string());
    engine.check_palettes(&palettes, &origin)?;
    let options = StoreOptions {
        retries: args.retries,
        deadline: Duration::from_secs(args.deadline),
        url_ttl: Duration::from_secs(args.url_ttl),
    };
    let uploader = Uploader::builder(Store::open(&args.out, options)?)
        .uploads(args.uploads())
        .spill_dir(args.spill_dir.clone().unwrap_or_else(default_spill_dir))
        .grace(Duration::from_secs(args.grace))
        .keep_existing(keep_existing)
        .build()?;
    uploader.check()?;
    Ok((engine, palettes, uploader, options))
}

fn engine(args: &JobArgs, previews: Option<u32>, max_memory: u64) -> anyhow::Result<Engine> {
    let builder = Engine::builder().look_spec(&args.look.spec)?;
    if args.look.spec.analysis_size().is_some() {
        tracing::warn!("--analysis-size no longer changes the output (output version 4 on)");
    }
    // These are checked as usage already (check_usage); the seed and the
    // background are set only where given, as the builder refuses them
    // where they would change no byte.
    let format = output_format(args).map_err(anyhow::Error::msg)?;
    let builder = match args.seed {
        Some(seed) => builder.seed(seed),
        None => builder,
    };
    let builder = match args.background {
        Some(background) => builder.background(background),
        None => builder,
    };
    Ok(builder
        .threads(args.threads.map_or(0, |n| n as usize))
        .format(format)
        .max_pixels(args.max_pixels)
        .max_memory(max_memory)
        .downstream(args.uploads())
        .lenient(args.lenient)
        .colour_profiles(match args.colour_profiles {
            Profiles::Convert => ColourProfiles::Convert,
            Profiles::Ignore => ColourProfiles::Ignore,
        })
        .max_side(args.max_side)
        .thumbnail(args.thumbnail)
        .previews(previews)
        .build()?)
}

/// A memory refusal says how to lift it.
pub fn with_memory_hint(error: DecodeError) -> anyhow::Error {
    match error {
        DecodeError::OverMemory(_) | DecodeError::FileOverMemory { .. } => {
            anyhow::anyhow!("{error} (raise it with --max-memory)")
        }
        DecodeError::OverFormatLimit { max_side, .. } => {
            anyhow::anyhow!("{error} (downscale it with --max-side {max_side})")
        }
        error => error.into(),
    }
}

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
