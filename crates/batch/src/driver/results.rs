//! A batch's record: one [`ImageResult`] a line in a [`ResultsLog`], its
//! error kept typed ([`ImageFailure`]) until the line is written.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use variegate_core::DecodeError;

use crate::list::ListEntry;
use variegate_store::{Failure, ObjectError, StoreError};

/// What became of one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageStatus {
    /// Every variation stored.
    Stored,
    /// Some stored or spilled, others not: run again with `resume`.
    Partial,
    /// Nothing stored: unreadable, undecodable, or every variation failed.
    Failed,
    /// Already stored whole by an earlier batch: nothing done.
    Skipped,
    /// The batch was interrupted while it ran: run again with `resume`.
    Cancelled,
    /// The batch was interrupted before it was started: run again with
    /// `resume`. Written so that a results file accounts for every image of
    /// its shard, however the batch ended (but SIGKILL).
    #[serde(rename = "not_started")]
    NotStarted,
}

/// Time spent on one image, in its result's `timings_ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageTimings {
    /// Reading the file or object.
    #[serde(with = "variegate_core::millis")]
    pub read: Duration,
    /// Decoding it.
    #[serde(with = "variegate_core::millis")]
    pub decode: Duration,
    /// The look's per-image work.
    #[serde(with = "variegate_core::millis")]
    pub analyse: Duration,
    /// From taking it to its result.
    #[serde(with = "variegate_core::millis")]
    pub total: Duration,
}

/// One image's line in the results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageResult {
    /// The image as the list names it.
    pub image: String,
    /// What became of it.
    pub status: ImageStatus,
    /// Variations stored.
    pub stored: usize,
    /// Variations saved in the spill folder instead.
    pub spilled: usize,
    /// Variations neither stored nor spilled.
    pub failed: usize,
    /// Variations cancelled.
    pub cancelled: usize,
    /// Its run folder in the store, once known.
    pub folder: Option<String>,
    /// Key of its manifest, once known.
    pub manifest: Option<String>,
    /// Why it is not stored whole.
    pub error: Option<ImageFailure>,
    /// Milliseconds per stage.
    #[serde(rename = "timings_ms")]
    pub timings: ImageTimings,
    /// The shard that took it, `I/N`.
    pub shard: String,
    /// Which run of the batch wrote the line (the results are appended
    /// to): `<unix seconds>-<pid>-<nanoseconds, hex>`.
    pub run: String,
    /// The other fields of its JSONL line. Those named like a field of the
    /// result's own (or `fields`) are kept under `"fields"`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The names of [`ImageResult`]'s own fields in a results line, and
/// `fields`, under which a JSONL line's fields of these names are kept.
const RESULT_FIELDS: [&str; 13] = [
    "fields",
    "image",
    "status",
    "stored",
    "spilled",
    "failed",
    "cancelled",
    "folder",
    "manifest",
    "error",
    "timings_ms",
    "shard",
    "run",
];

/// Why an image is not stored whole. Written in its results line as its
/// one-line message; read back as [`ImageFailure::Recorded`].
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageFailure {
    /// The store it is read from cannot be used.
    #[error("{image}: {source}")]
    InputStore {
        /// The image as listed.
        image: String,
        /// Why.
        source: Arc<StoreError>,
    },
    /// It could not be read from its store.
    #[error("{image}: cannot read: {reason}")]
    Read {
        /// The image as listed.
        image: String,
        /// What the store said.
        reason: ObjectError,
    },
    /// It could not be read from its file, decoded, or fitted in the budget.
    #[error(transparent)]
    Decode(Arc<DecodeError>),
    /// Its run could not start (no thread).
    #[error("{image}: cannot start the run: {source}")]
    Start {
        /// The image as listed.
        image: String,
        /// What the system said.
        source: Arc<std::io::Error>,
    },
    /// A variation failed: the first one's failure.
    #[error(transparent)]
    Variation(Failure),
    /// A thumbnail was not stored: the first one's failure.
    #[error("thumbnail: {0}")]
    Thumbnail(Failure),
    /// The manifest was not stored.
    #[error("manifest: {0}")]
    Manifest(Failure),
    /// A failure read back from a results line: its message only.
    #[error("{0}")]
    Recorded(String),
}

impl From<DecodeError> for ImageFailure {
    fn from(error: DecodeError) -> ImageFailure {
        ImageFailure::Decode(Arc::new(error))
    }
}

/// Two failures are the same when they say the same.
impl PartialEq for ImageFailure {
    fn eq(&self, other: &ImageFailure) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Serialize for ImageFailure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageFailure {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ImageFailure, D::Error> {
        String::deserialize(deserializer).map(ImageFailure::Recorded)
    }
}

/// Which run wrote a results line.
#[derive(Deserialize)]
pub(super) struct RunOf {
    pub run: String,
}

/// A listing's extra fields for its results line: those named like the
/// line's own fields are kept under `"fields"`, never dropped.
pub(super) fn extra(entry: &ListEntry) -> Map<String, Value> {
    let mut extra = entry.extra.clone();
    let mut named_like_ours = Map::new();
    for name in RESULT_FIELDS {
        if let Some(value) = extra.remove(name) {
            named_like_ours.insert(name.into(), value);
        }
    }
    if !named_like_ours.is_empty() {
        extra.insert("fields".into(), Value::Object(named_like_ours));
    }
    extra
}

/// The results file: one JSON line an image, appended as each finishes.
/// Appended to, never truncated, so that a resumed batch and processes
/// sharing a shard add to it; each line says which run wrote it.
///
/// Lines are whole or absent: each is one write, cut back off should it
/// fail half-way (a full disk), and a torn last line left by an earlier
/// process (killed mid-write, or a full disk before this check) is moved
/// to `<file>.torn` when the file is opened, so appending never glues two
/// records into one.
#[derive(Debug)]
pub struct ResultsLog {
    path: PathBuf,
    file: File,
    broken: bool,
}

impl ResultsLog {
    /// Opens (or makes) `path` to append to, making its folder, and
    /// repairs a torn last line (with a warning).
    pub fn open(path: &Path) -> std::io::Result<ResultsLog> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::OpenOptions::new().create(true).read(true).append(true).open(path)?;
        let mut log = ResultsLog { path: path.to_path_buf(), file, broken: false };
        if let Some((bytes, aside)) = log.repair_tail()? {
            tracing::warn!(
                "{}: its last line was cut off ({bytes} bytes, an earlier run stopped mid-write); moved to {}",
                path.display(),
                aside.display()
            );
        }
        Ok(log)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether every line so far was written.
    pub fn is_complete(&self) -> bool {
        !self.broken
    }

    /// Appends a line, in one write so that lines of processes sharing the
    /// file do not interleave. After a failure (a full disk) what it wrote
    /// of the line is cut off again, it stops trying, and says so once.
    pub(super) fn append(&mut self, result: &ImageResult) {
        if self.broken {
            return;
        }
        let mut line = serde_json::to_vec(result).unwrap_or_default();
        line.push(b'\n');
        let before = self.file.metadata().map(|m| m.len());
        if let Err(error) = self.file.write_all(&line) {
            tracing::error!(path = %self.path.display(), %error, "cannot write results");
            if let Ok(before) = before {
                let _ = self.file.set_len(before);
            }
            self.broken = true;
        }
    }

    /// Moves a last line without its newline to `<file>.torn`; returns
    /// its length and where it went, if there was one.
    fn repair_tail(&mut self) -> std::io::Result<Option<(u64, PathBuf)>> {
        use std::io::{Read, Seek, SeekFrom};
        const CHUNK: u64 = 64 << 10;
        let len = self.file.metadata()?.len();
        // Back from the end, a chunk at a time, to the last newline.
        let mut end = len;
        let cut = loop {
            if end == 0 {
                break 0;
            }
            let start = end.saturating_sub(CHUNK);
            let mut chunk = vec![0; (end - start) as usize];
            self.file.seek(SeekFrom::Start(start))?;
            self.file.read_exact(&mut chunk)?;
            if let Some(at) = chunk.iter().rposition(|&b| b == b'\n') {
                break start + at as u64 + 1;
            }
            end = start;
        };
        if cut == len {
            return Ok(None);
        }
        let mut torn = vec![0; (len - cut) as usize];
        self.file.seek(SeekFrom::Start(cut))?;
        self.file.read_exact(&mut torn)?;
        torn.push(b'\n');
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".torn");
        let aside = self.path.with_file_name(name);
        std::fs::OpenOptions::new().create(true).append(true).open(&aside)?.write_all(&torn)?;
        self.file.set_len(cut)?;
        Ok(Some((len - cut, aside)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_moved_aside_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let whole = "{\"image\": \"a.png\"}\n".repeat(5000);
        std::fs::write(&path, format!("{whole}{{\"image\": \"b.p")).unwrap();
        drop(ResultsLog::open(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
        assert_eq!(std::fs::read_to_string(dir.path().join("r.jsonl.torn")).unwrap(), "{\"image\": \"b.p\n");
        // Whole files, empty ones, and a file of one torn line.
        drop(ResultsLog::open(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
        std::fs::write(&path, "{\"ima").unwrap();
        drop(ResultsLog::open(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }
}
