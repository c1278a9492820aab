//! Draining variations into a store, a bounded number of puts at a time, on
//! a small tokio runtime the uploader owns.

use std::collections::BTreeMap;
use std::time::Instant;

use std::collections::HashMap;

use bytes::Bytes;
use object_store::{Attribute, Attributes, PutOptions, PutPayload};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::keys::{manifest_key, run_folder, variation_key};
use crate::manifest::{Manifest, Outcome, SourceInfo, Status};
use crate::store::Store;

/// A palette as the manifest records it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaletteInfo {
    pub name: String,
    /// `#RRGGBB`.
    pub colors: Vec<String>,
    pub description: Option<String>,
}

/// An encoded file ready to store.
#[derive(Clone, Debug)]
pub struct EncodedFile {
    pub bytes: Bytes,
    /// e.g. `image/png`.
    pub content_type: String,
    /// e.g. `png`.
    pub extension: String,
}

/// One variation handed to the uploader: the file, or why there is none.
#[derive(Clone, Debug)]
pub struct Upload {
    pub index: usize,
    pub palette: PaletteInfo,
    pub file: Result<EncodedFile, String>,
    /// A small copy to store under `thumbs/` beside it.
    pub thumbnail: Option<EncodedFile>,
    /// Milliseconds per stage so far, carried into the manifest.
    pub timings_ms: BTreeMap<String, f64>,
}

/// Why the uploader could not start.
#[derive(Debug, thiserror::Error)]
pub enum UploaderError {
    #[error("cannot start the upload runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("invalid option {option}: {reason}")]
    Option { option: &'static str, reason: String },
}

/// The result of a run: every outcome, in palette order, and whether the
/// manifest was written.
#[derive(Clone, Debug)]
pub struct StoreReport {
    pub manifest: Manifest,
    /// Key of `manifest.json`, relative to the store's prefix.
    pub manifest_key: String,
    /// Why the manifest could not be stored, if it could not.
    pub manifest_error: Option<String>,
}

impl StoreReport {
    /// True when every variation and the manifest were stored.
    pub fn all_stored(&self) -> bool {
        self.manifest.failed == 0 && self.manifest_error.is_none()
    }
}

/// Stores variations as they arrive. Blocking API; the async work happens
/// on the uploader's own runtime.
#[derive(Debug)]
pub struct Uploader {
    store: Store,
    runtime: Runtime,
    max_in_flight: usize,
}

/// Puts in flight at once by default.
pub const DEFAULT_UPLOADS: usize = 8;

impl Uploader {
    /// An uploader into `store` with at most `max_in_flight` puts at once.
    pub fn new(store: Store, max_in_flight: usize) -> Result<Uploader, UploaderError> {
        if max_in_flight == 0 {
            return Err(UploaderError::Option { option: "uploads", reason: "must be at least 1".into() });
        }
        // Uploads wait on the network or the disk, not the CPU: two workers
        // keep any number of puts moving without taking cores from the pool.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("variegate-upload")
            .enable_all()
            .build()?;
        Ok(Uploader { store, runtime, max_in_flight })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stores every upload as it comes out of `uploads` (typically a
    /// channel's blocking iterator, so that this drains the channel while
    /// the producer works) and returns the report; `on_outcome` sees each
    /// outcome as soon as it is known (for progress). `total` is the number
    /// of variations expected, which fixes the width of the key numbers.
    /// The manifest is written by [`Uploader::write_manifest`], once the
    /// caller has added what it knows (run timings).
    ///
    /// While `max_in_flight` puts are pending, no more are taken from
    /// `uploads`: a slow store holds the producer back rather than piling
    /// up memory here.
    pub fn store_all(
        &self,
        source: &SourceInfo,
        total: usize,
        uploads: impl IntoIterator<Item = Upload>,
        mut on_outcome: impl FnMut(&Outcome),
    ) -> StoreReport {
        let folder = run_folder(&source.stem, &source.sha256);
        let mut outcomes = Vec::with_capacity(total);
        let mut finished = |outcome: Option<Outcome>, outcomes: &mut Vec<Outcome>| {
            if let Some(outcome) = outcome {
                on_outcome(&outcome);
                outcomes.push(outcome);
            }
        };
        let mut in_flight = InFlight::default();
        for upload in uploads {
            while in_flight.tasks.len() >= self.max_in_flight {
                finished(self.runtime.block_on(in_flight.next()), &mut outcomes);
            }
            let Upload { index, palette, file, thumbnail, timings_ms } = upload;
            match file {
                Ok(file) => {
                    let key = variation_key(&folder, index, total, &palette.name, &file.extension);
                    let thumbnail = thumbnail.map(|thumbnail| {
                        let name = variation_key("thumbs", index, total, &palette.name, &thumbnail.extension);
                        (format!("{folder}/{name}"), thumbnail)
                    });
                    let put = PutVariation {
                        store: self.store.clone(),
                        index,
                        key: key.clone(),
                        palette: palette.clone(),
                    };
                    let task =
                        put.run(file, thumbnail, timings_ms).instrument(tracing::info_span!("store", key));
                    let handle = in_flight.tasks.spawn_on(task, self.runtime.handle());
                    in_flight.meta.insert(handle.id(), (index, palette, key));
                }
                Err(error) => {
                    finished(Some(Outcome::new(index, palette, Err(error), timings_ms)), &mut outcomes)
                }
            }
        }
        while !in_flight.tasks.is_empty() {
            finished(self.runtime.block_on(in_flight.next()), &mut outcomes);
        }
        outcomes.sort_by_key(|o| o.index);

        let stored = outcomes.iter().filter(|o| o.status == Status::Stored).count();
        let manifest = Manifest {
            source: source.clone(),
            store: self.store.url().to_string(),
            folder: folder.clone(),
            failed: outcomes.len() - stored,
            stored,
            variations: outcomes,
            timings_ms: BTreeMap::new(),
        };
        StoreReport { manifest, manifest_key: manifest_key(&folder), manifest_error: None }
    }

    /// Stores `report.manifest` as `manifest.json` in the run folder and
    /// records any failure in `report.manifest_error`.
    pub fn write_manifest(&self, report: &mut StoreReport) {
        report.manifest_error = self.put_manifest(&report.manifest, &report.manifest_key).err();
    }

    fn put_manifest(&self, manifest: &Manifest, key: &str) -> Result<(), String> {
        let json = serde_json::to_vec_pretty(manifest).map_err(|e| e.to_string())?;
        let path = self.store.path_of(key);
        let options = put_options(&self.store, "application/json");
        self.runtime
            .block_on(self.store.objects().put_opts(&path, PutPayload::from(json), options))
            .map(drop)
            .map_err(|e| format!("storing {key}: {e}"))
    }
}

/// The puts under way, and what each is for, so that even a put that
/// panicked is reported against its variation.
#[derive(Default)]
struct InFlight {
    tasks: JoinSet<Outcome>,
    meta: HashMap<tokio::task::Id, (usize, PaletteInfo, String)>,
}

impl InFlight {
    /// Waits for the next put to finish; `None` when none is under way.
    async fn next(&mut self) -> Option<Outcome> {
        let joined = self.tasks.join_next_with_id().await?;
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(error) => error.id(),
        };
        let meta = self.meta.remove(&id);
        match (joined, meta) {
            (Ok((_, outcome)), _) => Some(outcome),
            (Err(error), Some((index, palette, key))) => {
                let mut outcome =
                    Outcome::new(index, palette, Err(format!("storing {key}: {error}")), BTreeMap::new());
                outcome.key = Some(key);
                Some(outcome)
            }
            (Err(_), None) => None,
        }
    }
}

fn put_options(store: &Store, content_type: &str) -> PutOptions {
    let mut attributes = Attributes::new();
    if store.takes_attributes() {
        attributes.insert(Attribute::ContentType, content_type.to_string().into());
    }
    PutOptions { attributes, ..Default::default() }
}

/// One variation's puts: the image, then its thumbnail if it has one.
struct PutVariation {
    store: Store,
    index: usize,
    key: String,
    palette: PaletteInfo,
}

impl PutVariation {
    async fn run(
        self,
        file: EncodedFile,
        thumbnail: Option<(String, EncodedFile)>,
        mut timings_ms: BTreeMap<String, f64>,
    ) -> Outcome {
        let started = Instant::now();
        let bytes = file.bytes.len() as u64;
        let content_type = file.content_type.clone();
        let mut result = self.put(&self.key, file).await;
        if let (Ok(()), Some((key, thumbnail))) = (&result, &thumbnail) {
            result = self.put(key, thumbnail.clone()).await;
        }
        timings_ms.insert("store".into(), (started.elapsed().as_secs_f64() * 1e6).round() / 1e3);
        tracing::debug!(bytes, ok = result.is_ok(), "stored");
        let mut outcome = Outcome::new(self.index, self.palette, result, timings_ms);
        outcome.url = Some(self.store.url_of(&self.key));
        outcome.key = Some(self.key);
        outcome.bytes = bytes;
        outcome.content_type = Some(content_type);
        outcome.thumbnail = thumbnail.map(|(key, _)| key);
        outcome
    }

    async fn put(&self, key: &str, file: EncodedFile) -> Result<(), String> {
        let options = put_options(&self.store, &file.content_type);
        self.store
            .objects()
            .put_opts(&self.store.path_of(key), PutPayload::from(file.bytes), options)
            .await
            .map(drop)
            .map_err(|e| format!("storing {key}: {e}"))
    }
}
