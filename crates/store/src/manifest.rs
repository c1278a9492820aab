//! The record of a run: one [`Outcome`] a palette, written as
//! `manifest.json` beside the images and returned to the caller.
//!
//! `Manifest::begin` starts it from the job, each outcome is recorded in
//! its palette's place as it is known, and `Manifest::finish` counts them.
//! It is built from the engine's own types ([`Palette`], [`SourceInfo`],
//! [`Recipe`], [`VariationTimings`], [`VariationError`]), so errors and
//! timings stay typed until they are written; errors are written as their
//! one-line messages and timings in milliseconds.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use variegate_core::{Job, Palette, Recipe, SourceInfo, VariationError, VariationTimings};

use crate::error::ObjectError;

/// What became of one variation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// In the store, at its key.
    Stored,
    /// Not stored, but saved in the spill folder (`spill_path`): re-run to store it.
    Spilled,
    /// Not made, or neither stored nor spilled.
    Failed,
    /// Not made or not stored because the run was cancelled (a signal).
    Cancelled,
}

/// Why a variation is not stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The engine did not make it.
    #[error(transparent)]
    Made(#[from] VariationError),
    /// The store refused it, after any retries.
    #[error("storing {key}: {reason}")]
    Store {
        /// The key it was to be stored at.
        key: String,
        /// What the store said.
        reason: ObjectError,
    },
    /// The store refused it, and it could not be saved locally either.
    #[error("storing {key}: {reason}; could not save it to {} either: {spill_reason}", spill_path.display())]
    StoreAndSpill {
        /// The key it was to be stored at.
        key: String,
        /// What the store said.
        reason: ObjectError,
        /// Where it was to be saved.
        spill_path: PathBuf,
        /// What the local file system said.
        spill_reason: String,
    },
    /// The run was cancelled while it was being stored.
    #[error("cancelled ({reason}) before it was stored")]
    Cancelled {
        /// Why the run was cancelled, e.g. `SIGTERM`.
        reason: String,
    },
    /// An error read back from a manifest: its message only.
    #[error("{0}")]
    Recorded(String),
}

impl Serialize for Failure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Failure {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Failure, D::Error> {
        String::deserialize(deserializer).map(Failure::Recorded)
    }
}

/// Time spent on one variation, per stage, in the manifest's `timings_ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeTimings {
    /// Recolouring and encoding, as the engine measured them.
    #[serde(flatten)]
    pub made: VariationTimings,
    /// Storing it (and its thumbnail), spilling included.
    #[serde(with = "variegate_core::millis")]
    pub store: Duration,
}

/// One variation's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Position of its palette in the run's list, from 0.
    pub index: usize,
    /// The palette: `name`, `colors`, `description` in the document.
    #[serde(flatten)]
    pub palette: Palette,
    /// Key relative to the store's prefix; `None` if nothing was made to store.
    pub key: Option<String>,
    /// Where to fetch it: a presigned link for cloud stores, `file://` locally.
    pub url: Option<String>,
    /// Width of the stored image, in pixels.
    pub width: Option<u32>,
    /// Height of the stored image, in pixels.
    pub height: Option<u32>,
    /// Size of the encoded file.
    pub bytes: u64,
    /// e.g. `image/png`.
    pub content_type: Option<String>,
    /// What became of it.
    pub status: Status,
    /// Why it is not stored.
    pub error: Option<Failure>,
    /// Where the bytes were saved locally when they could not be stored.
    pub spill_path: Option<PathBuf>,
    /// Key of the thumbnail, when one was stored.
    pub thumbnail: Option<String>,
    /// Why the thumbnail (asked for) is not stored; written only then. A
    /// variation stored without its thumbnail leaves the run partial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_error: Option<Failure>,
    /// Where the thumbnail was saved locally when it could not be stored;
    /// written only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_spill_path: Option<PathBuf>,
    /// With sizes, every file of it, ascending (the last is `key`'s);
    /// written only then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<SizeOutcome>,
    /// With sizes, the files stored as an `<img srcset>` gives them: each
    /// name relative to the run's folder (where `manifest.json` is) and its
    /// width, e.g. `00-coral-480.webp 480w, 00-coral-960.webp 960w`; written
    /// only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srcset: Option<String>,
    /// Milliseconds per stage.
    #[serde(rename = "timings_ms")]
    pub timings: OutcomeTimings,
}

/// One size of a variation ([`Outcome::sizes`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SizeOutcome {
    /// Key relative to the store's prefix.
    pub key: String,
    /// Where to fetch it, when it was stored.
    pub url: Option<String>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size of the encoded file.
    pub bytes: u64,
    /// Why it is not stored; written only then. A variation stored without
    /// all its sizes leaves the run partial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// Where it was saved locally when it could not be stored; written only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spill_path: Option<PathBuf>,
}

impl Outcome {
    /// Not stored, for `failure`: spilled if `spill_path` is where its bytes went.
    pub(crate) fn set_spilled(&mut self, failure: Failure, spill_path: Option<PathBuf>) {
        self.status = if spill_path.is_some() { Status::Spilled } else { Status::Failed };
        self.spill_path = spill_path;
        self.error = Some(failure);
    }

    /// With sizes: the variation's own file as the last (largest) of its
    /// sizes, and the `srcset` of those stored.
    pub(crate) fn set_largest_size(&mut self) {
        if let (Some(key), Some(width), Some(height)) = (&self.key, self.width, self.height) {
            let stored = self.status == Status::Stored;
            self.sizes.push(SizeOutcome {
                key: key.clone(),
                url: self.url.clone(),
                width,
                height,
                bytes: self.bytes,
                error: if stored { None } else { self.error.clone() },
                spill_path: self.spill_path.clone(),
            });
        }
        let stored: Vec<String> = self
            .sizes
            .iter()
            .filter(|size| size.error.is_none())
            .map(|size| format!("{} {}w", size.key.rsplit('/').next().unwrap_or(&size.key), size.width))
            .collect();
        self.srcset = (!stored.is_empty()).then(|| stored.join(", "));
    }

    /// Its thumbnail not stored, for `failure`; `spill_path` is where its
    /// bytes went, if anywhere.
    pub(crate) fn set_thumbnail_spilled(&mut self, failure: Failure, spill_path: Option<PathBuf>) {
        self.thumbnail_error = Some(failure);
        self.thumbnail_spill_path = spill_path;
    }

    /// A variation that is not stored, for `failure`: failed, or cancelled
    /// if that is why.
    pub(crate) fn not_stored(
        index: usize,
        palette: Palette,
        failure: Failure,
        made: VariationTimings,
    ) -> Outcome {
        let cancelled =
            matches!(failure, Failure::Cancelled { .. } | Failure::Made(VariationError::Cancelled { .. }));
        Outcome {
            index,
            palette,
            key: None,
            url: None,
            width: None,
            height: None,
            bytes: 0,
            content_type: None,
            status: if cancelled { Status::Cancelled } else { Status::Failed },
            error: Some(failure),
            spill_path: None,
            thumbnail: None,
            thumbnail_error: None,
            thumbnail_spill_path: None,
            sizes: Vec::new(),
            srcset: None,
            timings: OutcomeTimings { made, store: Duration::ZERO },
        }
    }
}

/// How a run ended, as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every variation stored.
    Complete,
    /// Some stored or spilled, others not.
    Partial,
    /// Nothing stored and nothing spilled.
    Failed,
    /// Cancelled (a signal) before it was done; `interrupted` says why.
    Interrupted,
}

/// Time spent on the whole run, in the manifest's `timings_ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTimings {
    /// Reading and decoding the image.
    #[serde(with = "variegate_core::millis")]
    pub decode: Duration,
    /// The look's per-image preparation.
    #[serde(with = "variegate_core::millis")]
    pub analyse: Duration,
    /// From the start of decoding to the last variation's outcome.
    #[serde(with = "variegate_core::millis")]
    pub total: Duration,
}

/// The whole run: the document stored as `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// How the run ended.
    pub status: RunStatus,
    /// Why it was interrupted, e.g. `SIGTERM`.
    pub interrupted: Option<String>,
    /// The image.
    pub source: SourceInfo,
    /// Everything besides the image and palettes that decided the bytes.
    pub recipe: Recipe,
    /// [`Recipe::digest`] of the recipe and the palettes; its first 8 hex
    /// digits name the run's folder.
    pub digest: String,
    /// The store the run went to.
    pub store: String,
    /// The run folder, relative to the store's prefix.
    pub folder: String,
    /// One record a palette, in palette order.
    pub variations: Vec<Outcome>,
    /// Variations stored.
    pub stored: usize,
    /// Variations saved in the spill folder instead.
    pub spilled: usize,
    /// Variations neither stored nor spilled (cancelled ones apart).
    pub failed: usize,
    /// Variations cancelled.
    pub cancelled: usize,
    /// Milliseconds per stage of the whole run.
    #[serde(rename = "timings_ms")]
    pub timings: RunTimings,
}

impl Manifest {
    /// The record of `job`, about to be stored in `folder` of `store`:
    /// every palette not made until its outcome is recorded, so that the
    /// record says so should the engine ever not send one.
    pub(crate) fn begin(job: &Job, store: &str, folder: &str) -> Manifest {
        let variations = job
            .palettes()
            .iter()
            .enumerate()
            .map(|(index, palette)| {
                let reason = "the engine stopped before making it".to_string();
                let error = VariationError::Panicked { name: palette.name.clone(), reason };
                Outcome::not_stored(index, palette.clone(), error.into(), Default::default())
            })
            .collect();
        Manifest {
            status: RunStatus::Failed,
            interrupted: None,
            source: job.source().clone(),
            recipe: job.recipe().clone(),
            digest: job.digest().to_string(),
            store: store.to_string(),
            folder: folder.to_string(),
            variations,
            stored: 0,
            spilled: 0,
            failed: 0,
            cancelled: 0,
            timings: RunTimings::default(),
        }
    }

    /// Records a variation's outcome in its palette's place.
    pub(crate) fn record(&mut self, outcome: Outcome) {
        if let Some(slot) = self.variations.get_mut(outcome.index) {
            *slot = outcome;
        }
    }

    /// Ends the record: why the run was interrupted, if it was, its
    /// timings, and the counts and status from the outcomes.
    pub(crate) fn finish(&mut self, interrupted: Option<String>, timings: RunTimings) {
        self.interrupted = interrupted;
        self.timings = timings;
        self.tally();
    }

    /// Counts the outcomes and sets the run's status from them.
    fn tally(&mut self) {
        let count = |status| self.variations.iter().filter(|o| o.status == status).count();
        self.stored = count(Status::Stored);
        self.spilled = count(Status::Spilled);
        self.failed = count(Status::Failed);
        self.cancelled = count(Status::Cancelled);
        let thumbnails_stored = self
            .variations
            .iter()
            .all(|o| o.thumbnail_error.is_none() && o.sizes.iter().all(|size| size.error.is_none()));
        self.status = if self.interrupted.is_some() && self.stored < self.variations.len() {
            RunStatus::Interrupted
        } else if self.stored == self.variations.len() && thumbnails_stored {
            RunStatus::Complete
        } else if self.stored + self.spilled > 0 {
            RunStatus::Partial
        } else {
            RunStatus::Failed
        };
    }
}
