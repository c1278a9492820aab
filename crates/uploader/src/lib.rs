//! Store finished variations through `object_store`, while they are still
//! being made.
//!
//! The producer (the `variegate` engine, via the CLI's glue) hands over
//! [`Upload`]s one at a time, usually straight out of a bounded channel.
//! [`Uploader::store_all`] takes them as they come and puts each under a
//! stable key ([`keys`]) on the uploader's own small tokio runtime, so
//! embedders need no async of their own. At most `max_in_flight` puts are
//! pending; past that it stops taking uploads, so a slow store throttles
//! the producer instead of growing memory. When the stream ends it writes a
//! `manifest.json` ([`Manifest`]) beside the images and returns one
//! [`Outcome`] per variation.
//!
//! This crate knows nothing of pixels, codecs or thread pools: to it a
//! variation is bytes, a content type and a palette's name and colours.

pub mod keys;
mod manifest;
mod store;
mod uploader;

pub use manifest::{Manifest, Outcome, SourceInfo, Status};
pub use store::{Store, StoreError, StoreOptions};
pub use uploader::{DEFAULT_UPLOADS, EncodedFile, PaletteInfo, StoreReport, Upload, Uploader, UploaderError};
