//! Colour marks: a bit per possible 24-bit colour (2 MiB), set for the
//! colours an image has. The first pass of indexing an image
//! (`analyse::indexed`), and made while a PNG decodes, band by band on the
//! pool's other threads (`decode`): so it sits below both.

use rayon::prelude::*;

use crate::large_buffer::LargeBuffer;

/// 2^24 colours, one bit each, 64 to a word: the words of a bitmap.
pub(crate) const WORDS: usize = 1 << 18;

/// Fewest pixels per bitmap of [`mark_pixels`] (the memory plan counts the
/// bitmaps: at most one a thread).
pub(crate) const MARK_PIXELS: usize = 1 << 18;

/// A colour's position among the 2^24: `0xRRGGBB`.
#[inline(always)]
pub(crate) fn key(px: &[u8]) -> u32 {
    u32::from_be_bytes([0, px[0], px[1], px[2]])
}

/// A bit per 24-bit colour, set for the colours present in `pixels` (of
/// `channels` bytes each): each piece of at least [`MARK_PIXELS`] pixels,
/// at most one per thread, marks its own bitmap with plain writes (no
/// atomics, no branch on whether a colour is new, which a colour-rich image
/// mispredicts on every fourth pixel), and the bitmaps are merged with OR.
pub(crate) fn mark_pixels(pixels: &[u8], channels: usize) -> LargeBuffer<u64> {
    let count = pixels.len() / channels;
    let pieces = rayon::current_num_threads().max(1);
    let piece = count.div_ceil(pieces).max(MARK_PIXELS) * channels;
    pixels
        .par_chunks(piece)
        .map(|piece| {
            let mut marks = LargeBuffer::zeroed(WORDS);
            mark_rows(piece, channels, &mut marks);
            marks
        })
        .reduce_with(|mut marks, other| {
            marks.iter_mut().zip(&other).for_each(|(word, other)| *word |= other);
            marks
        })
        .unwrap_or_else(|| LargeBuffer::zeroed(WORDS))
}

/// Sets the bit of each colour of `rows` (pixels of `channels` bytes) in
/// `marks` (of [`WORDS`]), as [`mark_pixels`] does.
pub(crate) fn mark_rows(rows: &[u8], channels: usize, marks: &mut [u64]) {
    match channels {
        3 => mark_piece::<3>(rows, marks),
        _ => mark_piece::<4>(rows, marks),
    }
}

/// [`mark_rows`] for pixels of `C` bytes each: the pixel size known at
/// compile time, so the loop is a few instructions a pixel.
fn mark_piece<const C: usize>(piece: &[u8], marks: &mut [u64]) {
    for px in piece.as_chunks::<C>().0 {
        let key = key(px);
        // `& (WORDS - 1)` keeps the index in bounds without a check (it already is).
        marks[(key >> 6) as usize & (WORDS - 1)] |= 1u64 << (key & 63);
    }
}
