//! What looks learn from the image before any palette is applied: the
//! clustering of its colours ([`dominant_colours`]), over every distinct
//! colour of the image by default, or over the colours of a small copy
//! (downscaled once with `fast_image_resize`) when speed matters more than
//! matching the original service.

use crate::indexed::IndexedImage;
use crate::kmeans::{kmeans, kmeans_weighted};
use crate::pixels::Channels;
use crate::resize::{Filter, fit, resize};
use crate::source::SourceImage;

/// How the per-image analysis runs; shared by every look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnalysisOptions {
    /// Cluster a copy of the image whose longest side is at most this many
    /// pixels, instead of every distinct colour of the full image. Default
    /// `None`: the full image, as the original service did.
    pub max_side: Option<u32>,
    /// Seed of the clustering. Default 0.
    pub seed: u64,
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
/// its colours, each distinct colour weighted by its pixels, or over the
/// analysis copy's colours when [`AnalysisOptions::max_side`] is set. The
/// same image, `k` and options give the same centres, at any thread count.
pub fn dominant_colours(image: &SourceImage, k: usize, options: &AnalysisOptions) -> Vec<[f32; 3]> {
    match options.max_side {
        Some(max_side) => kmeans(&sample_colours(image, max_side), k, options.seed),
        None => {
            let indexed = IndexedImage::new(image);
            kmeans_weighted(indexed.colours(), &indexed.counts(image), k, options.seed)
        }
    }
}
