//! The engine: one rayon pool that turns (image, palettes) into a stream of
//! encoded variations on a bounded channel.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rayon::prelude::*;

use crate::analysis::AnalysisOptions;
use crate::encode::{BufferGauge, EncodedImage, OutputFormat};
use crate::error::{BuildError, DecodeError, VariationError};
use crate::look::{Look, LookError, PreparedLook, ShiftLook};
use crate::palette::Palette;
use crate::preview::{Preview, Thumbnail};
use crate::source::{DEFAULT_MAX_PIXELS, SourceImage};

/// One palette's result, sent down the channel the moment it is done.
#[derive(Debug)]
pub struct Variation {
    /// Position of the palette in the list the run was given, from 0.
    pub index: usize,
    pub palette: Palette,
    pub result: Result<EncodedImage, VariationError>,
    /// A small copy, when the engine was asked for thumbnails.
    pub thumbnail: Option<Thumbnail>,
    pub timings: VariationTimings,
}

/// Time spent on one variation, per stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VariationTimings {
    pub recolour: Duration,
    pub encode: Duration,
}

/// What a finished run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Per-image preparation (clustering, indexing, colour conversions).
    pub analyse: Duration,
    /// The whole run, analysis included.
    pub total: Duration,
    pub succeeded: usize,
    pub failed: usize,
}

/// Configures an [`Engine`]. Every option has a default.
#[derive(Clone, Debug)]
pub struct EngineBuilder {
    threads: usize,
    look: Arc<dyn Look>,
    analysis: AnalysisOptions,
    channel_capacity: Option<usize>,
    max_pixels: u64,
    format: OutputFormat,
    thumbnail: Option<u32>,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            threads: 0,
            look: Arc::new(ShiftLook::default()),
            analysis: AnalysisOptions::default(),
            channel_capacity: None,
            max_pixels: DEFAULT_MAX_PIXELS,
            format: OutputFormat::default(),
            thumbnail: None,
        }
    }
}

impl EngineBuilder {
    /// Worker threads, and so the most variations made at once. 0 (the
    /// default) means one per core.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
    /// How palettes recolour the image. Default: [`ShiftLook`] with its defaults.
    pub fn look(mut self, look: impl Look + 'static) -> Self {
        self.look = Arc::new(look);
        self
    }
    /// Seed of the clustering. Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.analysis.seed = seed;
        self
    }
    /// Longest side of the image the clustering sees. Default 256.
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
        self.max_pixels = max_pixels;
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

    pub fn build(self) -> Result<Engine, BuildError> {
        if self.thumbnail == Some(0) {
            return Err(BuildError::Option {
                option: "thumbnail",
                reason: "must be at least 1 pixel".into(),
            });
        }
        if self.analysis.max_side == 0 {
            return Err(BuildError::Option { option: "analysis size", reason: "must be at least 1".into() });
        }
        if self.max_pixels == 0 {
            return Err(BuildError::Option { option: "max pixels", reason: "must be at least 1".into() });
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
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
                max_pixels: self.max_pixels,
                format: self.format,
                thumbnail: self.thumbnail,
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
    max_pixels: u64,
    format: OutputFormat,
    thumbnail: Option<u32>,
    gauge: BufferGauge,
}

/// A run started with [`Engine::start`]: read its variations as they come,
/// then [`wait`](Job::wait) for the summary.
#[derive(Debug)]
pub struct Job {
    variations: Receiver<Variation>,
    handle: JoinHandle<Result<RunSummary, LookError>>,
}

impl Job {
    /// The channel the variations arrive on; it closes when the run is over.
    pub fn variations(&self) -> &Receiver<Variation> {
        &self.variations
    }
    /// Waits for the run to finish. Drops whatever was not read.
    pub fn wait(self) -> Result<RunSummary, LookError> {
        drop(self.variations);
        self.handle.join().unwrap_or_else(|payload| Err(LookError(panic_message(&*payload))))
    }
}

thread_local! {
    /// Each worker's frame-sized buffer for recoloured pixels, reused from
    /// palette to palette so memory does not grow with their number. Taken
    /// and put back (not borrowed) so a worker that steals another palette
    /// while waiting inside one simply allocates a second.
    static FRAME: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl Engine {
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// Worker threads in the pool.
    pub fn threads(&self) -> usize {
        self.inner.pool.current_num_threads()
    }
    pub fn channel_capacity(&self) -> usize {
        self.inner.channel_capacity
    }
    pub fn format(&self) -> OutputFormat {
        self.inner.format
    }
    pub fn look(&self) -> &dyn Look {
        &*self.inner.look
    }
    /// Encoded buffers alive now, and the most there ever were at once.
    pub fn buffer_gauge(&self) -> &BufferGauge {
        &self.inner.gauge
    }

    /// Reads and decodes an image file within this engine's pixel budget.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<SourceImage, DecodeError> {
        SourceImage::open(path, self.inner.max_pixels)
    }
    /// Decodes an image in memory within this engine's pixel budget.
    pub fn decode(&self, bytes: &[u8], name: &str) -> Result<SourceImage, DecodeError> {
        SourceImage::decode(bytes, name, self.inner.max_pixels)
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
        let (image, palettes) = (image.into(), palettes.into());
        let (sender, variations) = self.channel();
        let engine = self.clone();
        let handle = std::thread::Builder::new()
            .name("variegate-run".into())
            .spawn(move || engine.run(&image, &palettes, &sender))?;
        Ok(Job { variations, handle })
    }

    /// Recolours `image` with every palette in the pool and sends each
    /// variation to `sink` as soon as it is encoded, blocking while the
    /// channel is full. Returns when all are sent.
    ///
    /// A palette that fails (no colours, a look error, an encoder error, a
    /// panic) is sent as a failed variation; the others go on. Only a failure
    /// to prepare the look, which would fail every palette alike, is returned
    /// as an error, before anything is sent.
    pub fn run(
        &self,
        image: &SourceImage,
        palettes: &[Palette],
        sink: &Sender<Variation>,
    ) -> Result<RunSummary, LookError> {
        let started = Instant::now();
        let inner = &*self.inner;
        inner.pool.install(|| {
            let prepared = {
                let _span = tracing::info_span!("analyse", look = inner.look.name()).entered();
                let prepared =
                    catch_unwind(AssertUnwindSafe(|| inner.look.prepare(image, palettes, &inner.analysis)))
                        .unwrap_or_else(|payload| Err(LookError(panic_message(&*payload))))?;
                tracing::debug!(ms = started.elapsed().as_secs_f64() * 1e3, "analysed");
                prepared
            };
            let analyse = started.elapsed();
            let failed: usize = palettes
                .par_iter()
                .enumerate()
                .map(|(index, palette)| {
                    let variation = self.variation(image, &*prepared, index, palette);
                    let failed = usize::from(variation.result.is_err());
                    if let Err(error) = &variation.result {
                        tracing::debug!(index, %error, "variation failed");
                    }
                    // A closed channel means nobody wants the rest: not an error here.
                    let _ = sink.send(variation);
                    failed
                })
                .sum();
            Ok(RunSummary { analyse, total: started.elapsed(), succeeded: palettes.len() - failed, failed })
        })
    }

    fn variation(
        &self,
        image: &SourceImage,
        look: &dyn PreparedLook,
        index: usize,
        palette: &Palette,
    ) -> Variation {
        let mut timings = VariationTimings::default();
        let mut thumbnail = None;
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.recolour_and_encode(image, look, palette, &mut timings, &mut thumbnail)
        }))
        .unwrap_or_else(|payload| {
            Err(VariationError::Panicked { name: palette.name.clone(), reason: panic_message(&*payload) })
        });
        Variation { index, palette: palette.clone(), result, thumbnail, timings }
    }

    fn recolour_and_encode(
        &self,
        image: &SourceImage,
        look: &dyn PreparedLook,
        palette: &Palette,
        timings: &mut VariationTimings,
        thumbnail: &mut Option<Thumbnail>,
    ) -> Result<EncodedImage, VariationError> {
        let name = || palette.name.clone();
        if palette.colors.is_empty() {
            return Err(VariationError::EmptyPalette { name: name() });
        }
        let inner = &*self.inner;
        let mut frame = FRAME.take();
        frame.clear();
        frame.resize(image.pixels().len(), 0);

        let started = Instant::now();
        let recoloured = {
            let _span = tracing::info_span!("recolour", palette = %palette.name).entered();
            look.recolour(image, palette, &mut frame)
        };
        timings.recolour = started.elapsed();
        if let Err(LookError(reason)) = recoloured {
            FRAME.set(frame);
            return Err(VariationError::Look { name: name(), reason });
        }

        let started = Instant::now();
        let mut bytes = Vec::with_capacity(frame.len() / 2);
        let encoded = {
            let _span = tracing::info_span!("encode", palette = %palette.name).entered();
            inner.format.encode(&frame, image.width(), image.height(), image.channels(), &mut bytes)
        };
        let encode_error = |error: image::ImageError| VariationError::Encode {
            name: name(),
            format: inner.format.name(),
            reason: error.to_string(),
        };
        if let (Ok(()), Some(side)) = (&encoded, inner.thumbnail) {
            let size = (image.width(), image.height());
            let preview = Preview::fitting(&frame, size, image.channels(), side);
            let mut small = Vec::new();
            inner
                .format
                .encode(&preview.pixels, preview.width, preview.height, preview.channels, &mut small)
                .map_err(encode_error)?;
            *thumbnail = Some(Thumbnail { preview, encoded: small });
        }
        timings.encode = started.elapsed();
        FRAME.set(frame);
        tracing::debug!(
            palette = %palette.name,
            recolour_ms = timings.recolour.as_secs_f64() * 1e3,
            encode_ms = timings.encode.as_secs_f64() * 1e3,
            bytes = bytes.len(),
            "variation done"
        );
        encoded.map_err(encode_error)?;
        Ok(EncodedImage::new(bytes, inner.format, image.width(), image.height(), &inner.gauge))
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
