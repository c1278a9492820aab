//! Typed errors. Each message is one line that names what was wrong and where.

use crate::limits::{MemoryEstimate, Size, largest_file};

/// Why an image could not be turned into pixels.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file could not be read.
    #[error("{origin}: cannot read file: {source}")]
    Read {
        /// The path.
        origin: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file has no bytes.
    #[error("{origin}: file is empty")]
    Empty {
        /// The path or name.
        origin: String,
    },
    /// The bytes are not a PNG, JPEG or WebP image.
    #[error("{origin}: not a PNG, JPEG or WebP image")]
    UnknownFormat {
        /// The path or name.
        origin: String,
    },
    /// The header declares a width or height of zero.
    #[error("{origin}: image is {width}x{height}, which has no pixels")]
    ZeroSized {
        /// The path or name.
        origin: String,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The header declares more pixels than the budget allows.
    #[error(
        "{origin}: image is {width}x{height} ({}), over the limit of {}",
        megapixels(*width as u64 * *height as u64),
        megapixels(*max_pixels)
    )]
    TooLarge {
        /// The path or name.
        origin: String,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The budget it is over.
        max_pixels: u64,
    },
    /// The image, as it would be recoloured, is larger than the output
    /// format can store (see [`crate::OutputFormat::max_side`]).
    #[error("{origin}: image is {width}x{height}, over {format}'s limit of {max_side} pixels a side")]
    OverFormatLimit {
        /// The path or name.
        origin: String,
        /// Width of the variations.
        width: u32,
        /// Height of the variations.
        height: u32,
        /// The format, e.g. `lossy WebP`.
        format: &'static str,
        /// Its longest side.
        max_side: u32,
    },
    /// The file is larger than the memory budget (refused before it is
    /// read; a stream, once it has passed the budget).
    #[error("{origin}: {}, over the memory budget of {}", file_size(*bytes, *budget), Size(*budget))]
    FileOverMemory {
        /// The path or name.
        origin: String,
        /// Its size; `None` for a stream read past the budget.
        bytes: Option<u64>,
        /// The budget, in bytes.
        budget: u64,
    },
    /// The file is larger than any image within the pixel budget can be
    /// (see [`crate::decoding::FileLimit::for_pixels`]).
    #[error(
        "{origin}: {}, larger than any image of at most {}",
        file_size(*bytes, largest_file(*max_pixels)),
        megapixels(*max_pixels)
    )]
    FileTooLarge {
        /// The path or name.
        origin: String,
        /// Its size; `None` for a stream read past the limit.
        bytes: Option<u64>,
        /// The pixel budget.
        max_pixels: u64,
    },
    /// Recolouring the image would need more memory than the budget, even
    /// one palette at a time.
    #[error(transparent)]
    OverMemory(OverBudget),
    /// The file is truncated or its data damaged (decoders that read on
    /// past such damage only warn).
    #[error("{origin}: cannot decode {format} image: {reason}")]
    Damaged {
        /// The path or name.
        origin: String,
        /// `JPEG`.
        format: &'static str,
        /// What the decoder said, e.g. "Premature end of JPEG file".
        reason: String,
    },
    /// The decoder failed on the pixel data.
    #[error("{origin}: cannot decode {format} image: {}", decoder_message(source))]
    Corrupt {
        /// The path or name.
        origin: String,
        /// `PNG`, `JPEG`, `WebP` or `raw`.
        format: &'static str,
        /// What the decoder said.
        source: image::ImageError,
    },
}

/// A decoder's message on one line: some end lines inside it.
fn decoder_message(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    lines.join("; ")
}

/// An error and its causes on one line, each said once (errors of this
/// workspace already name their cause in their own message): how the
/// command line, manifests and results lines write errors of other crates.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// "file of 1.0 GiB", or "a stream of more than 100 MiB".
fn file_size(bytes: Option<u64>, limit: u64) -> String {
    match bytes {
        Some(bytes) => format!("file of {}", Size(bytes)),
        None => format!("a stream of more than {}", Size(limit)),
    }
}

/// "100.0 megapixels", or below one megapixel "153 pixels" (not "0.0").
fn megapixels(pixels: u64) -> String {
    match pixels {
        0..1_000_000 => format!("{pixels} pixels"),
        _ => format!("{:.1} megapixels", pixels as f64 / 1e6),
    }
}

/// Why a palettes file or palette could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PaletteError {
    /// The file could not be read.
    #[error("{origin}: cannot read palettes: {source}")]
    Read {
        /// The path.
        origin: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is blank or an empty list.
    #[error("{origin}: no palettes: expected a JSON array with at least one palette")]
    Empty {
        /// The path.
        origin: String,
    },
    /// The JSON is valid but not a list.
    #[error("{origin}: expected a JSON array of palettes")]
    NotAList {
        /// The path.
        origin: String,
    },
    /// The JSON does not parse, or a palette lacks a field.
    #[error("{origin}: invalid palettes JSON at line {line}, column {column}: {message}")]
    Syntax {
        /// The path.
        origin: String,
        /// Line of the problem, from 1.
        line: usize,
        /// Column of the problem, from 1.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A palette that cannot work: no colours, or more than the look takes.
    #[error("{origin}: palette {position} ({name:?}): {reason}")]
    Unusable {
        /// Where the palette came from.
        origin: String,
        /// The palette's position in its list, from 1.
        position: usize,
        /// The palette's name.
        name: String,
        /// Why it cannot work.
        reason: String,
    },
    /// A colour is not `#RGB` or `#RRGGBB`.
    #[error(
        "{origin}: palette {position} ({name:?}): colour {colour_position} {colour:?} is not a hex colour (#RGB or #RRGGBB)"
    )]
    BadColour {
        /// Where the palette came from.
        origin: String,
        /// The palette's position in its list, from 1.
        position: usize,
        /// The palette's name.
        name: String,
        /// The colour's position in the palette, from 1.
        colour_position: usize,
        /// The text given.
        colour: String,
    },
}

/// Why a look could not prepare an image or recolour it with a palette.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LookError(pub String);

/// A run that would need more memory than its budget, even making one
/// variation at a time. Its message gives the estimate's parts, which add
/// up to its total.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} needs {} {estimate}, over the memory budget of {}", if *at_least { "at least" } else { "about" }, Size(*budget))]
pub struct OverBudget {
    /// What was refused, e.g. `big.png: recolouring 10000x10000 pixels`.
    pub what: String,
    /// The estimate, by what holds the memory.
    pub estimate: MemoryEstimate,
    /// The budget, in bytes.
    pub budget: u64,
    /// Whether the estimate is the least any run of the image needs (one
    /// palette, one colour: from its header, before its palettes and
    /// colours are known), rather than this run's.
    pub at_least: bool,
}

/// Why one variation was not made. The others are not affected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VariationError {
    /// The palette has no colours.
    #[error("palette {name:?} has no colours")]
    EmptyPalette {
        /// The palette's name.
        name: String,
    },
    /// The look's per-image preparation failed, so no palette could be applied.
    #[error("analysing the image for the {look} look failed: {reason}")]
    Analysis {
        /// The look's name.
        look: String,
        /// What went wrong.
        reason: String,
    },
    /// The look failed on this palette.
    #[error("recolouring with palette {name:?} failed: {reason}")]
    Look {
        /// The palette's name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// The encoder failed.
    #[error("encoding palette {name:?} as {format} failed: {reason}")]
    Encode {
        /// The palette's name.
        name: String,
        /// `PNG`, `JPEG` or `WebP`.
        format: &'static str,
        /// What the encoder said.
        reason: String,
    },
    /// Something panicked while making it; caught, so the run goes on.
    #[error("palette {name:?} panicked: {reason}")]
    Panicked {
        /// The palette's name.
        name: String,
        /// The panic's message.
        reason: String,
    },
    /// The run would need more memory than the budget, even one variation
    /// at a time, so none was made.
    #[error(transparent)]
    Memory(OverBudget),
    /// The job was cancelled before this variation was started.
    #[error("cancelled ({reason}) before it was made")]
    Cancelled {
        /// Why the job was cancelled, e.g. `SIGTERM`.
        reason: String,
    },
}

/// Why an engine (or a look for it) could not be built from its options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The thread pool could not start.
    #[error("cannot start a pool of {threads} threads: {source}")]
    Pool {
        /// Threads asked for.
        threads: usize,
        /// What rayon said.
        source: rayon::ThreadPoolBuildError,
    },
    /// An option is out of its range.
    #[error("invalid option {option}: {reason}")]
    Option {
        /// The option, as the builder or options struct names it.
        option: &'static str,
        /// Its range, and the value given.
        reason: String,
    },
}

/// Any error of this crate, for callers that want one type to `?` through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`DecodeError`].
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// See [`PaletteError`].
    #[error(transparent)]
    Palette(#[from] PaletteError),
    /// See [`BuildError`].
    #[error(transparent)]
    Build(#[from] BuildError),
}
