//! Many images, one pool: a list in, every image stored exactly as a single
//! run stores it, one result a line out, resumable after any crash.
//!
//! [`Batch::run`] keeps a few images in flight (`in_flight`, on threads of
//! its own), all on the engine's one pool and the uploader's one runtime:
//! while one image's palettes are recoloured and encoded, the next is read
//! and decoded, so the cores never wait on one image's serial decode, and
//! memory is bounded by the images in flight, never by the list. They share
//! the memory budget evenly; an image too large for its share that fits the
//! whole budget is made alone, the others waiting (a gate each image passes
//! shared, or alone).
//!
//! After an image is stored whole, a small marker goes beside the outputs
//! (`_index/<look>-<digest>/<hash of the image's name>.json`); with
//! `resume`, an image whose marker is there and whose size and modification
//! time are unchanged is skipped, at the cost of one small read and one
//! stat. A batch killed at any point and run again with `resume` stores the
//! rest; what was stored stays, byte for byte.

mod input;
mod results;
mod resume;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use variegate_core::{Canceller, DecodeError, Engine, Palette};

pub use results::{ImageFailure, ImageResult, ImageStatus, ImageTimings, ResultsLog};

use crate::keys;
use crate::list::{ListEntry, ListError, ShardList, read_list};
use crate::shard::Shard;
use input::Input;
use results::{RunOf, extra};
use resume::DoneMarker;
use variegate_store::keys::{recipe_folder, slug};
use variegate_store::{ObjectError, RunStatus, Store, StoreOptions, Uploader};

/// How a batch runs. Every field has a default.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    /// Images being read, decoded, recoloured or stored at once. Default 3:
    /// one image's decode and another's last stores and manifest overlap a
    /// third's palettes (on two cores, 4% faster than 2 at 1024x1024, up to
    /// 10% with a cheap look; docs/performance.md). They share the engine's
    /// memory budget evenly ([`Engine::sharing_budget`]); an image that
    /// needs more than its share but fits the whole budget is made alone.
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

/// Recolours and stores the images of a list, a few at a time.
#[derive(Debug)]
pub struct Batch {
    /// The engine with an image's share of the budget, and with all of it.
    engine: Engine,
    whole: Engine,
    /// Passed shared by each image, alone by one that needs the whole budget.
    gate: RwLock<()>,
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
        let recipe_folder = recipe_folder(&recipe, &digest);
        let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Batch {
            engine: engine.sharing_budget(options.in_flight),
            whole: engine.sharing_budget(1),
            gate: RwLock::new(()),
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
        let tail = keys::results_file(&self.recipe_folder, &self.options.shard);
        let store = self.uploader.store();
        match store.local_root() {
            Some(root) => root.join(keys::RESULTS).join(tail),
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
                    // Not sent by the workers: written below.
                    ImageStatus::NotStarted => continue,
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
        // Every image of the shard has its line: those never taken say so.
        // (Images are taken in order: those from `next` on were not.)
        let taken = next.load(Ordering::SeqCst).min(mine.len());
        for listed in &mine[taken..] {
            for entry in listed.iter() {
                results.append(&ImageResult { status: ImageStatus::NotStarted, ..self.unmade(entry) });
            }
        }
        report
    }

    /// Copies this run's lines of the results file into the store when the
    /// store is not a local folder (where the file is written in place), as
    /// one object per run ([`keys::results`]), so that no retry, from any
    /// machine, replaces an earlier attempt's record. Returns where it went.
    pub fn publish_results(&self, results: &ResultsLog) -> Result<Option<String>, PublishError> {
        if self.uploader.store().local_root().is_some() {
            return Ok(None);
        }
        let text = std::fs::read(results.path())
            .map_err(|source| PublishError::Read { path: results.path().into(), source: Arc::new(source) })?;
        // The file is appended to by every run on this machine: this run's lines only.
        let mut mine = Vec::new();
        for line in text.split_inclusive(|&b| b == b'\n') {
            let run = serde_json::from_slice::<RunOf>(line).map(|line| line.run);
            if run.is_ok_and(|run| run == self.run) {
                mine.extend_from_slice(line);
            }
        }
        let key = keys::results(&self.recipe_folder, &self.options.shard, &self.run);
        self.uploader.put(&key, Bytes::from(mine), "application/x-ndjson", &self.canceller)?;
        Ok(Some(self.uploader.store().location_of(&key)))
    }

    /// Takes one image from list to store.
    fn image(&self, entry: &ListEntry) -> ImageResult {
        let started = Instant::now();
        let mut result = self.unmade(entry);
        if let Err(error) = self.store_image(entry, &mut result) {
            result.status = ImageStatus::Failed;
            result.error = Some(error);
        }
        result.timings.total = started.elapsed();
        result
    }

    /// The result of `entry` before any work: failed, nothing counted.
    fn unmade(&self, entry: &ListEntry) -> ImageResult {
        ImageResult {
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
        }
    }

    /// Reads and decodes an image with `engine`, and checks that its run
    /// fits that engine's budget (so that a refusal comes before its run).
    fn decode(
        &self,
        engine: &Engine,
        input: &Input,
        image: &str,
        result: &mut ImageResult,
    ) -> Result<variegate_core::SourceImage, ImageFailure> {
        let read_started = Instant::now();
        let bytes = self.read_within(engine, input, image)?;
        result.timings.read = read_started.elapsed();
        let source = engine.decode(&bytes, image)?;
        drop(bytes);
        result.timings.decode = source.decode_time();
        engine.variations_at_once(&source, &self.palettes).map_err(DecodeError::OverMemory)?;
        Ok(source)
    }

    fn store_image(&self, entry: &ListEntry, result: &mut ImageResult) -> Result<(), ImageFailure> {
        let image = entry.image.as_str();
        let input = self.input(entry)?;
        let version = self.version(&input);
        let marker_key = keys::marker(&self.recipe_folder, &entry.identity());
        if self.options.resume
            && let Some(marker) = self.marker(&marker_key)
            && version
                .as_ref()
                .is_some_and(|(size, modified)| *size == marker.size && *modified == marker.modified)
        {
            result.status = ImageStatus::Skipped;
            result.folder = Some(marker.folder);
            result.manifest = Some(marker.manifest);
            return Ok(());
        }

        // Within its share of the budget, beside the other images in
        // flight; or, if that is too little and the whole budget would do,
        // alone (the file read again: a refusal comes before the pixels,
        // or from its colours just after).
        let shared = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let (engine, source, _gate) = match self.decode(&self.engine, &input, image, result) {
            Err(ImageFailure::Decode(error))
                if self.whole.max_memory() > self.engine.max_memory() && is_memory(&error) =>
            {
                drop(shared);
                let alone = self.gate.write().unwrap_or_else(PoisonError::into_inner);
                (&self.whole, self.decode(&self.whole, &input, image, result)?, Gate::Alone(alone))
            }
            decoded => (&self.engine, decoded?, Gate::Shared(shared)),
        };
        let job = engine
            .start_with(source, self.palettes.clone(), self.canceller.clone())
            .map_err(|source| ImageFailure::Start { image: image.into(), source: Arc::new(source) })?;
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
                let thumbnail = o.thumbnail_error.clone().map(ImageFailure::Thumbnail);
                o.error.clone().map(ImageFailure::Variation).or(thumbnail)
            })
            .or_else(|| report.manifest_error.clone().map(ImageFailure::Manifest));
        if result.status == ImageStatus::Stored
            && let Some((size, modified)) = version
        {
            let (folder, manifest) = (manifest.folder.clone(), report.manifest_key.clone());
            self.mark(&marker_key, &DoneMarker { image: image.into(), size, modified, folder, manifest });
        }
        Ok(())
    }
}

/// How an image passed the batch's gate; held until it is stored.
enum Gate<'a> {
    Shared(#[allow(dead_code)] std::sync::RwLockReadGuard<'a, ()>),
    Alone(#[allow(dead_code)] std::sync::RwLockWriteGuard<'a, ()>),
}

/// Whether `error` is a refusal for memory, which more of the budget may lift.
fn is_memory(error: &DecodeError) -> bool {
    matches!(error, DecodeError::OverMemory(_) | DecodeError::FileOverMemory { .. })
}

/// Why a batch's results could not be copied into the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The local results file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: Arc<std::io::Error>,
    },
    /// The store did not take them.
    #[error(transparent)]
    Store(#[from] ObjectError),
}
