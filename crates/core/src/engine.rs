//! The engine: one rayon pool that turns (image, palettes) into a stream of
//! encoded variations on a bounded channel.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::analysis::AnalysisOptions;
use crate::cancel::Canceller;
use crate::encode::{BufferGauge, EncodeOptions, EncodedImage, OutputFormat};
use crate::error::{BuildError, DecodeError, LookError, OverBudget, PaletteError, VariationError};
use crate::look::{Look, LookSpec, LookSpecError, PreparedLook, ShiftLook};
use crate::memory::{MemoryPlan, default_max_memory};
use crate::palette::Palette;
use crate::pixels::{Channels, Rgb8};
use crate::preview::Preview;
use crate::recipe::{OUTPUT_VERSION, Recipe};
use crate::resize::fit;
use crate::source::{ColourProfiles, DecodeOptions, ImageHeader, SourceImage, SourceInfo};

/// One palette's result, sent down the channel the moment it is done.
#[derive(Debug)]
pub struct Variation {
    /// Position of the palette in the list the run was given, from 0.
    pub index: usize,
    /// The palette it was made with.
    pub palette: Palette,
    /// The encoded image, or why there is none.
    pub result: Result<EncodedImage, VariationError>,
    /// A small copy encoded like the variation, when the engine was asked
    /// for thumbnails ([`EngineBuilder::thumbnail`]).
    pub thumbnail: Option<EncodedImage>,
    /// A small copy's pixels, when the engine was asked for previews
    /// ([`EngineBuilder::previews`]), e.g. for a contact sheet.
    pub preview: Option<Preview>,
    /// Time spent on it, per stage.
    pub timings: VariationTimings,
}

/// Time spent on one variation, per stage. Serialised in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariationTimings {
    /// Recolouring the pixels.
    #[serde(with = "crate::millis")]
    pub recolour: Duration,
    /// Encoding the file (and its thumbnail).
    #[serde(with = "crate::millis")]
    pub encode: Duration,
}

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

/// Configures an [`Engine`]. Every option has a default.
#[derive(Clone, Debug)]
pub struct EngineBuilder {
    threads: usize,
    look: Arc<dyn Look>,
    analysis: AnalysisOptions,
    channel_capacity: Option<usize>,
    decode: DecodeOptions,
    max_side: Option<u32>,
    format: OutputFormat,
    background: Rgb8,
    thumbnail: Option<u32>,
    previews: Option<u32>,
    max_memory: Option<u64>,
    downstream: usize,
}

/// Finished variations an uploader holds by default: its stores at once.
const DEFAULT_DOWNSTREAM: usize = 8;

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            threads: 0,
            look: Arc::new(ShiftLook::default()),
            analysis: AnalysisOptions::default(),
            channel_capacity: None,
            decode: DecodeOptions::default(),
            max_side: None,
            format: OutputFormat::default(),
            background: EncodeOptions::default().background,
            thumbnail: None,
            previews: None,
            max_memory: None,
            downstream: DEFAULT_DOWNSTREAM,
        }
    }
}

/// The most worker threads an engine starts for each core this process may
/// use (`std::thread::available_parallelism`, which follows CPU affinity and
/// cgroup quotas): more never make variations faster.
pub const THREADS_PER_CORE: usize = 4;

/// `threads`, or [`THREADS_PER_CORE`] per usable core if that is fewer (0,
/// one per core, stays 0).
fn capped_threads(threads: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    let most = cores * THREADS_PER_CORE;
    if threads > most {
        tracing::warn!(
            "{threads} threads asked for; using {most}, {THREADS_PER_CORE} for each of the {cores} cores this process may use"
        );
        return most;
    }
    threads
}

impl EngineBuilder {
    /// Worker threads, and so the most variations made at once. 0 (the
    /// default) means one per core. More than [`THREADS_PER_CORE`] per core
    /// this process may use are capped there, with a warning: they would
    /// only add start-up time and memory.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
    /// How palettes recolour the image. Default: [`ShiftLook`] with its defaults.
    pub fn look(mut self, look: impl Look + 'static) -> Self {
        self.look = Arc::new(look);
        self
    }
    /// The look a [`LookSpec`] names, with its options (and the analysis
    /// size it may give): how the command line and Python choose a look.
    pub fn look_spec(mut self, spec: &LookSpec) -> Result<Self, LookSpecError> {
        self.look = spec.build()?;
        if let Some(side) = spec.analysis_size() {
            self.analysis.max_side = side;
        }
        Ok(self)
    }
    /// Seed of the clustering. Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.analysis.seed = seed;
        self
    }
    /// No longer used (see [`AnalysisOptions::max_side`]): the clustering
    /// runs on a weighted coreset of every colour. Still checked (it must
    /// be at least one) and named in the recipe, so that existing callers
    /// keep working. Default 256.
    pub fn analysis_size(mut self, max_side: u32) -> Self {
        self.analysis.max_side = max_side;
        self
    }
    /// Finished variations that may wait in the channel for the consumer.
    /// When it is full the workers wait too. Default: the thread count.
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = Some(capacity);
        self
    }
    /// Largest image accepted, in pixels. Default 100 megapixels.
    pub fn max_pixels(mut self, max_pixels: u64) -> Self {
        self.decode.max_pixels = max_pixels;
        self
    }
    /// Decode a truncated or damaged JPEG as far as it can be read, with a
    /// warning, instead of refusing it. Default false: refused, naming the
    /// file. See [`SourceImage::decode_with`].
    pub fn lenient(mut self, lenient: bool) -> Self {
        self.decode.lenient = lenient;
        self
    }
    /// What JPEG variations show through transparent pixels. Default white.
    /// Part of the recipe of JPEG runs.
    pub fn background(mut self, background: Rgb8) -> Self {
        self.background = background;
        self
    }
    /// What to do with an image's embedded ICC profile: convert it to sRGB
    /// (the default) or ignore it, as the original service did. Part of the
    /// recipe: it changes the bytes of tagged images.
    pub fn colour_profiles(mut self, colour_profiles: ColourProfiles) -> Self {
        self.decode.colour_profiles = colour_profiles;
        self
    }
    /// Downscale images (Lanczos3) so their longest side is at most this
    /// many pixels before recolouring. Default: none, full size.
    pub fn max_side(mut self, max_side: Option<u32>) -> Self {
        self.max_side = max_side;
        self
    }
    /// Format of the variations. Default PNG.
    pub fn format(mut self, format: OutputFormat) -> Self {
        self.format = format;
        self
    }

    /// Also make a thumbnail of each variation, its longest side at most
    /// this many pixels, encoded in the same format. Default: none.
    pub fn thumbnail(mut self, max_side: Option<u32>) -> Self {
        self.thumbnail = max_side;
        self
    }

    /// Also keep each variation's pixels at this longest side, unencoded, in
    /// [`Variation::preview`] (a contact sheet draws them). Not stored, and
    /// no part of the recipe. Default: none.
    pub fn previews(mut self, max_side: Option<u32>) -> Self {
        self.previews = max_side;
        self
    }

    /// The memory budget of one run, in bytes: an image whose run would
    /// need more even one variation at a time is refused before its pixels
    /// are allocated, and a run makes fewer variations at once when all its
    /// threads' would not fit. See [`MemoryPlan`] for what is counted.
    /// Default: [`default_max_memory`], half the memory of the machine or
    /// container.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.max_memory = Some(bytes);
        self
    }

    /// Finished variations the channel's consumer may hold at once besides
    /// the channel's own (an uploader: its stores at once), counted in the
    /// memory budget. Default 8, the uploader's default.
    pub fn downstream(mut self, variations: usize) -> Self {
        self.downstream = variations;
        self
    }

    /// Checks every option and starts the pool.
    pub fn build(self) -> Result<Engine, BuildError> {
        let at_least_one = |option, value: Option<u64>| match value {
            Some(0) => Err(BuildError::Option { option, reason: "must be at least 1".into() }),
            _ => Ok(()),
        };
        at_least_one("thumbnail", self.thumbnail.map(u64::from))?;
        at_least_one("previews", self.previews.map(u64::from))?;
        at_least_one("max_side", self.max_side.map(u64::from))?;
        at_least_one("analysis_size", Some(u64::from(self.analysis.max_side)))?;
        at_least_one("max_pixels", Some(self.decode.max_pixels))?;
        at_least_one("channel_capacity", self.channel_capacity.map(|c| c as u64))?;
        at_least_one("max_memory", self.max_memory)?;
        let (quality, speed) = match self.format {
            OutputFormat::Jpeg { quality } | OutputFormat::WebPLossy { quality } => (Some(quality), None),
            OutputFormat::Avif { quality, speed } => (Some(quality), Some(speed)),
            _ => (None, None),
        };
        let name = self.format.name();
        if let Some(quality) = quality.filter(|q| !(1..=100).contains(q)) {
            let reason = format!("{name} quality must be between 1 and 100, not {quality}");
            return Err(BuildError::Option { option: "format", reason });
        }
        if let Some(speed) = speed.filter(|s| !(1..=10).contains(s)) {
            let reason = format!("{name} speed must be between 1 and 10, not {speed}");
            return Err(BuildError::Option { option: "format", reason });
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(capped_threads(self.threads))
            .thread_name(|i| format!("variegate-{i}"))
            .build()
            .map_err(|source| BuildError::Pool { threads: self.threads, source })?;
        let threads = pool.current_num_threads();
        Ok(Engine {
            inner: Arc::new(EngineInner {
                pool,
                look: self.look,
                analysis: self.analysis,
                channel_capacity: self.channel_capacity.unwrap_or(threads),
                decode: self.decode,
                max_side: self.max_side,
                format: self.format,
                background: self.background,
                thumbnail: self.thumbnail,
                previews: self.previews,
                max_memory: self.max_memory.unwrap_or_else(default_max_memory),
                downstream: self.downstream,
                gauge: BufferGauge::default(),
            }),
        })
    }
}

/// Recolours images into palette variations. Cheap to clone: clones share
/// the pool.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

#[derive(Debug)]
struct EngineInner {
    pool: rayon::ThreadPool,
    look: Arc<dyn Look>,
    analysis: AnalysisOptions,
    channel_capacity: usize,
    decode: DecodeOptions,
    max_side: Option<u32>,
    format: OutputFormat,
    background: Rgb8,
    thumbnail: Option<u32>,
    previews: Option<u32>,
    max_memory: u64,
    downstream: usize,
    gauge: BufferGauge,
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
    /// An [`EngineBuilder`] with every option at its default.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// Worker threads in the pool.
    pub fn threads(&self) -> usize {
        self.inner.pool.current_num_threads()
    }
    /// Finished variations that may wait in a job's channel.
    pub fn channel_capacity(&self) -> usize {
        self.inner.channel_capacity
    }
    /// Format of the variations.
    pub fn format(&self) -> OutputFormat {
        self.inner.format
    }
    /// How palettes recolour images.
    pub fn look(&self) -> &dyn Look {
        &*self.inner.look
    }
    /// Everything this engine's options decide about the bytes it writes.
    pub fn recipe(&self) -> Recipe {
        let inner = &*self.inner;
        Recipe {
            look: inner.look.name().to_string(),
            look_options: inner.look.options(),
            seed: inner.analysis.seed,
            analysis_size: inner.analysis.max_side,
            max_side: inner.max_side,
            format: inner.format,
            thumbnail: inner.thumbnail,
            background: matches!(inner.format, OutputFormat::Jpeg { .. }).then_some(inner.background),
            colour_profiles: inner.decode.colour_profiles,
            output_version: OUTPUT_VERSION,
            engine_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
    /// Checks, before any work, that every palette can work with this
    /// engine's look: each has colours, and no more than the look takes.
    /// `origin` names where they came from in the error, which names the
    /// first palette that cannot. The engine itself still takes such
    /// palettes (each of their variations fails alone); the CLI and Python
    /// call this first, so that a list that cannot work is refused before
    /// any pixel work instead of failing in every image of a batch.
    pub fn check_palettes(&self, palettes: &[Palette], origin: &str) -> Result<(), PaletteError> {
        for (index, palette) in palettes.iter().enumerate() {
            let problem = match palette.colors.is_empty() {
                true => Err("no colours".to_string()),
                false => self.inner.look.check_palette(palette),
            };
            if let Err(reason) = problem {
                return Err(PaletteError::Unusable {
                    origin: origin.into(),
                    position: index + 1,
                    name: palette.name.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }
    /// The memory budget of one run, in bytes ([`EngineBuilder::max_memory`]).
    pub fn max_memory(&self) -> u64 {
        self.inner.max_memory
    }

    /// What a run of `palettes` palettes on an image of this header would
    /// hold, all threads making variations at once; see
    /// [`MemoryPlan::estimate`] for the bound.
    pub fn memory_plan(&self, header: &ImageHeader, palettes: &[Palette]) -> MemoryPlan {
        let inner = &*self.inner;
        let declared = (header.width, header.height);
        MemoryPlan {
            file_bytes: header.file_bytes,
            declared,
            recoloured: inner.max_side.map_or(declared, |side| fit(declared.0, declared.1, side)),
            channels: header.channels,
            distinct_colours: None,
            palettes: palettes.len(),
            lanes: self.threads(),
            threads: self.threads(),
            waiting: inner.channel_capacity + inner.downstream,
            thumbnail: inner.thumbnail,
            previews: inner.previews,
            look_per_pixel: inner.look.memory_per_pixel(palettes),
            encoder_per_pixel: inner.format.encoder_bytes_per_pixel(),
        }
    }

    /// How many of `palettes` variations of `image` this engine makes at
    /// once within its memory budget: its thread count, or fewer (a run
    /// warns) when their frames would not fit. The image's colours are
    /// counted (one pass over its pixels) only when the worst case, every
    /// pixel a colour of its own, does not fit.
    pub fn variations_at_once(&self, image: &SourceImage, palettes: &[Palette]) -> Result<usize, OverBudget> {
        let inner = &*self.inner;
        let header = ImageHeader {
            width: image.width(),
            height: image.height(),
            channels: image.channels(),
            file_bytes: 0,
        };
        let worst = self.memory_plan(&header, palettes);
        let estimate = worst.estimate();
        if estimate.total() <= inner.max_memory {
            return Ok(estimate.lanes);
        }
        let distinct = inner.pool.install(|| crate::indexed::distinct_colours(image)) as u64;
        let plan = MemoryPlan { distinct_colours: Some(distinct), ..worst };
        match plan.lanes_within(inner.max_memory) {
            Some(lanes) => Ok(lanes),
            None => Err(OverBudget {
                what: format!("{}: recolouring {} palettes", image.name(), palettes.len()),
                estimate: MemoryPlan { lanes: 1, ..plan }.estimate(),
                budget: inner.max_memory,
                at_least: false,
            }),
        }
    }

    /// Encoded buffers alive now, and the most there ever were at once.
    pub fn buffer_gauge(&self) -> &BufferGauge {
        &self.inner.gauge
    }

    /// Reads and decodes an image file within this engine's pixel budget,
    /// downscaled to its `max_side`. See [`Engine::decode`].
    pub fn open(&self, path: impl AsRef<Path>) -> Result<SourceImage, DecodeError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let bytes =
            std::fs::read(path).map_err(|source| DecodeError::Read { origin: origin.clone(), source })?;
        self.decode(&bytes, &origin)
    }
    /// Decodes an image in memory within this engine's pixel budget,
    /// downscaled to its `max_side`. The work runs in the engine's pool, so
    /// that the pool's thread count bounds it too, and so that decoding one
    /// image fills the cores other images' palettes leave free.
    ///
    /// An image whose run could not fit in the memory budget however few
    /// colours it has, even with one palette, is refused before its pixels
    /// are allocated (its colours are known only later:
    /// [`Engine::variations_at_once`] checks again).
    pub fn decode(&self, bytes: &[u8], name: &str) -> Result<SourceImage, DecodeError> {
        let inner = &*self.inner;
        let within_budget = |header: &ImageHeader| {
            // The least any run of it needs: one palette, one colour. The
            // run itself checks again with its palettes and counted colours.
            let least = MemoryPlan {
                lanes: 1,
                palettes: 1,
                distinct_colours: Some(1),
                ..self.memory_plan(header, &[])
            };
            let estimate = least.estimate();
            match estimate.total() <= inner.max_memory {
                true => Ok(()),
                false => Err(DecodeError::OverMemory(OverBudget {
                    what: format!("{name}: recolouring {}x{} pixels", header.width, header.height),
                    estimate,
                    budget: inner.max_memory,
                    at_least: true,
                })),
            }
        };
        inner.pool.install(|| {
            let image = SourceImage::decode_checked(bytes, name, &inner.decode, within_budget)?;
            Ok(match inner.max_side {
                Some(max_side) => image.downscaled(max_side),
                None => image,
            })
        })
    }

    /// Pixels already in memory (`width * height * channels` bytes, rows top
    /// to bottom) as an image of this engine: within its pixel budget,
    /// downscaled to its `max_side`, the same bytes out as an encoded file of
    /// these pixels would give. See [`SourceImage::from_pixels`].
    pub fn from_pixels(
        &self,
        name: &str,
        width: u32,
        height: u32,
        channels: Channels,
        pixels: Vec<u8>,
    ) -> Result<SourceImage, DecodeError> {
        let inner = &*self.inner;
        if u64::from(width) * u64::from(height) > inner.decode.max_pixels {
            let max_pixels = inner.decode.max_pixels;
            return Err(DecodeError::TooLarge { origin: name.into(), width, height, max_pixels });
        }
        let image = SourceImage::from_pixels(name, width, height, channels, pixels)?;
        Ok(match inner.max_side {
            Some(max_side) => inner.pool.install(|| image.downscaled(max_side)),
            None => image,
        })
    }

    /// A bounded channel of this engine's capacity, for [`Engine::run`].
    pub fn channel(&self) -> (Sender<Variation>, Receiver<Variation>) {
        crossbeam_channel::bounded(self.inner.channel_capacity)
    }

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

    /// Recolours `image` with every palette in the pool and sends each
    /// variation to `sink` as soon as it is encoded, blocking while the
    /// channel is full. Returns when all are sent: exactly one per palette.
    ///
    /// A palette that fails (no colours, a look error, an encoder error, a
    /// panic) is sent as a failed variation; the others go on. If the look
    /// cannot prepare the image at all, every palette is sent failed with
    /// that reason. Once `cancel` is cancelled no variation starts: the rest
    /// are sent as [`VariationError::Cancelled`].
    pub fn run(
        &self,
        image: &SourceImage,
        palettes: &[Palette],
        sink: &Sender<Variation>,
        cancel: &Canceller,
    ) -> RunSummary {
        let started = Instant::now();
        let inner = &*self.inner;
        inner.pool.install(|| {
            // An image not opened through this engine may still be too large;
            // fitted here, in the pool, like every other stage.
            let fitted = inner.max_side.and_then(|side| image.fitted(side));
            let image = fitted.as_ref().unwrap_or(image);
            let (lanes, prepared) = if cancel.is_cancelled() {
                (1, None)
            } else {
                match self.variations_at_once(image, palettes) {
                    Err(over) => (1, Some(Err(VariationError::Memory(over)))),
                    Ok(lanes) => {
                        let wanted = self.threads().min(palettes.len());
                        if lanes < wanted {
                            let (name, budget) = (image.name(), crate::memory::Size(inner.max_memory));
                            tracing::warn!(
                                "{name}: {lanes} of {wanted} variations at a time, to stay within the memory budget of {budget}"
                            );
                        }
                        let _span = tracing::info_span!("analyse", look = inner.look.name()).entered();
                        let look = inner.look.name().to_string();
                        let prepared = catch_unwind(AssertUnwindSafe(|| {
                            inner.look.prepare(image, palettes, &inner.analysis)
                        }))
                        .unwrap_or_else(|payload| Err(LookError(panic_message(&*payload))))
                        .map_err(|LookError(reason)| VariationError::Analysis { look, reason });
                        tracing::debug!(ms = started.elapsed().as_secs_f64() * 1e3, "analysed");
                        (lanes, Some(prepared))
                    }
                }
            };
            let analyse = started.elapsed();
            // Each lane makes one variation at a time in a frame of its own,
            // taking the next palette when done: the lanes bound the frames
            // in memory, the pool's threads still share each one's bands.
            let next = AtomicUsize::new(0);
            let counts = (0..lanes)
                .into_par_iter()
                .map(|_| {
                    let mut frame = Vec::new();
                    let mut counts = [0; 3];
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(palette) = palettes.get(index) else { break };
                        let variation = match (&prepared, cancel.cancellation()) {
                            (_, Some(cancellation)) => {
                                let reason = cancellation.reason.clone();
                                self.unmade(index, palette, VariationError::Cancelled { reason })
                            }
                            (Some(Ok(prepared)), None) => {
                                self.variation(image, &**prepared, index, palette, &mut frame)
                            }
                            (Some(Err(error)), None) => self.unmade(index, palette, error.clone()),
                            (None, None) => unreachable!("preparation is skipped only when cancelled"),
                        };
                        match &variation.result {
                            Ok(_) => counts[0] += 1,
                            Err(VariationError::Cancelled { .. }) => counts[2] += 1,
                            Err(error) => {
                                tracing::debug!(index, %error, "variation failed");
                                counts[1] += 1;
                            }
                        }
                        // A closed channel means nobody wants the rest: not an error here.
                        let _ = sink.send(variation);
                    }
                    counts
                })
                .reduce(|| [0; 3], |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
            let [succeeded, failed, cancelled] = counts;
            RunSummary { analyse, total: started.elapsed(), succeeded, failed, cancelled }
        })
    }

    /// A variation that was not attempted.
    fn unmade(&self, index: usize, palette: &Palette, error: VariationError) -> Variation {
        Variation {
            index,
            palette: palette.clone(),
            result: Err(error),
            thumbnail: None,
            preview: None,
            timings: VariationTimings::default(),
        }
    }

    fn variation(
        &self,
        image: &SourceImage,
        look: &dyn PreparedLook,
        index: usize,
        palette: &Palette,
        frame: &mut Vec<u8>,
    ) -> Variation {
        let mut timings = VariationTimings::default();
        let made = catch_unwind(AssertUnwindSafe(|| self.make(image, look, palette, &mut timings, frame)))
            .unwrap_or_else(|payload| {
                Err(VariationError::Panicked { name: palette.name.clone(), reason: panic_message(&*payload) })
            });
        let (result, thumbnail, preview) = match made {
            Ok(Made { encoded, thumbnail, preview }) => (Ok(encoded), thumbnail, preview),
            Err(error) => (Err(error), None, None),
        };
        Variation { index, palette: palette.clone(), result, thumbnail, preview, timings }
    }

    /// Recolours into `frame`: palette indices where the look can give them
    /// and the file can hold them (a PNG of an image without alpha), and
    /// otherwise pixels.
    fn recolour(
        &self,
        image: &SourceImage,
        look: &dyn PreparedLook,
        palette: &Palette,
        frame: &mut Vec<u8>,
    ) -> Result<Recoloured, LookError> {
        let pixels = image.width() as usize * image.height() as usize;
        if matches!(self.inner.format, OutputFormat::Png) && image.channels() == Channels::Rgb {
            frame.clear();
            frame.resize(pixels, 0);
            if let Some(result) = look.palette_indices(image, palette, frame) {
                return result.map(|()| Recoloured::Indices);
            }
        }
        frame.clear();
        frame.resize(image.pixels().len(), 0);
        look.recolour(image, palette, frame).map(|()| Recoloured::Pixels)
    }

    /// Recolours into `frame`, encodes, and makes the thumbnail and preview
    /// asked for.
    fn make(
        &self,
        image: &SourceImage,
        look: &dyn PreparedLook,
        palette: &Palette,
        timings: &mut VariationTimings,
        frame: &mut Vec<u8>,
    ) -> Result<Made, VariationError> {
        let name = || palette.name.clone();
        if palette.colors.is_empty() {
            return Err(VariationError::EmptyPalette { name: name() });
        }
        let inner = &*self.inner;
        let (size, channels) = ((image.width(), image.height()), image.channels());
        let started = Instant::now();
        let recoloured = {
            let _span = tracing::info_span!("recolour", palette = %palette.name).entered();
            self.recolour(image, look, palette, frame)
        }
        .map_err(|LookError(reason)| VariationError::Look { name: name(), reason })?;
        timings.recolour = started.elapsed();

        let started = Instant::now();
        let _span = tracing::info_span!("encode", palette = %palette.name).entered();
        let encode_error = |error: &dyn std::fmt::Display| VariationError::Encode {
            name: name(),
            format: inner.format.name(),
            reason: error.to_string(),
        };
        let encode = |pixels: &[u8], width, height, channels| {
            let mut bytes = Vec::with_capacity(pixels.len() / 2);
            let options = EncodeOptions { srgb: image.is_srgb_tagged(), background: inner.background };
            match inner.format.encode_with(pixels, width, height, channels, &options, &mut bytes) {
                Ok(()) => Ok(EncodedImage::new(bytes, inner.format, width, height, &inner.gauge)),
                Err(error) => Err(encode_error(&error)),
            }
        };
        let encoded = match recoloured {
            Recoloured::Pixels => encode(frame, size.0, size.1, channels)?,
            Recoloured::Indices => {
                let colours: Vec<[u8; 3]> = palette.colors.iter().map(|c| c.0).collect();
                let mut bytes = Vec::with_capacity(frame.len() / 4);
                crate::banded_png::encode_indexed(
                    frame,
                    size.0,
                    size.1,
                    &colours,
                    image.is_srgb_tagged(),
                    &mut bytes,
                )
                .map_err(|error| encode_error(&error))?;
                let encoded = EncodedImage::new(bytes, inner.format, size.0, size.1, &inner.gauge);
                if inner.thumbnail.is_some() || inner.previews.is_some() {
                    // Thumbnails and previews are made from the pixels.
                    let pixels: Vec<u8> = frame.iter().flat_map(|&i| colours[usize::from(i)]).collect();
                    *frame = pixels;
                }
                encoded
            }
        };
        let thumbnail_and_pixels = match inner.thumbnail {
            Some(side) => {
                let small = Preview::fitting(frame, size, channels, side);
                Some((encode(&small.pixels, small.width, small.height, channels)?, small))
            }
            None => None,
        };
        let (thumbnail, preview) = match (thumbnail_and_pixels, inner.previews) {
            // A preview the thumbnail's size is the thumbnail's pixels.
            (Some((thumbnail, small)), Some(side)) if inner.thumbnail == Some(side) => {
                (Some(thumbnail), Some(small))
            }
            (thumbnail, side) => (
                thumbnail.map(|(thumbnail, _)| thumbnail),
                side.map(|side| Preview::fitting(frame, size, channels, side)),
            ),
        };
        timings.encode = started.elapsed();
        tracing::debug!(
            recolour_ms = timings.recolour.as_secs_f64() * 1e3,
            encode_ms = timings.encode.as_secs_f64() * 1e3,
            bytes = encoded.bytes().len(),
            "variation done"
        );
        Ok(Made { encoded, thumbnail, preview })
    }
}

/// What [`Engine::recolour`] wrote into the frame.
enum Recoloured {
    /// The image's pixels, in its layout.
    Pixels,
    /// One palette index a pixel.
    Indices,
}

/// What making one variation produced.
struct Made {
    encoded: EncodedImage,
    thumbnail: Option<EncodedImage>,
    preview: Option<Preview>,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
