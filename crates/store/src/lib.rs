//! Store the variations of a `variegate-core` [`Job`](variegate_core::Job)
//! through `object_store` while the engine is still making them, and record
//! the run in a manifest.
//!
//! [`Uploader::store_job`] takes the job itself: it drains the engine's
//! bounded channel, puts each variation under a key named by its recipe
//! ([`keys`]) on the uploader's own small tokio runtime (so embedders need
//! no async), and ends with `manifest.json` beside the images: one
//! [`Outcome`] a palette, every error and timing typed until it is written.
//! At most `uploads` puts are pending; past that it stops taking
//! variations, so a slow store throttles the engine instead of growing
//! memory. What the store refuses is saved in a spill folder; what a
//! cancelled job had not stored when its grace ran out is recorded as
//! cancelled. Local folders are written whole or not at all, staged where
//! nothing else looks, and a run clears what a killed one left half-written.
//!
//! ```no_run
//! use variegate_core::{Engine, Palette};
//! use variegate_store::{Store, Uploader};
//!
//! let engine = Engine::builder().build()?;
//! let uploader = Uploader::new(Store::from_location("./variations")?)?;
//! uploader.check()?;
//! let job = engine.start(engine.open("coffee.png")?, Palette::load_list("palettes.json")?)?;
//! let report = uploader.store_job(job);
//! println!("{} of {} stored", report.manifest.stored, report.manifest.variations.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Batches of many images (lists, shards, results, resume) are
//! `variegate-batch`'s, which drives this crate's [`Uploader`] an image at
//! a time.
//!
//! This crate knows nothing of pixels, codecs or thread pools: to it a
//! variation is an encoded file, a palette and a recipe, and an image is
//! bytes the engine decodes.
#![warn(missing_docs)]

mod error;
pub mod keys;
mod local;
mod manifest;
mod store;
mod upload;

pub use error::{ObjectError, StoreError};
pub use manifest::{Failure, Manifest, Outcome, OutcomeTimings, RunStatus, RunTimings, SizeOutcome, Status};
pub use store::{Store, StoreOptions};

/// Whether files can be made in `dir`: tried by making one and removing
/// it. With `create`, a missing `dir` passes if its nearest existing
/// ancestor takes files; no folder is made. For checking, before any work,
/// the folders of other outputs (a report, a contact sheet, results).
pub fn check_folder(dir: &std::path::Path, create: bool) -> std::io::Result<()> {
    local::probe(dir, create)
}
/// The spill folder when none is given: `./variegate-spill`, or, where the
/// working folder cannot take it (a container's read-only working folder),
/// `variegate-spill` in the temporary folder (`$TMPDIR`, else `/tmp`). If
/// neither takes files, the first, which the uploader's check then refuses
/// by name.
pub fn default_spill_dir() -> std::path::PathBuf {
    let here = std::path::PathBuf::from("./variegate-spill");
    let temp = std::env::temp_dir().join("variegate-spill");
    [&here, &temp].into_iter().find(|dir| local::probe(dir, true).is_ok()).unwrap_or(&here).clone()
}
/// `path` without `.`, `..` or repeated separators, taken lexically (a
/// `..` after a link is not resolved through it): how lists and stores
/// name local paths alike.
pub fn normal_path(path: &std::path::Path) -> std::path::PathBuf {
    local::normal(path)
}
pub use upload::{
    DEFAULT_GRACE, DEFAULT_UPLOADS, EmergencyStop, LOCAL_UPLOADS, METADATA_NAMES, Observer, StoreReport,
    Uploader, UploaderBuilder, UploaderError, default_uploads,
};

// Crates whose types appear in this crate's API.
pub use object_store;
pub use variegate_core;
