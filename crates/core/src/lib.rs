//! Recolour one image into many palette variations, in parallel, and stream
//! each finished image out as soon as it is encoded.
//!
//! Data flows one way:
//!
//! 1. **Decode** (`decode/`, [`SourceImage`]): PNG, JPEG (libjpeg-turbo's decoder, as
//!    OpenCV and Pillow) or WebP into 8-bit RGB or RGBA, turned upright
//!    (EXIF orientation) and converted to sRGB (an embedded ICC profile);
//!    images over the pixel budget, or whose run would not fit in the memory
//!    budget ([`MemoryPlan`](memory::MemoryPlan)), are refused before pixels are allocated,
//!    truncated or damaged ones unless lenient ([`DecodeOptions`](decoding::DecodeOptions)). While
//!    the engine decodes a PNG (serially), the pool's other threads mark
//!    the colours of its rows as they arrive: the analysis's first pass.
//! 2. **Analyse once** (`analyse/`, [`Look::prepare`](looks::Look::prepare)): the image is indexed by colour,
//!    so that everything that does not depend on a palette is computed once
//!    per distinct colour (a few percent of the pixels of a photo), among it
//!    a seeded k-means of those colours weighted by their pixels for each
//!    cluster count the palettes need ([`dominant_colours`](looks::dominant_colours)). Its large
//!    buffers (and a decoded PNG's pixels) are allocated in 2 MiB huge
//!    pages where Linux has them (`large_buffer`): written once, all of
//!    them, they would otherwise take a page fault every 4 KiB.
//! 3. **Recolour** (`look/`, [`PreparedLook::recolour`](looks::PreparedLook::recolour)): per palette, a table of the
//!    distinct colours recoloured, then one lookup a pixel; palettes in
//!    parallel in the engine's rayon pool, and bands of one image in
//!    parallel when there are fewer palettes than threads. For a PNG the
//!    lookups are made row by row as the encoder takes the rows
//!    ([`PreparedLook::painter`](looks::PreparedLook::painter)), while they are in cache.
//! 4. **Encode** (`encode/`, [`OutputFormat`]; PNG in parallel bands of rows) and
//!    **send** each [`Variation`] down a bounded `crossbeam-channel`. A full
//!    channel blocks the workers, so a slow consumer throttles the pool and
//!    memory stays bounded.
//!
//! An [`Engine`] is configured once ([`EngineBuilder`]; the look named by a
//! [`LookSpec`](looks::LookSpec), whose options and ranges are listed once in
//! [`LOOK_OPTIONS`](looks::LOOK_OPTIONS) for the command line and Python alike) and runs each
//! image as a [`Job`]; `engine/` holds its configuration, the job, the
//! memory budget and the making of one variation, each in a file of its own.
//! Beside the stages: `colour/` (CIELAB, OpenCV's 8-bit colour, the colour
//! marks), `simd` (the one place that chooses AVX2 or portable kernels),
//! `limits` (the figures of the budget's messages), `large_buffer`,
//! `pixels`, `resize`, `palette`, `recipe` and `error`. No module reaches
//! one that reaches it back (`scripts/module_graph.py`, run by CI).
//!
//! The pool's thread count is the only concurrency limit; a run makes fewer
//! variations at once only when the memory budget says their frames would
//! not fit. A palette that
//! fails, even by panicking, becomes a failed [`Variation`] and never stops
//! the others; a [`Canceller`] stops new variations from starting, and the
//! rest still come out, marked cancelled. Output is deterministic: the same
//! input and [`Recipe`] give the same bytes at any thread count, and the
//! recipe's digest names them in storage. This crate knows nothing of
//! async, networks or storage; `variegate-store` takes a [`Job`] from here.
//!
//! ```no_run
//! use variegate_core::{Engine, Palette};
//!
//! let engine = Engine::builder().threads(2).build()?;
//! let image = engine.open("coffee.png")?;
//! let palettes = Palette::load_list("palettes.json")?;
//! let job = engine.start(image, palettes)?;
//! for variation in job.variations() {
//!     match &variation.result {
//!         Ok(encoded) => println!("{}: {} bytes", variation.palette.name, encoded.bytes().len()),
//!         Err(error) => eprintln!("{error}"),
//!     }
//! }
//! job.wait();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

// The stages, in the order the data flows, then what they share.
mod analyse;
mod decode;
mod encode;
mod engine;
mod look;

mod colour;
mod error;
mod large_buffer;
mod limits;
pub mod millis;
mod palette;
mod pixels;
mod preview;
mod recipe;
mod resize;
mod simd;

// The main flow: an engine, an image, palettes, a job and its variations.
pub use decode::{SourceImage, SourceInfo};
pub use encode::{EncodedImage, OutputFormat};
pub use engine::cancel::{Cancellation, Canceller};
pub use engine::{
    Engine, EngineBuilder, Job, MAX_SIZES, RunSummary, THREADS_PER_CORE, Variation, VariationTimings,
    panic_message,
};
pub use error::{
    BuildError, DecodeError, Error, LookError, OverBudget, PaletteError, VariationError, one_line,
};
pub use palette::Palette;
pub use pixels::{Channels, Rgb8};
pub use preview::Preview;
pub use recipe::{OUTPUT_VERSION, Recipe};

/// The looks, their options (one table for the command line, Python and
/// the builder) and the analysis they share.
pub mod looks {
    pub use crate::analyse::{AnalysisOptions, dominant_colours};
    pub use crate::look::{
        Dither, DitherMethod, GradientLook, LOOK_OPTIONS, Look, LookName, LookOption, LookSpec,
        LookSpecError, OptionKind, OptionValue, PreparedLook, RemapLook, RowPainter, ShiftLook, ShiftOptions,
        SoftLook, look_option,
    };
    pub use crate::recipe::option_number;
}

/// The output formats: their settings and ranges (one table), defaults,
/// how variations are written, and the encoder's errors.
pub mod formats {
    pub use crate::encode::{
        BufferGauge, DEFAULT_AVIF_QUALITY, DEFAULT_AVIF_SPEED, DEFAULT_JPEG_QUALITY, DEFAULT_WEBP_QUALITY,
        EncodeError, EncodeOptions, EncodedImage, FORMAT_SETTINGS, FormatSetting, OutputFormat,
    };
}

/// Reading and decoding images: the options, the limits checked before a
/// file is read, and a header's figures.
pub mod decoding {
    pub use crate::decode::{
        ColourProfiles, DEFAULT_MAX_PIXELS, DecodeOptions, FileLimit, ImageHeader, read_image_file,
    };
}

/// The memory budget: the plan and its estimate, the default budget, and
/// sizes as people write and read them.
pub mod memory {
    pub use crate::engine::memory::{MemoryPlan, default_max_memory};
    pub use crate::limits::{MemoryEstimate, Size, parse_size};
}

// Crates whose types appear in this crate's API, so that embedders use the
// very versions it was built with.
pub use crossbeam_channel;
pub use image;
pub use rayon;
pub use serde_json;
