//! What looks learn from the image before any palette is applied: a small
//! copy of it, downscaled once with `fast_image_resize`, whose colours feed
//! the clustering.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{PixelType, ResizeAlg, ResizeOptions, Resizer};

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
/// Downscaling averages each block of pixels (a box filter): fine texture and
/// noise average out, so the clusters follow the image's main colour masses.
pub fn sample_colours(image: &SourceImage, max_side: u32) -> Vec<[f32; 3]> {
    let (width, height) = (image.width(), image.height());
    let scale = f64::from(max_side.max(1)) / f64::from(width.max(height));
    let channels = image.channels();
    let pixels: std::borrow::Cow<'_, [u8]> = if scale >= 1.0 {
        image.pixels().into()
    } else {
        let dst_width = ((f64::from(width) * scale).round() as u32).max(1);
        let dst_height = ((f64::from(height) * scale).round() as u32).max(1);
        resize(image, dst_width, dst_height).into()
    };
    pixels
        .chunks_exact(channels.count())
        .filter(|px| channels == Channels::Rgb || px[3] > 0)
        .map(|px| [f32::from(px[0]), f32::from(px[1]), f32::from(px[2])])
        .collect()
}

fn resize(image: &SourceImage, width: u32, height: u32) -> Vec<u8> {
    let pixel_type = match image.channels() {
        Channels::Rgb => PixelType::U8x3,
        Channels::Rgba => PixelType::U8x4,
    };
    // A SourceImage always holds exactly width*height pixels of its type, so
    // neither of these can fail; fall back to all pixels rather than panic.
    let Ok(src) = ImageRef::new(image.width(), image.height(), image.pixels(), pixel_type) else {
        return image.pixels().to_vec();
    };
    let mut dst = Image::new(width, height, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Nearest).use_alpha(false);
    match Resizer::new().resize(&src, &mut dst, &options) {
        Ok(()) => dst.into_vec(),
        Err(_) => image.pixels().to_vec(),
    }
}
