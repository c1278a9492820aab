//! Many images, one pool: a list in, every image stored exactly as a single
//! run stores it, one result a line out, resumable after any crash.
//!
//! [`Batch::run`] keeps a few images in flight (`in_flight`, on threads of
//! its own), all on the engine's one pool and the uploader's one runtime:
//! while one image's palettes are recoloured and encoded, the next is read
//! and decoded, so the cores never wait on one image's serial decode, and
//! memory is bounded by the images in flight, never by the list.
//!
//! After an image is stored whole, a small marker goes beside the outputs
//! (`_index/<look>-<digest>/<hash of the image's name>.json`); with
//! `resume`, an image whose marker is there and whose size and modification
//! time are unchanged is skipped, at the cost of one small read and one
//! stat. A batch killed at any point and run again with `resume` stores the
//! rest; what was stored stays, byte for byte.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use variegate_core::{Canceller, DecodeError, Engine, Palette};

use crate::keys::slug;
use crate::list::{ImageLocation, ListEntry, ListError, ShardList, read_list};
use crate::manifest::RunStatus;
use crate::shard::Shard;
use crate::store::{Store, StoreOptions, one_line};
use crate::uploader::Uploader;

/// How a batch runs. Every field has a default.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    /// Images being read, decoded, recoloured or stored at once. Default 3:
    /// one image's decode and another's last stores and manifest overlap a
    /// third's palettes (on two cores, 4% faster than 2 at 1024x1024, up to
    /// 10% with a cheap look; docs/performance.md). They share the engine's
    /// memory budget evenly ([`Engine::sharing_budget`]).
    pub in_flight: usize,
    /// Skip images already stored whole by a batch of the same recipe.
    /// Default false.
    pub resume: bool,
    /// The share of the list this process takes. Default: all of it.
    pub shard: Shard,
    /// Retries, deadlines and link lifetimes for reading images from stores.
    pub input_store: StoreOptions,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            in_flight: 3,
            resume: false,
            shard: Shard::all(),
            input_store: StoreOptions::default(),
        }
    }
}

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
    pub error: Option<String>,
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

/// Sees a batch go by.
pub trait BatchObserver {
    /// The batch starts on `total` images (its shard's).
    fn started(&mut self, _total: usize) {}
    /// An image is done.
    fn finished(&mut self, _result: &ImageResult) {}
}

impl BatchObserver for () {}

/// What a batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Images in the shard.
    pub total: usize,
    /// Images with a result, by status.
    pub stored: usize,
    /// See [`ImageStatus::Partial`].
    pub partial: usize,
    /// See [`ImageStatus::Failed`].
    pub failed: usize,
    /// See [`ImageStatus::Skipped`].
    pub skipped: usize,
    /// See [`ImageStatus::Cancelled`].
    pub cancelled: usize,
    /// Why the batch stopped early, e.g. `SIGTERM`.
    pub interrupted: Option<String>,
}

impl BatchReport {
    /// Images not taken because the batch stopped early.
    pub fn not_started(&self) -> usize {
        self.total - (self.stored + self.partial + self.failed + self.skipped + self.cancelled)
    }
}

/// Which run wrote a results line.
#[derive(Deserialize)]
struct RunOf {
    run: String,
}

/// The marker of an image stored whole, for resuming.
#[derive(Debug, Serialize, Deserialize)]
struct DoneMarker {
    image: String,
    size: u64,
    modified: Option<String>,
    folder: String,
    manifest: String,
}

/// Recolours and stores the images of a list, a few at a time.
#[derive(Debug)]
pub struct Batch {
    engine: Engine,
    uploader: Uploader,
    palettes: Arc<[Palette]>,
    options: BatchOptions,
    canceller: Canceller,
    /// `<look>-<digest, 8 hex>`: this batch's recipe, as run folders end.
    recipe_folder: String,
    run: String,
    /// Stores that images are read from, by their root URL.
    inputs: Mutex<HashMap<String, Store>>,
}

impl Batch {
    /// A batch of `palettes` with `engine`, stored by `uploader`.
    pub fn new(engine: Engine, uploader: Uploader, palettes: Vec<Palette>, options: BatchOptions) -> Batch {
        let recipe = engine.recipe();
        let digest = recipe.digest(&palettes);
        let recipe_folder = format!("{}-{}", slug(&recipe.look), &digest[..8]);
        let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Batch {
            engine: engine.sharing_budget(options.in_flight),
            uploader,
            palettes: palettes.into(),
            options,
            canceller: Canceller::new(),
            recipe_folder,
            // Seconds, process and the clock's nanoseconds: containers
            // restarted in the same second often have the same pid.
            run: format!("{}-{}-{:08x}", started.as_secs(), std::process::id(), started.subsec_nanos()),
            inputs: Mutex::default(),
        }
    }

    /// Cancels the whole batch: no image starts, those under way are
    /// cancelled as a single run is.
    pub fn canceller(&self) -> &Canceller {
        &self.canceller
    }
    /// The uploader it stores through.
    pub fn uploader(&self) -> &Uploader {
        &self.uploader
    }
    /// The options it runs with.
    pub fn options(&self) -> &BatchOptions {
        &self.options
    }

    /// Reads a list (see [`crate::list`]) and keeps this batch's shard of
    /// it; store prefixes are listed through object_store.
    pub fn read_list(&self, list: &str) -> Result<ShardList, ListError> {
        read_list(list, &self.options.shard, self.options.input_store, self.uploader.runtime())
    }

    /// Where results go by default: `_results/<look>-<digest>/shard-I-of-N.jsonl`
    /// under a local store's folder; for other stores the same under
    /// `./variegate-results/<the store, slugged>/`, copied into the store by
    /// [`Batch::publish_results`].
    pub fn default_results_path(&self) -> PathBuf {
        let tail = Path::new(&self.recipe_folder).join(format!("{}.jsonl", self.options.shard.file_name()));
        let store = self.uploader.store();
        match store.local_dir() {
            Some(dir) => dir.root().join("_results").join(tail),
            None => Path::new("variegate-results").join(slug(store.url())).join(tail),
        }
    }

    /// Runs the shard's images of `entries`, `in_flight` at a time, and
    /// appends a line for each entry to `results` as its image finishes:
    /// an image listed more than once is done once, with a line a listing.
    pub fn run(
        &self,
        entries: &[ListEntry],
        results: &mut ResultsLog,
        observer: &mut dyn BatchObserver,
    ) -> BatchReport {
        // The shard's images, each with its listings, in list order.
        let mut listings: HashMap<String, Vec<&ListEntry>> = HashMap::new();
        let mut mine: Vec<String> = Vec::new();
        for entry in entries {
            let identity = entry.identity();
            if self.options.shard.contains(&identity) {
                let seen = listings.entry(identity.clone()).or_default();
                if seen.is_empty() {
                    mine.push(identity);
                }
                seen.push(entry);
            }
        }
        let mine: Vec<&[&ListEntry]> = mine.iter().map(|identity| &listings[identity][..]).collect();
        let mut report = BatchReport { total: mine.len(), ..Default::default() };
        observer.started(mine.len());
        let next = AtomicUsize::new(0);
        let (sender, finished) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..self.options.in_flight.max(1) {
                let sender = sender.clone();
                let (next, mine) = (&next, &mine);
                scope.spawn(move || {
                    while !self.canceller.is_cancelled() {
                        let Some(listed) = mine.get(next.fetch_add(1, Ordering::SeqCst)) else { break };
                        if sender.send((self.image(listed[0]), *listed)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(sender);
            for (result, listed) in finished {
                let count = match result.status {
                    ImageStatus::Stored => &mut report.stored,
                    ImageStatus::Partial => &mut report.partial,
                    ImageStatus::Failed => &mut report.failed,
                    ImageStatus::Skipped => &mut report.skipped,
                    ImageStatus::Cancelled => &mut report.cancelled,
                };
                *count += 1;
                results.append(&result);
                observer.finished(&result);
                for again in &listed[1..] {
                    results.append(&ImageResult {
                        image: again.image.clone(),
                        extra: extra(again),
                        ..result.clone()
                    });
                }
            }
        });
        report.interrupted = self.canceller.cancellation().map(|c| c.reason.clone());
        report
    }

    /// Copies this run's lines of the results file into the store when the
    /// store is not a local folder (where the file is written in place), as
    /// one object per run: `_results/<look>-<recipe>/shard-I-of-N/<run>.jsonl`,
    /// so that no retry, from any machine, replaces an earlier attempt's
    /// record. Returns where it went.
    pub fn publish_results(&self, results: &ResultsLog) -> Result<Option<String>, String> {
        if self.uploader.store().local_dir().is_some() {
            return Ok(None);
        }
        let text = std::fs::read(&results.path).map_err(|e| format!("{}: {e}", results.path.display()))?;
        // The file is appended to by every run on this machine: this run's lines only.
        let mut mine = Vec::new();
        for line in text.split_inclusive(|&b| b == b'\n') {
            let run = serde_json::from_slice::<RunOf>(line).map(|line| line.run);
            if run.is_ok_and(|run| run == self.run) {
                mine.extend_from_slice(line);
            }
        }
        let key =
            format!("_results/{}/{}/{}.jsonl", self.recipe_folder, self.options.shard.file_name(), self.run);
        self.uploader.put(&key, Bytes::from(mine), "application/x-ndjson", &self.canceller)?;
        Ok(Some(self.uploader.store().location_of(&key)))
    }

    /// Takes one image from list to store.
    fn image(&self, entry: &ListEntry) -> ImageResult {
        let started = Instant::now();
        let mut result = ImageResult {
            image: entry.image.clone(),
            status: ImageStatus::Failed,
            stored: 0,
            spilled: 0,
            failed: 0,
            cancelled: 0,
            folder: None,
            manifest: None,
            error: None,
            timings: ImageTimings::default(),
            shard: self.options.shard.to_string(),
            run: self.run.clone(),
            extra: extra(entry),
        };
        let outcome = self.store_image(entry, &mut result);
        if let Err(error) = outcome {
            result.status = ImageStatus::Failed;
            result.error = Some(error);
        }
        result.timings.total = started.elapsed();
        result
    }

    fn store_image(&self, entry: &ListEntry, result: &mut ImageResult) -> Result<(), String> {
        let image = entry.image.as_str();
        let input = self.input(entry)?;
        let stat = self.stat(&input);
        let name_hash = Sha256::digest(entry.identity().as_bytes());
        let name_hash = u64::from_be_bytes(std::array::from_fn(|i| name_hash[i]));
        let marker_key = format!("_index/{}/{name_hash:016x}.json", self.recipe_folder);
        if self.options.resume
            && let Some(marker) = self.marker(&marker_key)
            && stat
                .as_ref()
                .is_ok_and(|(size, modified)| *size == marker.size && *modified == marker.modified)
        {
            result.status = ImageStatus::Skipped;
            result.folder = Some(marker.folder);
            result.manifest = Some(marker.manifest);
            return Ok(());
        }

        let read_started = Instant::now();
        let bytes = match &input {
            // Read from its normal path, named as listed.
            Input::Local(path) => Bytes::from(
                std::fs::read(path)
                    .map_err(|source| DecodeError::Read { origin: image.into(), source }.to_string())?,
            ),
            Input::Stored { store, path } => {
                let get = async { store.objects().get(path).await?.bytes().await };
                self.uploader
                    .within_grace(&self.canceller, get)
                    .and_then(|read| read.map_err(|e| one_line(&e)))
                    .map_err(|e| format!("{image}: cannot read: {e}"))?
            }
        };
        result.timings.read = read_started.elapsed();
        let source = self.engine.decode(&bytes, image).map_err(|e| e.to_string())?;
        drop(bytes);
        result.timings.decode = source.decode_time();
        let job = self
            .engine
            .start_with(source, self.palettes.clone(), self.canceller.clone())
            .map_err(|e| format!("{image}: cannot start the run: {e}"))?;
        let report = self.uploader.store_job(job);
        let manifest = &report.manifest;
        result.timings.analyse = manifest.timings.analyse;
        (result.stored, result.spilled, result.failed, result.cancelled) =
            (manifest.stored, manifest.spilled, manifest.failed, manifest.cancelled);
        result.folder = Some(manifest.folder.clone());
        result.manifest = Some(report.manifest_key.clone());
        result.status = match report.status() {
            RunStatus::Complete => ImageStatus::Stored,
            RunStatus::Partial => ImageStatus::Partial,
            RunStatus::Failed => ImageStatus::Failed,
            RunStatus::Interrupted => ImageStatus::Cancelled,
        };
        result.error = manifest
            .variations
            .iter()
            .find_map(|o| {
                let thumbnail = o.thumbnail_error.as_ref().map(|e| format!("thumbnail: {e}"));
                o.error.as_ref().map(|e| e.to_string()).or(thumbnail)
            })
            .or_else(|| report.manifest_error.as_ref().map(|e| format!("manifest: {e}")));
        if result.status == ImageStatus::Stored
            && let Ok((size, modified)) = stat
        {
            let marker = DoneMarker {
                image: image.into(),
                size,
                modified,
                folder: manifest.folder.clone(),
                manifest: report.manifest_key.clone(),
            };
            // Without its marker an image is only done again on resume: a
            // failure here costs time, never correctness.
            if let Err(error) = serde_json::to_vec(&marker).map_err(|e| e.to_string()).and_then(|json| {
                self.uploader.put(&marker_key, Bytes::from(json), "application/json", &self.canceller)
            }) {
                tracing::warn!(image, %error, "could not write the resume marker");
            }
        }
        Ok(())
    }

    /// Where an image is read from.
    fn input(&self, entry: &ListEntry) -> Result<Input, String> {
        let image = &entry.image;
        let (root, path) = match &entry.location {
            ImageLocation::Local(path) => return Ok(Input::Local(path.clone())),
            ImageLocation::Stored { root, key } => (root.clone(), key.clone()),
        };
        let mut inputs = self.inputs.lock().unwrap_or_else(PoisonError::into_inner);
        let store = match inputs.get(&root) {
            Some(store) => store.clone(),
            None => {
                let store =
                    Store::open(&root, self.options.input_store).map_err(|e| format!("{image}: {e}"))?;
                inputs.insert(root, store.clone());
                store
            }
        };
        Ok(Input::Stored { store, path })
    }

    /// Size and modification time of an input, to tell whether it changed.
    fn stat(&self, input: &Input) -> Result<(u64, Option<String>), String> {
        match input {
            Input::Local(path) => {
                let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
                let modified = metadata.modified().ok().and_then(|m| m.duration_since(UNIX_EPOCH).ok());
                Ok((metadata.len(), modified.map(|m| format!("{}.{:09}", m.as_secs(), m.subsec_nanos()))))
            }
            Input::Stored { store, path } => {
                let head = self
                    .uploader
                    .within_grace(&self.canceller, store.objects().head(path))?
                    .map_err(|e| one_line(&e))?;
                Ok((head.size, Some(head.e_tag.unwrap_or_else(|| head.last_modified.to_rfc3339()))))
            }
        }
    }

    /// An image's marker, if it has one.
    fn marker(&self, key: &str) -> Option<DoneMarker> {
        let store = self.uploader.store();
        let path = store.path_of(key);
        let get = async { store.objects().get(&path).await?.bytes().await };
        let bytes = self.uploader.within_grace(&self.canceller, get).ok()?.ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A listing's extra fields for its results line: those named like the
/// line's own fields are kept under `"fields"`, never dropped.
fn extra(entry: &ListEntry) -> Map<String, Value> {
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

/// Where an image is read from.
enum Input {
    Local(PathBuf),
    Stored { store: Store, path: object_store::path::Path },
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
    fn append(&mut self, result: &ImageResult) {
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
