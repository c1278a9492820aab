//! Draining a job's variations into a store, a bounded number of puts at a
//! time, on a small tokio runtime the uploader owns.

mod observer;
mod put;

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Runtime;
use tracing::Instrument;
use variegate_core::{Canceller, Job, Variation};

use crate::error::{ObjectError, StoreError};
use crate::keys::RunKeys;
use crate::local::{LocalDir, probe};
use crate::manifest::{Failure, Manifest, Outcome, RunStatus, RunTimings};
use crate::store::Store;
pub use observer::Observer;
use put::{InFlight, PutVariation, Sized, Thumbnail, spill};

/// Puts in flight at once by default on a cloud store, where each waits on
/// the network.
pub const DEFAULT_UPLOADS: usize = 8;
/// Puts in flight at once by default on a local folder (or in memory): a
/// write waits on the disk, not the network, so more in flight only hold
/// more finished files in memory (63 palettes of a 2048x2048 photo peaked
/// 28 MB higher with 8 than with 2, for no speed).
pub const LOCAL_UPLOADS: usize = 2;

/// Puts in flight at once by default for the store at `location` (as
/// [`Store::open`] takes it): [`LOCAL_UPLOADS`] for a local folder or
/// `memory://`, [`DEFAULT_UPLOADS`] for a cloud store.
pub fn default_uploads(location: &str) -> usize {
    let local =
        !location.contains("://") || location.starts_with("file://") || location.starts_with("memory://");
    if local { LOCAL_UPLOADS } else { DEFAULT_UPLOADS }
}
/// How long puts under way may go on after a job is cancelled, by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// The names of the user metadata on every stored variation: valid on S3,
/// GCS and Azure alike (Azure wants C# identifiers).
pub const METADATA_NAMES: [&str; 3] = ["palette_name", "palette_description", "palette_colors"];

/// Why the uploader could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploaderError {
    /// Its tokio runtime did not start.
    #[error("cannot start the upload runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// An option is out of its range.
    #[error("invalid option {option}: {reason}")]
    Option {
        /// The option, as the builder names it.
        option: &'static str,
        /// Its range, and the value given.
        reason: String,
    },
}

/// The result of storing a job: the manifest, where it went, and whether it
/// could be stored.
#[derive(Clone, Debug)]
pub struct StoreReport {
    /// The run's record, as stored.
    pub manifest: Manifest,
    /// Key of `manifest.json`, relative to the store's prefix.
    pub manifest_key: String,
    /// Link to the manifest, when it was stored.
    pub manifest_url: Option<String>,
    /// Why the manifest could not be stored, if it could not.
    pub manifest_error: Option<Failure>,
    /// Where the manifest was saved instead, if it was.
    pub manifest_spill_path: Option<PathBuf>,
}

impl StoreReport {
    /// How the run ended, the manifest included: a run whose variations
    /// were all stored but whose manifest was not is partial.
    pub fn status(&self) -> RunStatus {
        match self.manifest.status {
            RunStatus::Complete if self.manifest_error.is_some() => RunStatus::Partial,
            status => status,
        }
    }
}

/// Configures an [`Uploader`]. Every option has a default.
#[derive(Debug)]
pub struct UploaderBuilder {
    store: Store,
    uploads: Option<usize>,
    spill_dir: Option<PathBuf>,
    grace: Duration,
    keep_existing: bool,
}

impl UploaderBuilder {
    /// Objects being stored at once; past that, no more variations are
    /// taken from the engine. Default [`default_uploads`] of the store.
    pub fn uploads(mut self, uploads: usize) -> Self {
        self.uploads = Some(uploads);
        self
    }
    /// Where to save, under its key, a variation (or manifest) that cannot
    /// be stored, so that nothing made is lost. Default: nowhere (it fails).
    pub fn spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spill_dir = Some(dir.into());
        self
    }
    /// How long puts under way may go on once a job is cancelled; what is
    /// not stored by then is recorded as cancelled. Default [`DEFAULT_GRACE`].
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
    /// Leave a variation (or thumbnail) already stored at its key as it is,
    /// and count it stored: a key's bytes are fixed by its recipe, so what
    /// is there is what would be written. Created conditionally where the
    /// store can (local folders, S3, GCS, Azure; not multipart uploads over
    /// 8 MiB), so workers racing on an image never replace each other's
    /// objects. Manifests are always replaced. Default false.
    pub fn keep_existing(mut self, keep_existing: bool) -> Self {
        self.keep_existing = keep_existing;
        self
    }
    /// Checks the options and starts the uploader's runtime.
    pub fn build(self) -> Result<Uploader, UploaderError> {
        let uploads = self.uploads.unwrap_or_else(|| default_uploads(self.store.url()));
        if uploads == 0 {
            return Err(UploaderError::Option { option: "uploads", reason: "must be at least 1".into() });
        }
        // Uploads wait on the network or the disk, not the CPU: two workers
        // keep any number of puts moving without taking cores from the pool.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("variegate-upload")
            .enable_all()
            .build()?;
        let spill = self.spill_dir.map(|dir| Arc::new(LocalDir::new(dir)));
        Ok(Uploader {
            store: self.store,
            runtime,
            uploads,
            spill,
            grace: self.grace,
            keep_existing: self.keep_existing,
        })
    }
}

/// Stores jobs as they are made. Blocking API; the async work happens on
/// the uploader's own runtime.
#[derive(Debug)]
pub struct Uploader {
    store: Store,
    runtime: Runtime,
    uploads: usize,
    spill: Option<Arc<LocalDir>>,
    grace: Duration,
    keep_existing: bool,
}

/// Stops every local write at once, for a process about to exit without
/// waiting (a second signal): files being written are deleted, no new one
/// is started, and the staging folders go. Get it with
/// [`Uploader::emergency_stop`]; it may be used from any thread.
#[derive(Clone, Debug)]
pub struct EmergencyStop {
    // Weak: a handle kept by a signal thread must not keep the folders'
    // staging alive past the uploader (it is removed when they drop).
    dirs: Vec<Weak<LocalDir>>,
}

impl EmergencyStop {
    /// Stops them.
    pub fn stop(&self) {
        for dir in self.dirs.iter().filter_map(Weak::upgrade) {
            dir.stop();
        }
    }
}

impl Uploader {
    /// An uploader into `store` with every option at its default.
    pub fn new(store: Store) -> Result<Uploader, UploaderError> {
        Uploader::builder(store).build()
    }

    /// An [`UploaderBuilder`] into `store`.
    pub fn builder(store: Store) -> UploaderBuilder {
        UploaderBuilder { store, uploads: None, spill_dir: None, grace: DEFAULT_GRACE, keep_existing: false }
    }

    /// Checks, before any work, that everything can be written: the store
    /// (see [`Store::check`]) and the spill folder (probed the same way).
    pub fn check(&self) -> Result<(), StoreError> {
        self.runtime.block_on(self.store.check())?;
        if let Some(spill) = &self.spill {
            probe(spill.root(), true).map_err(|error| StoreError::NotWritable {
                what: "spill folder",
                path: spill.root().to_path_buf(),
                reason: error.to_string(),
            })?;
        }
        Ok(())
    }

    /// The store it writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Its runtime, for a batch's reads of the same stores.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Stores one small object (a marker, a results file) at `key`, within
    /// what is left of the grace period once `cancel` is cancelled.
    pub fn put(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
        cancel: &Canceller,
    ) -> Result<(), ObjectError> {
        self.within_grace(cancel, self.store.put(key, bytes, content_type, &[], false))?
    }

    /// Runs `work` (a store call) on the runtime to its end, or, once
    /// `cancel` is cancelled, until its grace period is over, whichever
    /// comes first: after a signal no store call outlives the grace,
    /// whatever the store does (a hung store otherwise holds a call for its
    /// whole retry deadline). The error says why it was cut short.
    pub fn within_grace<T>(
        &self,
        cancel: &Canceller,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, ObjectError> {
        // Woken this often to notice a cancellation.
        const POLL: Duration = Duration::from_millis(50);
        let grace = self.grace;
        self.runtime.block_on(async {
            tokio::pin!(work);
            loop {
                if let Some(cancellation) = cancel.cancellation() {
                    let left = grace.saturating_sub(cancellation.at.elapsed());
                    return tokio::time::timeout(left, work)
                        .await
                        .map_err(|_| ObjectError::NoAnswer { grace, signal: cancellation.reason.clone() });
                }
                if let Ok(done) = tokio::time::timeout(POLL, &mut work).await {
                    return Ok(done);
                }
            }
        })
    }

    /// A handle that stops every local write at once; see [`EmergencyStop`].
    pub fn emergency_stop(&self) -> EmergencyStop {
        EmergencyStop { dirs: self.local_dirs().map(Arc::downgrade).collect() }
    }

    /// The local folders it writes in: the store's, if local, and the spill folder.
    fn local_dirs(&self) -> impl Iterator<Item = &Arc<LocalDir>> {
        self.store.local_dir().into_iter().chain(&self.spill)
    }

    /// Stores every variation of `job` as it comes, then its manifest, and
    /// returns the report. See [`Uploader::store_observed`].
    pub fn store_job(&self, job: Job) -> StoreReport {
        self.store_observed(job, &mut ())
    }

    /// Stores every variation of `job` as it comes out of the engine's
    /// channel (so the pool goes on making the next ones meanwhile), then
    /// `manifest.json` with one outcome a palette; `observer` sees each
    /// variation and outcome go by.
    ///
    /// At most `uploads` puts are pending; past that no more variations are
    /// taken, so a slow store holds the engine back rather than piling up
    /// memory. A variation the store refuses is saved in the spill folder.
    /// Once the job is cancelled, what the engine already made is still
    /// stored if it can be within the grace period; what is not stored by
    /// then is abandoned (no half-written file stays) and recorded as
    /// cancelled, and the manifest is written all the same.
    pub fn store_observed(&self, job: Job, observer: &mut dyn Observer) -> StoreReport {
        let started = Instant::now();
        let keys = RunKeys::new(job.source(), job.recipe(), job.digest(), job.palettes().len());
        let sized = job.recipe().sizes.is_some();
        let cancel = job.canceller().clone();
        let mut manifest = Manifest::begin(&job, self.store.url(), keys.folder());
        let mut record = |outcome: Outcome, observer: &mut dyn Observer| {
            observer.finished(&outcome);
            manifest.record(outcome);
        };
        let mut in_flight = InFlight::default();
        for mut variation in job.variations() {
            observer.made(&mut variation);
            while in_flight.tasks.len() >= self.uploads {
                for outcome in self.next_outcomes(&mut in_flight, &cancel) {
                    record(outcome, observer);
                }
            }
            let Variation { index, palette, result, sizes, thumbnail, timings, .. } = variation;
            match (result, self.out_of_time(&cancel)) {
                (Err(error), _) => {
                    record(Outcome::not_stored(index, palette, error.into(), timings), observer)
                }
                (Ok(_), Some(reason)) => {
                    let failure = Failure::Cancelled { reason };
                    record(Outcome::not_stored(index, palette, failure, timings), observer)
                }
                (Ok(encoded), None) => {
                    let extension = encoded.format().extension();
                    let side = |width: u32, height: u32| width.max(height);
                    let key = match sized {
                        true => keys.sized(
                            index,
                            &palette.name,
                            extension,
                            side(encoded.width(), encoded.height()),
                        ),
                        false => keys.variation(index, &palette.name, extension),
                    };
                    let smaller = sizes
                        .into_iter()
                        .map(|file| Sized {
                            key: keys.sized(
                                index,
                                &palette.name,
                                extension,
                                side(file.width(), file.height()),
                            ),
                            width: file.width(),
                            height: file.height(),
                            bytes: Bytes::from_owner(file),
                        })
                        .collect();
                    let thumbnail = thumbnail.map(|t| Thumbnail {
                        key: keys.thumbnail(index, &palette.name, t.format().extension()),
                        content_type: t.content_type(),
                        bytes: Bytes::from_owner(t),
                    });
                    let put = PutVariation {
                        store: self.store.clone(),
                        keep_existing: self.keep_existing,
                        spill: self.spill.clone(),
                        index,
                        key: key.clone(),
                        palette,
                        width: encoded.width(),
                        height: encoded.height(),
                        content_type: encoded.content_type(),
                        // Zero-copy, and the engine's buffer gauge counts the
                        // buffer until the put is done with it.
                        bytes: Bytes::from_owner(encoded),
                        sized,
                        smaller,
                        thumbnail,
                        made: timings,
                    };
                    // Kept to spill its bytes should the put be abandoned.
                    let pending = put.clone();
                    let task = put.run().instrument(tracing::info_span!("store", key));
                    let handle = in_flight.tasks.spawn_on(task, self.runtime.handle());
                    in_flight.meta.insert(handle.id(), pending);
                }
            }
        }
        while !in_flight.tasks.is_empty() {
            for outcome in self.next_outcomes(&mut in_flight, &cancel) {
                record(outcome, observer);
            }
        }
        let decode = job.decode_time();
        let summary = job.wait();
        let timings = RunTimings { decode, analyse: summary.analyse, total: decode + started.elapsed() };
        manifest.finish(cancel.cancellation().map(|c| c.reason.clone()), timings);
        let report = self.write_manifest(manifest, &keys, &cancel);
        for dir in self.local_dirs() {
            dir.release();
        }
        report
    }

    /// The reason of the job's cancellation once its grace period is over.
    fn out_of_time(&self, cancel: &Canceller) -> Option<String> {
        cancel.cancellation().filter(|c| c.at.elapsed() >= self.grace).map(|c| c.reason.clone())
    }

    /// Waits for the next put to finish. Once a cancelled job's grace period
    /// is over, abandons every put under way instead and returns them all,
    /// spilled (or cancelled, without a spill folder).
    fn next_outcomes(&self, in_flight: &mut InFlight, cancel: &Canceller) -> Vec<Outcome> {
        // Woken this often to notice a cancellation; a put is never shorter.
        const POLL: Duration = Duration::from_millis(50);
        loop {
            if let Some(reason) = self.out_of_time(cancel) {
                // Local writes under way are deleted before they can land;
                // then the tasks go.
                for dir in self.local_dirs() {
                    dir.abandon_writes();
                }
                let (mut outcomes, abandoned) = self.runtime.block_on(in_flight.abandon());
                let why = ObjectError::Abandoned { grace: self.grace, signal: reason.clone() };
                outcomes.extend(abandoned.into_iter().map(|put| put.spill_abandoned(&reason, &why)));
                return outcomes;
            }
            let next = self.runtime.block_on(async { tokio::time::timeout(POLL, in_flight.next()).await });
            if let Ok(Some(outcome)) = next {
                return vec![outcome];
            }
        }
    }

    /// Stores the manifest (or spills it) and makes the report. After a
    /// cancellation the put gets what is left of the grace period, not the
    /// store's whole retry deadline, even if it started before.
    fn write_manifest(&self, manifest: Manifest, keys: &RunKeys, cancel: &Canceller) -> StoreReport {
        let key = keys.manifest();
        let mut report = StoreReport {
            manifest,
            manifest_key: key.clone(),
            manifest_url: None,
            manifest_error: None,
            manifest_spill_path: None,
        };
        let json = match serde_json::to_vec_pretty(&report.manifest) {
            Ok(json) => Bytes::from(json),
            Err(error) => {
                report.manifest_error =
                    Some(Failure::Store { key, reason: ObjectError::Serialise(error.to_string()) });
                return report;
            }
        };
        // A manifest always says what the latest run did: it is replaced.
        let put = self.store.put(&key, json.clone(), "application/json", &[], false);
        match self.within_grace(cancel, put).and_then(|stored| stored) {
            Ok(()) => report.manifest_url = self.runtime.block_on(self.store.url_of(&key)).ok(),
            Err(reason) => {
                let (error, spill_path) = spill(self.spill.as_deref(), &key, reason, &json);
                report.manifest_error = Some(error);
                report.manifest_spill_path = spill_path;
            }
        }
        report
    }
}
