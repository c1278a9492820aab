//! Resuming: after an image is stored whole, a small marker goes beside the
//! outputs (its key: [`keys::marker`](crate::keys::marker)); with `resume`,
//! an image whose marker is there and whose size and modification time are
//! unchanged is skipped, at the cost of one small read and one stat.

use bytes::Bytes;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use super::Batch;

/// The marker of an image stored whole, for resuming.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct DoneMarker {
    pub image: String,
    pub size: u64,
    pub modified: Option<String>,
    pub folder: String,
    pub manifest: String,
}

impl Batch {
    /// An image's marker, if it has one.
    pub(super) fn marker(&self, key: &str) -> Option<DoneMarker> {
        let store = self.uploader.store();
        let path = store.path_of(key);
        let get = async { store.objects().get(&path).await?.bytes().await };
        let bytes = self.uploader.within_grace(&self.canceller, get).ok()?.ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes an image's marker. Without it an image is only done again on
    /// resume: a failure here costs time, never correctness.
    pub(super) fn mark(&self, key: &str, marker: &DoneMarker) {
        let Ok(json) = serde_json::to_vec(marker) else { return };
        if let Err(error) = self.uploader.put(key, Bytes::from(json), "application/json", &self.canceller) {
            tracing::warn!(image = marker.image, %error, "could not write the resume marker");
        }
    }
}
