//! One variation's puts (the image, its other sizes, then its thumbnail),
//! spilled locally when the store refuses them, and the set of puts under way.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinSet;
use variegate_core::{Palette, VariationTimings};

use super::METADATA_NAMES;
use crate::error::ObjectError;
use crate::local::LocalDir;
use crate::manifest::{Failure, Outcome, OutcomeTimings, SizeOutcome, Status};
use crate::store::Store;

/// After a failed put: saves the bytes in the spill folder if there is one.
/// Returns the failure to record and where the bytes went.
pub(super) fn spill(
    dir: Option<&LocalDir>,
    key: &str,
    reason: ObjectError,
    bytes: &[u8],
) -> (Failure, Option<PathBuf>) {
    let Some(dir) = dir else { return (Failure::Store { key: key.into(), reason }, None) };
    match dir.write(key, bytes, false) {
        Ok(path) => (Failure::Store { key: key.into(), reason }, Some(path)),
        Err(error) => {
            let failure = Failure::StoreAndSpill {
                key: key.into(),
                reason,
                spill_path: dir.path_of(key),
                spill_reason: error.to_string(),
            };
            (failure, None)
        }
    }
}

/// The puts under way, and what each is for, so that a put that panicked
/// or was abandoned is still reported against its variation.
#[derive(Default)]
pub(super) struct InFlight {
    pub tasks: JoinSet<Outcome>,
    pub meta: HashMap<tokio::task::Id, PutVariation>,
}

impl InFlight {
    /// Waits for the next put to finish; `None` when none is under way.
    pub async fn next(&mut self) -> Option<Outcome> {
        while let Some(joined) = self.tasks.join_next_with_id().await {
            match joined {
                Ok((id, outcome)) => {
                    self.meta.remove(&id);
                    return Some(outcome);
                }
                // Every task is registered right after it is spawned, before any join.
                Err(error) => {
                    if let Some(put) = self.meta.remove(&error.id()) {
                        let reason = ObjectError::Task(error.to_string());
                        let failure = Failure::Store { key: put.key.clone(), reason };
                        return Some(put.not_stored(failure));
                    }
                }
            }
        }
        None
    }

    /// Aborts every put under way. Returns the outcomes of those that
    /// finished first, and the puts that did not.
    pub async fn abandon(&mut self) -> (Vec<Outcome>, Vec<PutVariation>) {
        self.tasks.abort_all();
        let (mut finished, mut abandoned) = (Vec::new(), Vec::new());
        while let Some(joined) = self.tasks.join_next_with_id().await {
            let id = match &joined {
                Ok((id, _)) => *id,
                Err(error) => error.id(),
            };
            let put = self.meta.remove(&id);
            match (joined, put) {
                (Ok((_, outcome)), _) => finished.push(outcome),
                (Err(_), Some(put)) => abandoned.push(put),
                (Err(_), None) => {}
            }
        }
        (finished, abandoned)
    }
}

/// One variation's puts: the image, then its thumbnail if it has one.
/// Each object has its own outcome: a thumbnail that cannot be stored is
/// spilled and recorded as such, beside a variation that was stored.
#[derive(Clone)]
pub(super) struct PutVariation {
    pub store: Store,
    pub keep_existing: bool,
    pub spill: Option<Arc<LocalDir>>,
    pub index: usize,
    pub key: String,
    pub palette: Palette,
    pub width: u32,
    pub height: u32,
    pub content_type: &'static str,
    pub bytes: Bytes,
    /// Whether sizes were asked for: the image is then the largest.
    pub sized: bool,
    /// With sizes, the smaller ones, ascending.
    pub smaller: Vec<Sized>,
    pub thumbnail: Option<Thumbnail>,
    pub made: VariationTimings,
}

impl PutVariation {
    pub async fn run(self) -> Outcome {
        let started = Instant::now();
        let colors: Vec<String> = self.palette.colors.iter().map(|c| c.to_string()).collect();
        let [name, description, colours] = METADATA_NAMES;
        let metadata = [
            (name, self.palette.name.clone()),
            (description, self.palette.description.clone().unwrap_or_default()),
            (colours, serde_json::to_string(&colors).unwrap_or_default()),
        ];
        let keep = self.keep_existing;
        let stored = self.store.put(&self.key, self.bytes.clone(), self.content_type, &metadata, keep).await;
        let mut outcome = self.outcome();
        match stored {
            Ok(()) => match self.store.url_of(&self.key).await {
                Ok(url) => outcome.url = Some(url),
                Err(error) => tracing::warn!(%error, "no link"),
            },
            Err(reason) => {
                // Nothing made is lost: the bytes go to the spill folder.
                let (failure, path) = spill_blocking(&self.spill, &self.key, reason, &self.bytes).await;
                outcome.set_spilled(failure, path);
            }
        }
        for size in &self.smaller {
            let stored = match outcome.status {
                Status::Stored => {
                    self.store.put(&size.key, size.bytes.clone(), self.content_type, &metadata, keep).await
                }
                _ => Err(ObjectError::NotTried("its variation was not stored")),
            };
            let mut entry = size.outcome();
            match stored {
                Ok(()) => entry.url = self.store.url_of(&size.key).await.ok(),
                Err(reason) => {
                    let (failure, path) = spill_blocking(&self.spill, &size.key, reason, &size.bytes).await;
                    (entry.error, entry.spill_path) = (Some(failure), path);
                }
            }
            outcome.sizes.push(entry);
        }
        if self.sized {
            outcome.set_largest_size();
        }
        if let Some(Thumbnail { key, bytes, content_type }) = &self.thumbnail {
            let stored = match outcome.status {
                Status::Stored => self.store.put(key, bytes.clone(), content_type, &metadata, keep).await,
                _ => Err(ObjectError::NotTried("its variation was not stored")),
            };
            match stored {
                Ok(()) => outcome.thumbnail = Some(key.clone()),
                Err(reason) => {
                    let (failure, path) = spill_blocking(&self.spill, key, reason, bytes).await;
                    outcome.set_thumbnail_spilled(failure, path);
                }
            }
        }
        outcome.timings.store = started.elapsed();
        tracing::debug!(bytes = outcome.bytes, status = ?outcome.status, "stored");
        outcome
    }

    /// Its outcome, stored until said otherwise.
    fn outcome(&self) -> Outcome {
        Outcome {
            index: self.index,
            palette: self.palette.clone(),
            key: Some(self.key.clone()),
            url: None,
            width: Some(self.width),
            height: Some(self.height),
            bytes: self.bytes.len() as u64,
            content_type: Some(self.content_type.to_string()),
            status: Status::Stored,
            error: None,
            spill_path: None,
            thumbnail: None,
            thumbnail_error: None,
            thumbnail_spill_path: None,
            sizes: Vec::new(),
            srcset: None,
            timings: OutcomeTimings { made: self.made, store: Duration::ZERO },
        }
    }

    /// Its outcome when its put ended without one (it panicked).
    fn not_stored(self, failure: Failure) -> Outcome {
        let mut outcome = Outcome::not_stored(self.index, self.palette, failure, self.made);
        outcome.key = Some(self.key);
        outcome
    }

    /// After the grace ran out on its put (cancelled for `reason`): its bytes
    /// (and thumbnail's) go to the spill folder, `why` recorded; without one
    /// it is cancelled.
    pub fn spill_abandoned(self, reason: &str, why: &ObjectError) -> Outcome {
        if self.spill.is_none() {
            return self.not_stored(Failure::Cancelled { reason: reason.into() });
        }
        let mut outcome = self.outcome();
        let (failure, path) = spill(self.spill.as_deref(), &self.key, why.clone(), &self.bytes);
        outcome.set_spilled(failure, path);
        for size in &self.smaller {
            let mut entry = size.outcome();
            let (failure, path) = spill(self.spill.as_deref(), &size.key, why.clone(), &size.bytes);
            (entry.error, entry.spill_path) = (Some(failure), path);
            outcome.sizes.push(entry);
        }
        if self.sized {
            outcome.set_largest_size();
        }
        if let Some(Thumbnail { key, bytes, .. }) = &self.thumbnail {
            let (failure, path) = spill(self.spill.as_deref(), key, why.clone(), bytes);
            outcome.set_thumbnail_spilled(failure, path);
        }
        outcome
    }
}

/// [`spill`] on a blocking thread.
async fn spill_blocking(
    dir: &Option<Arc<LocalDir>>,
    key: &str,
    reason: ObjectError,
    bytes: &Bytes,
) -> (Failure, Option<PathBuf>) {
    let (dir, owned_key, bytes) = (dir.clone(), key.to_string(), bytes.clone());
    tokio::task::spawn_blocking(move || spill(dir.as_deref(), &owned_key, reason, &bytes))
        .await
        .unwrap_or_else(|error| {
            (Failure::Store { key: key.into(), reason: ObjectError::Task(error.to_string()) }, None)
        })
}

/// One of a variation's smaller sizes, to store at its own key.
#[derive(Clone)]
pub(super) struct Sized {
    pub key: String,
    pub bytes: Bytes,
    pub width: u32,
    pub height: u32,
}

impl Sized {
    /// Its entry in the record, not stored until said otherwise.
    fn outcome(&self) -> SizeOutcome {
        SizeOutcome {
            key: self.key.clone(),
            url: None,
            width: self.width,
            height: self.height,
            bytes: self.bytes.len() as u64,
            error: None,
            spill_path: None,
        }
    }
}

/// A variation's thumbnail, to store at its own key.
#[derive(Clone)]
pub(super) struct Thumbnail {
    pub key: String,
    pub bytes: Bytes,
    pub content_type: &'static str,
}
