//! Where a listed image is read from: a local file, or an object of a store
//! opened once per root and shared; its size and modification time (or
//! ETag) tell a resumed batch whether it changed.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use object_store::ObjectStoreExt;
use variegate_core::Engine;

use super::{Batch, ImageFailure};
use crate::list::{ImageLocation, ListEntry};
use variegate_store::{ObjectError, Store};

/// Where an image is read from.
pub(super) enum Input {
    Local(PathBuf),
    Stored { store: Store, path: object_store::path::Path },
}

/// An input's size and version (modification time, or ETag), to tell
/// whether it changed since its marker.
pub(super) type Version = (u64, Option<String>);

impl Batch {
    /// Where an image is read from.
    pub(super) fn input(&self, entry: &ListEntry) -> Result<Input, ImageFailure> {
        let (root, path) = match &entry.location {
            ImageLocation::Local(path) => return Ok(Input::Local(path.clone())),
            ImageLocation::Stored { root, key } => (root.clone(), key.clone()),
        };
        let mut inputs = self.inputs.lock().unwrap_or_else(PoisonError::into_inner);
        let store = match inputs.get(&root) {
            Some(store) => store.clone(),
            None => {
                let store = Store::open(&root, self.options.input_store).map_err(|source| {
                    ImageFailure::InputStore { image: entry.image.clone(), source: Arc::new(source) }
                })?;
                inputs.insert(root, store.clone());
                store
            }
        };
        Ok(Input::Stored { store, path })
    }

    /// Its size and version; `None` when they cannot be read (the image is
    /// then neither skipped nor marked).
    pub(super) fn version(&self, input: &Input) -> Option<Version> {
        match input {
            Input::Local(path) => {
                let metadata = std::fs::metadata(path).ok()?;
                let modified = metadata.modified().ok().and_then(|m| m.duration_since(UNIX_EPOCH).ok());
                Some((metadata.len(), modified.map(|m| format!("{}.{:09}", m.as_secs(), m.subsec_nanos()))))
            }
            Input::Stored { store, path } => {
                let head =
                    self.uploader.within_grace(&self.canceller, store.objects().head(path)).ok()?.ok()?;
                Some((head.size, Some(head.e_tag.unwrap_or_else(|| head.last_modified.to_rfc3339()))))
            }
        }
    }

    /// Its bytes, within `engine`'s file limit; `image` names it as listed.
    pub(super) fn read_within(
        &self,
        engine: &Engine,
        input: &Input,
        image: &str,
    ) -> Result<Bytes, ImageFailure> {
        match input {
            // Read from its normal path, named as listed.
            Input::Local(path) => {
                Ok(variegate_core::decoding::read_image_file(path, image, engine.file_limit())
                    .map(Bytes::from)?)
            }
            // Its size, from the answer's head, is checked before its body is read.
            Input::Stored { store, path } => {
                let limit = engine.file_limit();
                let get = async {
                    let object = store.objects().get(path).await?;
                    if object.meta.size > limit.bytes() {
                        return Ok(Err(limit.refuse(image, Some(object.meta.size))));
                    }
                    object.bytes().await.map(Ok)
                };
                let read = self
                    .uploader
                    .within_grace(&self.canceller, get)
                    .and_then(|read| read.map_err(ObjectError::from))
                    .map_err(|reason| ImageFailure::Read { image: image.into(), reason })?;
                Ok(read?)
            }
        }
    }
}
