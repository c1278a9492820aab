//! A run on a thread of its own: [`Engine::start`] hands back a [`Job`]
//! whose channel brings the variations as they are made, and whose
//! [`Job::wait`] gives the [`RunSummary`].

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::{Engine, Variation, panic_message};
use crate::decode::{SourceImage, SourceInfo};
use crate::engine::cancel::Canceller;
use crate::palette::Palette;
use crate::recipe::Recipe;

/// What a finished run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Per-image preparation (clustering, indexing, colour conversions).
    pub analyse: Duration,
    /// The whole run, analysis included.
    pub total: Duration,
    /// Variations made.
    pub succeeded: usize,
    /// Variations that failed (cancelled ones not counted).
    pub failed: usize,
    /// Variations not started because the job was cancelled.
    pub cancelled: usize,
}

/// A run started with [`Engine::start`]: read its variations as they come,
/// then [`wait`](Job::wait) for the summary. It also carries what a store
/// needs to name and record them: the source, the recipe and its digest,
/// and the palettes.
#[derive(Debug)]
pub struct Job {
    variations: Receiver<Variation>,
    handle: JoinHandle<RunSummary>,
    source: SourceInfo,
    decode_time: Duration,
    recipe: Recipe,
    digest: String,
    palettes: Arc<[Palette]>,
    canceller: Canceller,
}

impl Job {
    /// The channel the variations arrive on; it closes when the run is over.
    /// Exactly one variation arrives per palette, cancelled ones included.
    pub fn variations(&self) -> &Receiver<Variation> {
        &self.variations
    }
    /// The image being recoloured.
    pub fn source(&self) -> &SourceInfo {
        &self.source
    }
    /// How long the image took to read and decode, before the job started.
    pub fn decode_time(&self) -> Duration {
        self.decode_time
    }
    /// Everything besides the image and palettes that decides the bytes.
    pub fn recipe(&self) -> &Recipe {
        &self.recipe
    }
    /// [`Recipe::digest`] of the recipe and this job's palettes.
    pub fn digest(&self) -> &str {
        &self.digest
    }
    /// The palettes, in order: variation `i` is made with `palettes()[i]`.
    pub fn palettes(&self) -> &[Palette] {
        &self.palettes
    }
    /// A handle that cancels this job, e.g. from a signal handler.
    pub fn canceller(&self) -> &Canceller {
        &self.canceller
    }
    /// Waits for the run to finish. Drops whatever was not read.
    pub fn wait(self) -> RunSummary {
        drop(self.variations);
        self.handle.join().unwrap_or_else(|payload| {
            // Every stage catches its own panics; this is a bug in the engine.
            tracing::error!(panic = panic_message(&*payload), "the run thread panicked");
            RunSummary::default()
        })
    }
}

impl Engine {
    /// Starts a run on a thread of its own and returns at once; the only
    /// error is failing to start that thread.
    pub fn start(
        &self,
        image: impl Into<Arc<SourceImage>>,
        palettes: impl Into<Arc<[Palette]>>,
    ) -> std::io::Result<Job> {
        self.start_with(image, palettes, Canceller::new())
    }

    /// [`Engine::start`], cancelled by `canceller`: one canceller may stop
    /// many jobs (a batch's), each accounting for all its palettes.
    pub fn start_with(
        &self,
        image: impl Into<Arc<SourceImage>>,
        palettes: impl Into<Arc<[Palette]>>,
        canceller: Canceller,
    ) -> std::io::Result<Job> {
        let (image, palettes) = (image.into(), palettes.into());
        let (sender, variations) = self.channel();
        let recipe = self.recipe();
        let digest = recipe.digest(&palettes);
        let (source, decode_time) = (image.info(), image.decode_time());
        let engine = self.clone();
        let (run_palettes, run_canceller) = (palettes.clone(), canceller.clone());
        let handle = std::thread::Builder::new()
            .name("variegate-run".into())
            .spawn(move || engine.run(&image, &run_palettes, &sender, &run_canceller))?;
        Ok(Job { variations, handle, source, decode_time, recipe, digest, palettes, canceller })
    }
}
