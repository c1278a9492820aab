//! The engine's options: [`EngineBuilder`] fills a [`Config`], checks it
//! and starts the pool; the engine reads the same `Config` on every run.

use std::sync::Arc;

use super::{Engine, EngineInner};
use crate::analyse::AnalysisOptions;
use crate::decode::{ColourProfiles, DecodeOptions};
use crate::encode::{BufferGauge, EncodeOptions, OutputFormat};
use crate::engine::memory::default_max_memory;
use crate::error::BuildError;
use crate::look::ANALYSIS_SIZE;
use crate::look::{Look, LookSpec, LookSpecError, ShiftLook};
use crate::pixels::Rgb8;

/// Configures an [`Engine`]. Every option has a default.
#[derive(Clone, Debug)]
pub struct EngineBuilder {
    config: Config,
    threads: usize,
    channel_capacity: Option<usize>,
    max_memory: Option<u64>,
    /// Set by the caller, not left at their defaults: refused where they
    /// would change no byte (see [`EngineBuilder::build`]).
    seed_given: bool,
    background_given: bool,
}

/// What the builder sets and a built engine reads, held once: the options
/// that decide each run (the pool, the channel and the budget are settled
/// by [`EngineBuilder::build`]).
#[derive(Clone, Debug)]
pub(super) struct Config {
    pub look: Arc<dyn Look>,
    pub analysis: AnalysisOptions,
    /// The deprecated `analysis_size`: no byte depends on it, the recipe
    /// (so the keys) still names it.
    pub analysis_size: u32,
    pub decode: DecodeOptions,
    pub max_side: Option<u32>,
    pub format: OutputFormat,
    pub background: Rgb8,
    pub thumbnail: Option<u32>,
    pub previews: Option<u32>,
    /// The longest sides each variation is stored at, ascending, without
    /// repeats; empty: the one full-size file.
    pub sizes: Vec<u32>,
    pub downstream: usize,
}

/// The most sizes a variation is stored at ([`EngineBuilder::sizes`]).
pub const MAX_SIZES: usize = 8;

/// Finished variations an uploader holds by default: its stores at once.
const DEFAULT_DOWNSTREAM: usize = 8;

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            config: Config {
                look: Arc::new(ShiftLook::default()),
                analysis: AnalysisOptions::default(),
                analysis_size: ANALYSIS_SIZE,
                decode: DecodeOptions::default(),
                max_side: None,
                format: OutputFormat::default(),
                background: EncodeOptions::default().background,
                thumbnail: None,
                previews: None,
                sizes: Vec::new(),
                downstream: DEFAULT_DOWNSTREAM,
            },
            threads: 0,
            channel_capacity: None,
            max_memory: None,
            seed_given: false,
            background_given: false,
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
        self.config.look = Arc::new(look);
        self
    }
    /// The look a [`LookSpec`] names, with its options (and the analysis
    /// size it may give): how the command line and Python choose a look.
    pub fn look_spec(mut self, spec: &LookSpec) -> Result<Self, LookSpecError> {
        self.config.look = spec.build()?;
        if let Some(side) = spec.analysis_size() {
            self.config.analysis_size = side;
        }
        Ok(self)
    }
    /// Seed of the clustering, for the looks that cluster (shift and soft;
    /// [`EngineBuilder::build`] refuses it with the others). Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.analysis.seed = seed;
        self.seed_given = true;
        self
    }
    /// Deprecated, as its entry in [`LOOK_OPTIONS`](crate::looks::LOOK_OPTIONS)
    /// says: no byte depends on it. Still checked (at least 1) and named in
    /// the recipe, so that existing callers keep their keys. Default 256.
    #[deprecated(note = "no longer changes the output (output version 4 on); kept in the recipe")]
    pub fn analysis_size(mut self, max_side: u32) -> Self {
        self.config.analysis_size = max_side;
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
        self.config.decode.max_pixels = max_pixels;
        self
    }
    /// Decode a truncated or damaged JPEG as far as it can be read, with a
    /// warning, instead of refusing it. Default false: refused, naming the
    /// file. See [`SourceImage::decode_with`](crate::SourceImage::decode_with).
    pub fn lenient(mut self, lenient: bool) -> Self {
        self.config.decode.lenient = lenient;
        self
    }
    /// What JPEG variations show through transparent pixels. Default white.
    /// Part of the recipe of JPEG runs; [`EngineBuilder::build`] refuses it
    /// with the formats that keep alpha.
    pub fn background(mut self, background: Rgb8) -> Self {
        self.config.background = background;
        self.background_given = true;
        self
    }
    /// What to do with an image's embedded ICC profile: convert it to sRGB
    /// (the default) or ignore it, as the original service did. Part of the
    /// recipe: it changes the bytes of tagged images.
    pub fn colour_profiles(mut self, colour_profiles: ColourProfiles) -> Self {
        self.config.decode.colour_profiles = colour_profiles;
        self
    }
    /// Downscale images (Lanczos3) so their longest side is at most this
    /// many pixels before recolouring. Default: none, full size.
    pub fn max_side(mut self, max_side: Option<u32>) -> Self {
        self.config.max_side = max_side;
        self
    }
    /// Format of the variations. Default PNG.
    pub fn format(mut self, format: OutputFormat) -> Self {
        self.config.format = format;
        self
    }

    /// Also make a thumbnail of each variation, its longest side at most
    /// this many pixels, encoded in the same format. Default: none.
    pub fn thumbnail(mut self, max_side: Option<u32>) -> Self {
        self.config.thumbnail = max_side;
        self
    }

    /// Store each variation at each of these longest sides (e.g. 480, 960,
    /// 1920 for a web page's `srcset`) instead of the one full-size file,
    /// in the same format: each made from the recoloured full-size pixels by
    /// one resize, never upscaled (a side at or above the image's is the
    /// image itself, made once). At most [`MAX_SIZES`]. Part of the recipe.
    /// Default: none.
    pub fn sizes(mut self, sides: &[u32]) -> Self {
        let mut sides = sides.to_vec();
        sides.sort_unstable();
        sides.dedup();
        self.config.sizes = sides;
        self
    }

    /// Also keep each variation's pixels at this longest side, unencoded, in
    /// [`Variation::preview`](super::Variation::preview) (a contact sheet draws them). Not stored, and
    /// no part of the recipe. Default: none.
    pub fn previews(mut self, max_side: Option<u32>) -> Self {
        self.config.previews = max_side;
        self
    }

    /// The memory budget of one run, in bytes (a batch shares it between
    /// its images in flight: [`Engine::sharing_budget`]): an image whose run would
    /// need more even one variation at a time is refused before its pixels
    /// are allocated, and a run makes fewer variations at once when all its
    /// threads' would not fit. See [`MemoryPlan`](crate::memory::MemoryPlan) for what is counted.
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
        self.config.downstream = variations;
        self
    }

    /// Checks every option and starts the pool.
    pub fn build(self) -> Result<Engine, BuildError> {
        let at_least_one = |option, value: Option<u64>| match value {
            Some(0) => Err(BuildError::Option { option, reason: "must be at least 1".into() }),
            _ => Ok(()),
        };
        at_least_one("thumbnail", self.config.thumbnail.map(u64::from))?;
        at_least_one("previews", self.config.previews.map(u64::from))?;
        at_least_one("sizes", self.config.sizes.first().map(|&side| u64::from(side)))?;
        if self.config.sizes.len() > MAX_SIZES {
            let reason = format!("at most {MAX_SIZES} sizes, not {}", self.config.sizes.len());
            return Err(BuildError::Option { option: "sizes", reason });
        }
        at_least_one("max_side", self.config.max_side.map(u64::from))?;
        at_least_one("analysis_size", Some(u64::from(self.config.analysis_size)))?;
        at_least_one("max_pixels", Some(self.config.decode.max_pixels))?;
        at_least_one("channel_capacity", self.channel_capacity.map(|c| c as u64))?;
        at_least_one("max_memory", self.max_memory)?;
        // Settings that would change the key and not the bytes.
        if self.seed_given && !self.config.look.uses_seed() {
            let reason = format!("goes with the shift or soft look, not {}", self.config.look.name());
            return Err(BuildError::Option { option: "seed", reason });
        }
        if self.background_given && !matches!(self.config.format, OutputFormat::Jpeg { .. }) {
            let reason = format!("goes with JPEG, which has no alpha, not {}", self.config.format.name());
            return Err(BuildError::Option { option: "background", reason });
        }
        if let Err(reason) = self.config.format.check_settings() {
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
                config: self.config,
                pool,
                channel_capacity: self.channel_capacity.unwrap_or(threads),
                gauge: BufferGauge::default(),
            }),
            max_memory: self.max_memory.unwrap_or_else(default_max_memory),
        })
    }
}
