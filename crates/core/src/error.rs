//! Typed errors. Each message is one line that names what was wrong and where.

/// Why an image could not be turned into pixels.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{origin}: cannot read file: {source}")]
    Read { origin: String, source: std::io::Error },
    #[error("{origin}: file is empty")]
    Empty { origin: String },
    #[error("{origin}: not a PNG, JPEG or WebP image")]
    UnknownFormat { origin: String },
    #[error("{origin}: image is {width}x{height}, which has no pixels")]
    ZeroSized { origin: String, width: u32, height: u32 },
    #[error(
        "{origin}: image is {width}x{height} ({} megapixels), over the limit of {} megapixels",
        megapixels(*width as u64 * *height as u64),
        megapixels(*max_pixels)
    )]
    TooLarge { origin: String, width: u32, height: u32, max_pixels: u64 },
    #[error("{origin}: cannot decode {format} image: {source}")]
    Corrupt { origin: String, format: &'static str, source: image::ImageError },
}

fn megapixels(pixels: u64) -> String {
    format!("{:.1}", pixels as f64 / 1e6)
}

/// Why a palettes file or palette could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PaletteError {
    #[error("{origin}: cannot read palettes: {source}")]
    Read { origin: String, source: std::io::Error },
    #[error("{origin}: no palettes: expected a JSON array with at least one palette")]
    Empty { origin: String },
    #[error("{origin}: expected a JSON array of palettes")]
    NotAList { origin: String },
    #[error("{origin}: invalid palettes JSON at line {line}, column {column}: {message}")]
    Syntax { origin: String, line: usize, column: usize, message: String },
    #[error(
        "{origin}: palette {position} ({name:?}): colour {colour_position} {colour:?} is not a hex colour (#RGB or #RRGGBB)"
    )]
    BadColour { origin: String, position: usize, name: String, colour_position: usize, colour: String },
}

/// Why one variation failed. The others are not affected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VariationError {
    #[error("palette {name:?} has no colours")]
    EmptyPalette { name: String },
    #[error("recolouring with palette {name:?} failed: {reason}")]
    Look { name: String, reason: String },
    #[error("encoding palette {name:?} as {format} failed: {reason}")]
    Encode { name: String, format: &'static str, reason: String },
    #[error("palette {name:?} panicked: {reason}")]
    Panicked { name: String, reason: String },
}

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot start a pool of {threads} threads: {source}")]
    Pool { threads: usize, source: rayon::ThreadPoolBuildError },
    #[error("invalid option {option}: {reason}")]
    Option { option: &'static str, reason: String },
}

/// Any error of this crate, for callers that want one type to `?` through.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Palette(#[from] PaletteError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Look(#[from] crate::look::LookError),
}
