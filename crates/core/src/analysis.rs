//! What looks learn from the image before any palette is applied: a small
//! copy of it, downscaled once with `fast_image_resize`, whose colours feed
//! the clustering.

use crate::resize::{Filter, fit, resize};
use crate::source::{Channels, SourceImage};

/// How the per-image analysis runs; shared by every look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalysisOptions {
    /// Longest side of the analysis image, in pixels. Default 256.
    pub max_side: u32,
    /// Seed of the clustering. Default 0.
    pub seed: u64,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions { max_side: 256, seed: 0 }
    }
}

/// The colours of the analysis image, one `[r, g, b]` (0..=255) a pixel,
/// fully transparent pixels left out.
///
/// Downscaling picks one pixel per output pixel (nearest neighbour) on
/// purpose: clustering wants a fair sample of the colours actually in the
/// image, and averaging filters would invent in-between colours and pull the
/// clusters together, the more so the larger the image.
pub fn sample_colours(image: &SourceImage, max_side: u32) -> Vec<[f32; 3]> {
    let from = (image.width(), image.height());
    let channels = image.channels();
    let small = resize(image.pixels(), from, channels, fit(from.0, from.1, max_side), Filter::Nearest);
    small
        .chunks_exact(channels.count())
        .filter(|px| channels == Channels::Rgb || px[3] > 0)
        .map(|px| [f32::from(px[0]), f32::from(px[1]), f32::from(px[2])])
        .collect()
}
