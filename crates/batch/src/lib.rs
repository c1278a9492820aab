//! Drive many images through one engine and one store: a list in, a shard
//! of it taken, one result a line out, and a batch that a killed or
//! preempted machine resumes where it stopped.
//!
//! [`Batch`] reads a list ([`list`]: text or JSONL, a file or an object of
//! the store), keeps its [`Shard`] (every entry in exactly one shard of any
//! count, by a hash of its identity), and keeps a few images in flight on
//! one `variegate-core` engine, sharing its memory budget. Each image is
//! read within that budget (`driver/input`), made and stored as a single
//! run is, by `variegate-store`'s [`Uploader`](variegate_store::Uploader),
//! and logged as one [`ImageResult`] a line in a [`ResultsLog`]
//! (`driver/results`). A marker beside the outputs records each image done
//! (`driver/resume`, keys in [`keys`]), so that a batch run again with
//! `resume` skips it. Errors stay typed ([`ImageFailure`], [`ListError`],
//! [`ShardError`]) until a results line writes their one-line message.
//!
//! ```no_run
//! use variegate_batch::{Batch, BatchOptions, ResultsLog};
//! use variegate_core::{Engine, Palette};
//! use variegate_store::{Store, Uploader};
//!
//! let engine = Engine::builder().build()?;
//! let uploader = Uploader::new(Store::from_location("./variations")?)?;
//! let palettes = Palette::load_list("palettes.json")?;
//! let batch = Batch::new(engine, uploader, palettes, BatchOptions::default());
//! let list = batch.read_list("catalogue.txt")?;
//! let mut results = ResultsLog::open(&batch.default_results_path())?;
//! let report = batch.run(&list.entries, &mut results, &mut ());
//! println!("{} stored, {} failed", report.stored, report.failed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod driver;
pub mod keys;
pub mod list;
mod shard;

pub use driver::{
    Batch, BatchObserver, BatchOptions, BatchReport, ImageFailure, ImageResult, ImageStatus, ImageTimings,
    PublishError, ResultsLog,
};
pub use list::{ListEntry, ListError};
pub use shard::{Shard, ShardError};

// Crates whose types appear in this crate's API.
pub use variegate_core;
pub use variegate_store;
