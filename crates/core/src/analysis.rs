//! What looks learn from the image before any palette is applied: the
//! clustering of its colours ([`dominant_colours`]), over every distinct
//! colour of the image, its starts iterated first on a small copy
//! (downscaled once with `fast_image_resize`).

use crate::indexed::IndexedImage;
use crate::kmeans::kmeans_finished;
use crate::pixels::Channels;
use crate::resize::{Filter, fit, resize};
use crate::source::SourceImage;

/// How the per-image analysis runs; shared by every look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalysisOptions {
    /// Longest side of the copy the k-means starts are first iterated on,
    /// in pixels; the centres are then finished on every distinct colour of
    /// the full image. Default 256.
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
pub fn sample_colours(image: &SourceImage, max_side: u32) -> Vec<[u8; 3]> {
    let from = (image.width(), image.height());
    let channels = image.channels();
    let small = resize(image.pixels(), from, channels, fit(from.0, from.1, max_side), Filter::Nearest);
    small
        .chunks_exact(channels.count())
        .filter(|px| channels == Channels::Rgb || px[3] > 0)
        .map(|px| [px[0], px[1], px[2]])
        .collect()
}

/// The image's `k` dominant colours (sRGB, 0..=255): seeded k-means over
/// its colours, each distinct colour weighted by its pixels (as clustering
/// every pixel), the starts iterated first on the analysis copy. The same image,
/// `k` and options give the same centres, at any thread count.
pub fn dominant_colours(image: &SourceImage, k: usize, options: &AnalysisOptions) -> Vec<[f32; 3]> {
    let indexed = IndexedImage::new(image);
    let sample = sample_colours(image, options.max_side);
    let mut centres = kmeans_finished(&sample, indexed.colours(), &indexed.counts(image), &[k], options.seed);
    centres.pop().unwrap_or_default()
}
