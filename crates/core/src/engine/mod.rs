//! The engine: one rayon pool that turns (image, palettes) into a stream of
//! encoded variations on a bounded channel.
//!
//! An image is decoded and fitted to `max_side` in the pool ([`Engine::decode`],
//! checked against the memory budget before its pixels exist: `budget`),
//! then [`Engine::run`] prepares the look once and makes the variations in
//! lanes, each one palette at a time in a frame of its own, or painted row
//! by row into the PNG encoder where the look can (`variation`),
//! sending each down the channel the moment it is encoded. [`Engine::start`]
//! does that on a thread of its own and hands back a [`Job`] (`job`). The
//! options are set once in an [`EngineBuilder`] (`config`).

mod budget;
pub(crate) mod cancel;
mod config;
mod job;
pub(crate) mod memory;
mod variation;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use rayon::prelude::*;

pub use config::{EngineBuilder, MAX_SIZES, THREADS_PER_CORE};
pub use job::{Job, RunSummary};
pub use variation::{Variation, VariationTimings};

use crate::decode::{FileLimit, ImageHeader, SourceImage};
use crate::encode::{BufferGauge, OutputFormat};
use crate::engine::cancel::Canceller;
use crate::error::{DecodeError, LookError, PaletteError, VariationError};
use crate::look::Look;
use crate::palette::Palette;
use crate::pixels::Channels;
use crate::recipe::{OUTPUT_VERSION, Recipe};
use crate::resize::fit;
use config::Config;

/// Recolours images into palette variations. Cheap to clone: clones share
/// the pool.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<EngineInner>,
    /// The memory budget of one run: the builder's, or a share of it
    /// ([`Engine::sharing_budget`]).
    max_memory: u64,
}

#[derive(Debug)]
struct EngineInner {
    config: Config,
    pool: rayon::ThreadPool,
    channel_capacity: usize,
    gauge: BufferGauge,
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
        self.inner.config.format
    }
    /// How palettes recolour images.
    pub fn look(&self) -> &dyn Look {
        &*self.inner.config.look
    }
    /// Everything this engine's options decide about the bytes it writes.
    pub fn recipe(&self) -> Recipe {
        let config = &self.inner.config;
        Recipe {
            look: config.look.name().to_string(),
            look_options: config.look.options(),
            seed: config.analysis.seed,
            analysis_size: config.analysis_size,
            max_side: config.max_side,
            format: config.format,
            thumbnail: config.thumbnail,
            sizes: (!config.sizes.is_empty()).then(|| config.sizes.clone()),
            background: matches!(config.format, OutputFormat::Jpeg { .. }).then_some(config.background),
            colour_profiles: config.decode.colour_profiles,
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
                false => self.inner.config.look.check_palette(palette),
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
        self.max_memory
    }
    /// This engine (the same pool) for `runs` runs at once that share its
    /// memory budget evenly: each gets [`Engine::max_memory`] / `runs`. A
    /// batch of several images in flight (`variegate_batch::Batch`) runs
    /// on one.
    pub fn sharing_budget(&self, runs: usize) -> Engine {
        Engine { inner: self.inner.clone(), max_memory: self.max_memory / runs.max(1) as u64 }
    }

    /// Encoded buffers alive now, and the most there ever were at once.
    pub fn buffer_gauge(&self) -> &BufferGauge {
        &self.inner.gauge
    }

    /// Reads and decodes an image file within this engine's pixel budget,
    /// downscaled to its `max_side`. See [`Engine::decode`].
    pub fn open(&self, path: impl AsRef<Path>) -> Result<SourceImage, DecodeError> {
        let path = path.as_ref();
        let origin = crate::decode::origin_of(path);
        let bytes = crate::decode::read_image_file(path, &origin, self.file_limit())?;
        self.decode(&bytes, &origin)
    }
    /// The most bytes an image file of this engine's runs may have: within
    /// its pixel budget and its memory budget, checked before the file is
    /// read ([`crate::decoding::read_image_file`]).
    pub fn file_limit(&self) -> FileLimit {
        FileLimit { max_pixels: self.inner.config.decode.max_pixels, budget: self.max_memory }
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
        let within_budget = |header: &ImageHeader| {
            self.check_format(header.width, header.height, name)?;
            self.check_least(header, name).map_err(DecodeError::OverMemory)
        };
        // A look that indexes the image's colours has them marked while the
        // image decodes, unless it may be downscaled (other colours).
        let mark_colours = self.inner.config.max_side.is_none() && self.inner.config.look.indexes_colours();
        self.inner.pool.install(|| {
            let config = &self.inner.config;
            let image =
                SourceImage::decode_marking(bytes, name, &config.decode, within_budget, mark_colours)?;
            Ok(self.fit(image))
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
        self.check_pixels(name, width, height, channels)?;
        let image = SourceImage::from_pixels(name, width, height, channels, pixels)?;
        Ok(self.inner.pool.install(|| self.fit(image)))
    }

    /// Whether pixels of this size may become an image of this engine (its
    /// pixel budget, its memory budget for the least run, the format's
    /// sides), [`Engine::from_pixels`]'s checks: for a caller to ask before
    /// it copies the pixels it will hand over.
    pub fn check_pixels(
        &self,
        name: &str,
        width: u32,
        height: u32,
        channels: Channels,
    ) -> Result<(), DecodeError> {
        let max_pixels = self.inner.config.decode.max_pixels;
        if u64::from(width) * u64::from(height) > max_pixels {
            return Err(DecodeError::TooLarge { origin: name.into(), width, height, max_pixels });
        }
        self.check_format(width, height, name)?;
        let header = ImageHeader { width, height, channels, file_bytes: 0 };
        self.check_least(&header, name).map_err(DecodeError::OverMemory)
    }

    /// Whether the variations of a `width` x `height` image, fitted to
    /// `max_side`, fit the output format's sides: found from the header,
    /// before any work that the encoder would then refuse.
    fn check_format(&self, width: u32, height: u32, name: &str) -> Result<(), DecodeError> {
        let config = &self.inner.config;
        let (width, height) = config.max_side.map_or((width, height), |side| fit(width, height, side));
        let max_side = config.format.max_side();
        match width.max(height) > max_side {
            true => Err(DecodeError::OverFormatLimit {
                origin: name.into(),
                width,
                height,
                format: config.format.name(),
                max_side,
            }),
            false => Ok(()),
        }
    }

    /// `image` downscaled to the engine's `max_side`, if larger: the one
    /// place images are fitted, whether opened, given as pixels or run.
    fn fit(&self, image: SourceImage) -> SourceImage {
        self.fitted(&image).unwrap_or(image)
    }

    /// A copy of `image` downscaled to `max_side`, if it is larger.
    fn fitted(&self, image: &SourceImage) -> Option<SourceImage> {
        self.inner.config.max_side.and_then(|side| image.fitted(side))
    }

    /// A bounded channel of this engine's capacity, for [`Engine::run`].
    pub fn channel(&self) -> (Sender<Variation>, Receiver<Variation>) {
        crossbeam_channel::bounded(self.inner.channel_capacity)
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
        let (inner, config) = (&*self.inner, &self.inner.config);
        inner.pool.install(|| {
            // An image not opened through this engine may still be too large;
            // fitted here, in the pool, like every other stage.
            let fitted = self.fitted(image);
            let image = fitted.as_ref().unwrap_or(image);
            let (lanes, prepared) = if cancel.is_cancelled() {
                (1, None)
            } else {
                match self.variations_at_once(image, palettes) {
                    Err(over) => (1, Some(Err(VariationError::Memory(over)))),
                    Ok(lanes) => {
                        let wanted = self.threads().min(palettes.len());
                        if lanes < wanted {
                            let (name, budget) = (image.name(), crate::limits::Size(self.max_memory));
                            tracing::warn!(
                                "{name}: {lanes} of {wanted} variations at a time, to stay within the memory budget of {budget}"
                            );
                        }
                        let _span = tracing::info_span!("analyse", look = config.look.name()).entered();
                        let look = config.look.name().to_string();
                        let prepared = catch_unwind(AssertUnwindSafe(|| {
                            config.look.prepare(image, palettes, &config.analysis)
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
}

/// What a caught panic said (its `&str` or `String` payload), for the
/// one-line error that reports it: the engine's failed variations, and
/// the bindings that catch panics on their own threads.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
