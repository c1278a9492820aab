//! Resizing with `fast_image_resize`: the `max_side` downscaling of
//! sources, and thumbnails; Lanczos3 with alpha-aware (premultiplied)
//! filtering, for images people look at.

use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::{U8x3, U8x4};
use fast_image_resize::{FilterType, PixelTrait, ResizeAlg, ResizeOptions, Resizer};

use crate::pixels::Channels;

/// The size that fits `width` x `height` within `max_side` on its longest
/// side, keeping the aspect ratio; the same size if it already fits.
pub(crate) fn fit(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max_side {
        return (width, height);
    }
    let scale = f64::from(max_side.max(1)) / f64::from(longest);
    let side = |s: u32| ((f64::from(s) * scale).round() as u32).clamp(1, max_side.max(1));
    (side(width), side(height))
}

/// Resizes interleaved 8-bit pixels to `to` (width, height).
pub(crate) fn resize(pixels: &[u8], from: (u32, u32), channels: Channels, to: (u32, u32)) -> Vec<u8> {
    if from == to {
        return pixels.to_vec();
    }
    let options =
        ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)).use_alpha(true);
    let mut out = vec![0; to.0 as usize * to.1 as usize * channels.count()];
    // Typed, for the two pixel types there are: fast_image_resize's untyped
    // entry point would compile its kernels for every pixel type it knows,
    // most of this crate's build time.
    let resized = match channels {
        Channels::Rgb => resize_typed::<U8x3>(pixels, from, &mut out, to, &options),
        Channels::Rgba => resize_typed::<U8x4>(pixels, from, &mut out, to, &options),
    };
    // The callers pass whole images of the stated size, so this cannot fail;
    // if it ever did, nearest-neighbour by hand is a safe answer.
    match resized {
        Some(()) => out,
        None => nearest_by_hand(pixels, from, channels.count(), to),
    }
}

fn resize_typed<P: PixelTrait>(
    pixels: &[u8],
    from: (u32, u32),
    out: &mut [u8],
    to: (u32, u32),
    options: &ResizeOptions,
) -> Option<()> {
    let src = TypedImageRef::<P>::from_buffer(from.0, from.1, pixels).ok()?;
    let mut dst = TypedImage::<P>::from_buffer(to.0, to.1, out).ok()?;
    Resizer::new().resize_typed(&src, &mut dst, options).ok()
}

fn nearest_by_hand(pixels: &[u8], from: (u32, u32), channels: usize, to: (u32, u32)) -> Vec<u8> {
    let mut out = Vec::with_capacity(to.0 as usize * to.1 as usize * channels);
    for y in 0..to.1 as usize {
        let sy = y * from.1 as usize / to.1 as usize;
        for x in 0..to.0 as usize {
            let sx = x * from.0 as usize / to.0 as usize;
            let at = (sy * from.0 as usize + sx) * channels;
            out.extend_from_slice(pixels.get(at..at + channels).unwrap_or(&[0; 4][..channels]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_longest_side() {
        assert_eq!(fit(600, 400, 256), (256, 171));
        assert_eq!(fit(400, 600, 256), (171, 256));
        assert_eq!(fit(100, 50, 256), (100, 50));
        assert_eq!(fit(10_000, 1, 100), (100, 1));
    }
}
