//! Resizing with `fast_image_resize`: the `max_side` downscaling of
//! sources, sizes, thumbnails and previews; Lanczos3 with alpha-aware
//! (premultiplied) filtering, for images people look at; a band of rows at
//! a time when shrinking, so that no whole-image intermediate is held.

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

/// Resizes interleaved 8-bit pixels to `to` (width, height): a band of
/// output rows at a time where it shrinks ([`resize_banded`]), whole where
/// it grows.
pub(crate) fn resize(pixels: &[u8], from: (u32, u32), channels: Channels, to: (u32, u32)) -> Vec<u8> {
    match to.0 <= from.0 && to.1 <= from.1 {
        true => resize_banded(pixels, from, channels, to),
        false => resize_whole(pixels, from, channels, to),
    }
}

/// [`resize`] in one call of fast_image_resize.
fn resize_whole(pixels: &[u8], from: (u32, u32), channels: Channels, to: (u32, u32)) -> Vec<u8> {
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

/// Output rows a band makes at a time: large enough that the filter's
/// weights along a row, computed again for each band, cost little.
const BAND_ROWS: u32 = 256;

/// One band of a shrinking resize: output rows `y0..y1`, made from source
/// rows `first..last` (the band's box, `top..bottom`, and the filter's
/// reach on each side).
struct Band {
    y0: u32,
    y1: u32,
    first: u32,
    last: u32,
    top: f64,
    bottom: f64,
}

/// The bands of a shrink from `from` to `to`, top to bottom.
fn bands(from: (u32, u32), to: (u32, u32)) -> Vec<Band> {
    let scale = f64::from(from.1) / f64::from(to.1);
    // Lanczos3 reaches 3 source pixels, times the scale when shrinking; one more for rounding.
    let reach = 3.0 * scale.max(1.0) + 1.0;
    let starts = (0..to.1).step_by(BAND_ROWS as usize);
    starts
        .map(|y0| {
            let y1 = (y0 + BAND_ROWS).min(to.1);
            let (top, bottom) = (f64::from(y0) * scale, f64::from(y1) * scale);
            let first = (top - reach).floor().max(0.0) as u32;
            let last = ((bottom + reach).ceil() as u32).min(from.1);
            Band { y0, y1, first, last, top, bottom }
        })
        .collect()
}

/// Resizes one band: `rows` are the band's source rows, `out` its output rows.
fn resize_band(
    resizer: &mut Resizer,
    band: &Band,
    rows: &[u8],
    width: (u32, u32),
    channels: Channels,
    out: &mut [u8],
) -> Option<()> {
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .use_alpha(true)
        .crop(0.0, band.top - f64::from(band.first), f64::from(width.0), band.bottom - band.top);
    let (from, to) = ((width.0, band.last - band.first), (width.1, band.y1 - band.y0));
    match channels {
        Channels::Rgb => band_typed::<U8x3>(resizer, rows, from, out, to, &options),
        Channels::Rgba => band_typed::<U8x4>(resizer, rows, from, out, to, &options),
    }
}

/// A shrinking resize made a band of output rows at a time from the source
/// rows that band reads (with the filter's reach on each side), so that it
/// holds no whole-image intermediate (fast_image_resize's pass between its
/// two, the new width by the old height, and with alpha a premultiplied
/// copy of the source): beyond `pixels` it holds the output and one band's
/// worth. Each output row is filtered from the same source rows with the
/// same weights as in one whole resize, so the bytes are the whole resize's
/// (tested), at any thread count.
fn resize_banded(pixels: &[u8], from: (u32, u32), channels: Channels, to: (u32, u32)) -> Vec<u8> {
    if from == to || to.0 == 0 || to.1 == 0 {
        return resize_whole(pixels, from, channels, to);
    }
    let (row_in, row_out) = (from.0 as usize * channels.count(), to.0 as usize * channels.count());
    let mut out = vec![0; row_out * to.1 as usize];
    let mut resizer = Resizer::new();
    for band in bands(from, to) {
        let rows = &pixels[band.first as usize * row_in..band.last as usize * row_in];
        let band_out = &mut out[band.y0 as usize * row_out..band.y1 as usize * row_out];
        if resize_band(&mut resizer, &band, rows, (from.0, to.0), channels, band_out).is_none() {
            // Whole images of the stated size cannot fail; were it ever to,
            // the whole resize is the answer.
            return resize_whole(pixels, from, channels, to);
        }
    }
    out
}

/// Shrinks the image in `frame` (`from`) to `to` within the same buffer:
/// each band's output is written over source rows no later band reads, so
/// that no second image is held (only one band's output at a time). The
/// same bytes as [`resize`]. `false`, with `frame` untouched, where it does
/// not shrink or where a band's output would reach rows still to be read
/// (a shrink by less than a few percent): the caller resizes into a buffer
/// of its own. `Err` if a band could not be resized (whole images of the
/// stated size cannot fail), `frame` then half written.
pub(crate) fn shrink_in_place(
    frame: &mut Vec<u8>,
    from: (u32, u32),
    channels: Channels,
    to: (u32, u32),
) -> Result<bool, ()> {
    if from == to || to.0 == 0 || to.1 == 0 || to.0 > from.0 || to.1 > from.1 {
        return Ok(false);
    }
    let (row_in, row_out) = (from.0 as usize * channels.count(), to.0 as usize * channels.count());
    let bands = bands(from, to);
    let overwrites_unread =
        bands.windows(2).any(|pair| pair[0].y1 as usize * row_out > pair[1].first as usize * row_in);
    if overwrites_unread || frame.len() < row_in * from.1 as usize {
        return Ok(false);
    }
    let mut resizer = Resizer::new();
    let mut band_out = Vec::new();
    for band in &bands {
        band_out.resize((band.y1 - band.y0) as usize * row_out, 0);
        let rows = &frame[band.first as usize * row_in..band.last as usize * row_in];
        resize_band(&mut resizer, band, rows, (from.0, to.0), channels, &mut band_out).ok_or(())?;
        frame[band.y0 as usize * row_out..band.y1 as usize * row_out].copy_from_slice(&band_out);
    }
    frame.truncate(row_out * to.1 as usize);
    Ok(true)
}

fn band_typed<P: PixelTrait>(
    resizer: &mut Resizer,
    rows: &[u8],
    from: (u32, u32),
    out: &mut [u8],
    to: (u32, u32),
    options: &ResizeOptions,
) -> Option<()> {
    let src = TypedImageRef::<P>::from_buffer(from.0, from.1, rows).ok()?;
    let mut dst = TypedImage::<P>::from_buffer(to.0, to.1, out).ok()?;
    resizer.resize_typed(&src, &mut dst, options).ok()
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
    fn bands_filter_as_one_whole_resize_does() {
        let photo = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rocket.jpg")).unwrap();
        for channels in [Channels::Rgb, Channels::Rgba] {
            let pixels = match channels {
                Channels::Rgb => photo.to_rgb8().into_raw(),
                Channels::Rgba => {
                    let mut rgba = photo.to_rgba8();
                    rgba.pixels_mut().enumerate().for_each(|(i, p)| p[3] = (i % 256) as u8);
                    rgba.into_raw()
                }
            };
            let from = (photo.width(), photo.height());
            // Downscales (sizes never upscale), in both sides or one.
            for to in
                [fit(from.0, from.1, 600), fit(from.0, from.1, 300), fit(from.0, from.1, 97), (200, 427)]
            {
                let (whole, banded) =
                    (resize_whole(&pixels, from, channels, to), resize_banded(&pixels, from, channels, to));
                let differ = whole.iter().zip(&banded).filter(|(a, b)| a != b).count();
                assert_eq!(differ, 0, "{channels:?} {to:?}: {differ} of {} differ", whole.len());
            }
        }
    }

    #[test]
    fn a_shrink_in_place_gives_the_same_bytes() {
        let photo = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/retina.jpg")).unwrap();
        let (pixels, from) = (photo.to_rgb8().into_raw(), (photo.width(), photo.height()));
        for side in [1380, 1000, 480, 64] {
            let to = fit(from.0, from.1, side);
            let mut frame = pixels.clone();
            let shrunk = shrink_in_place(&mut frame, from, Channels::Rgb, to).unwrap();
            match shrunk {
                true => assert!(frame == resize(&pixels, from, Channels::Rgb, to), "{side}"),
                false => assert!(frame == pixels && side == 1380, "{side}: only a shrink of 2% is refused"),
            }
        }
    }

    #[test]
    fn fits_longest_side() {
        assert_eq!(fit(600, 400, 256), (256, 171));
        assert_eq!(fit(400, 600, 256), (171, 256));
        assert_eq!(fit(100, 50, 256), (100, 50));
        assert_eq!(fit(10_000, 1, 100), (100, 1));
    }
}
