//! Draining variations into a store, a bounded number of puts at a time, on
//! a small tokio runtime the uploader owns.

use std::collections::BTreeMap;
use std::time::Instant;

use std::collections::HashMap;
use std::path::PathBuf;

use bytes::Bytes;
use object_store::{Attribute, Attributes, PutMultipartOptions, PutOptions, PutPayload, WriteMultipart};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::keys::{manifest_key, run_folder, variation_key};
use crate::manifest::{Manifest, Outcome, SourceInfo, Status};
use crate::store::{Store, StoreError, one_line};

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
    spill_dir: Option<PathBuf>,
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
        Ok(Uploader { store, runtime, max_in_flight, spill_dir: None })
    }

    /// Where to save the bytes of a variation that cannot be stored, under
    /// its key, so that nothing made is lost. Default: nowhere (it fails).
    pub fn with_spill_dir(mut self, dir: impl Into<PathBuf>) -> Uploader {
        self.spill_dir = Some(dir.into());
        self
    }

    /// Checks that the store answers (endpoint, bucket, credentials), so a
    /// run can fail fast before any pixel work. See [`Store::check`].
    pub fn check(&self) -> Result<(), StoreError> {
        self.runtime.block_on(self.store.check())
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
                        spill_dir: self.spill_dir.clone(),
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
            spilled: outcomes.iter().filter(|o| o.status == Status::Spilled).count(),
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
        let file = EncodedFile {
            bytes: json.into(),
            content_type: "application/json".into(),
            extension: "json".into(),
        };
        let stored = self.runtime.block_on(put(&self.store, key, &file, &[]));
        match (stored, &self.spill_dir) {
            (Ok(()), _) => Ok(()),
            (Err(error), Some(dir)) => match spill(dir, key, &file) {
                Ok(path) => Err(format!("{error}; saved to {}", path.display())),
                Err(spill_error) => Err(format!("{error}; {spill_error}")),
            },
            (Err(error), None) => Err(error),
        }
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

/// Objects larger than this go up in parts of this size on cloud stores.
const PART_SIZE: usize = 8 << 20;

/// Stores one file: content type and `metadata` as attributes where the
/// store takes them, in parts when it is large.
async fn put(
    store: &Store,
    key: &str,
    file: &EncodedFile,
    metadata: &[(&'static str, String)],
) -> Result<(), String> {
    let mut attributes = Attributes::new();
    if store.takes_attributes() {
        attributes.insert(Attribute::ContentType, file.content_type.clone().into());
        for (name, value) in metadata {
            attributes.insert(Attribute::Metadata((*name).into()), header_safe(value).into());
        }
    }
    let path = store.path_of(key);
    let failed = |e: object_store::Error| format!("storing {key}: {}", one_line(&e));
    if store.is_cloud() && file.bytes.len() > PART_SIZE {
        let options = PutMultipartOptions { attributes, ..Default::default() };
        let upload = store.objects().put_multipart_opts(&path, options).await.map_err(failed)?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        parts.put(file.bytes.clone());
        parts.finish().await.map(drop).map_err(failed)
    } else {
        let options = PutOptions { attributes, ..Default::default() };
        store
            .objects()
            .put_opts(&path, PutPayload::from(file.bytes.clone()), options)
            .await
            .map(drop)
            .map_err(failed)
    }
}

/// User metadata travels as HTTP headers: percent-encode everything that is
/// not printable ASCII (and `%` itself, so decoding is unambiguous).
fn header_safe(text: &str) -> String {
    const UNSAFE: &AsciiSet = &CONTROLS.add(b'%');
    utf8_percent_encode(text, UNSAFE).to_string()
}

/// Saves bytes that could not be stored under `dir/<key>`, whole or not at
/// all (written to a temporary name, then renamed).
fn spill(dir: &std::path::Path, key: &str, file: &EncodedFile) -> Result<PathBuf, String> {
    let path = key.split('/').fold(dir.to_path_buf(), |path, part| path.join(part));
    let write = || -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let partial = path.with_extension("partial");
        std::fs::write(&partial, &file.bytes)?;
        std::fs::rename(&partial, &path)
    };
    write().map(|()| path.clone()).map_err(|e| format!("could not save it to {} either: {e}", path.display()))
}

/// One variation's puts: the image, then its thumbnail if it has one.
struct PutVariation {
    store: Store,
    index: usize,
    key: String,
    palette: PaletteInfo,
    spill_dir: Option<PathBuf>,
}

impl PutVariation {
    async fn run(
        self,
        file: EncodedFile,
        thumbnail: Option<(String, EncodedFile)>,
        mut timings_ms: BTreeMap<String, f64>,
    ) -> Outcome {
        let started = Instant::now();
        let metadata = [
            ("palette-name", self.palette.name.clone()),
            ("palette-description", self.palette.description.clone().unwrap_or_default()),
            ("palette-colors", serde_json::to_string(&self.palette.colors).unwrap_or_default()),
        ];
        let mut result = put(&self.store, &self.key, &file, &metadata).await;
        if let (Ok(()), Some((key, thumbnail))) = (&result, &thumbnail) {
            result = put(&self.store, key, thumbnail, &metadata).await;
        }
        timings_ms.insert("store".into(), (started.elapsed().as_secs_f64() * 1e6).round() / 1e3);
        tracing::debug!(bytes = file.bytes.len(), ok = result.is_ok(), "stored");

        let mut outcome = Outcome::new(self.index, self.palette, result.clone(), timings_ms);
        outcome.bytes = file.bytes.len() as u64;
        outcome.content_type = Some(file.content_type.clone());
        match result {
            Ok(()) => {
                outcome.thumbnail = thumbnail.map(|(key, _)| key);
                match self.store.url_of(&self.key).await {
                    Ok(url) => outcome.url = Some(url),
                    Err(error) => tracing::warn!(%error, "no link"),
                }
            }
            Err(error) => {
                // Nothing made is lost: the bytes go to the spill folder.
                if let Some(dir) = &self.spill_dir {
                    match spill(dir, &self.key, &file) {
                        Ok(path) => {
                            outcome.status = Status::Spilled;
                            outcome.spill_path = Some(path.display().to_string());
                        }
                        Err(spill_error) => outcome.error = Some(format!("{error}; {spill_error}")),
                    }
                }
            }
        }
        outcome.key = Some(self.key);
        outcome
    }
}
