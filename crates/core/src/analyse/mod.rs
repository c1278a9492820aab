//! What looks learn from the image before any palette is applied: the
//! clustering of its colours ([`dominant_colours`]), over every distinct
//! colour of the image, its starts run on a weighted coreset of them.

pub(crate) mod indexed;
pub(crate) mod kmeans;

use crate::analyse::indexed::IndexedImage;
use crate::analyse::kmeans::kmeans_finished;
use crate::decode::SourceImage;

/// How the per-image analysis runs; shared by every look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnalysisOptions {
    /// Seed of the clustering. Default 0.
    pub seed: u64,
}

/// The image's `k` dominant colours (sRGB, 0..=255): seeded k-means over
/// its colours, each distinct colour weighted by its pixels (as clustering
/// every pixel), the starts run on a weighted coreset of them. The same
/// image, `k` and options give the same centres, at any thread count.
pub fn dominant_colours(image: &SourceImage, k: usize, options: &AnalysisOptions) -> Vec<[f32; 3]> {
    let indexed = IndexedImage::new(image);
    let mut centres = kmeans_finished(indexed.colours(), &indexed.counts(image), &[k], options.seed);
    centres.pop().unwrap_or_default()
}
