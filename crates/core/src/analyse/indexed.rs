//! An image in indexed-colour form: its distinct colours, and for every
//! pixel the index of its colour.
//!
//! Every look except dithering gives each pixel a colour that depends only
//! on the pixel's own colour. A photo has a few percent as many distinct
//! colours as pixels (the 2048x2048 frame of the benches: 180 516 for 4.2
//! million pixels), so a look computes its output once per distinct colour,
//! into a table, and [`IndexedImage::paint`] writes the pixels with one
//! lookup each. Per-image work that used to run per pixel (CIELAB, the
//! full-image k-means steps, the cluster labels) runs per colour too,
//! weighted by [`IndexedImage::counts`].
//!
//! Building the index takes two passes over the pixels and no hashing: a
//! bit per possible 24-bit colour (2 MiB, one per thread while marking)
//! marks the colours present, and a colour's index is the number of marked
//! colours below it: listed in parallel bands of the bitmap, each band
//! first counting its own. So colours come out sorted by value and the
//! index is the same whatever the thread count.

use rayon::prelude::*;

use crate::colour::marks::{self, WORDS};
use crate::decode::SourceImage;
use crate::large_buffer::LargeBuffer;

// The AVX2 painting, in intrinsics (`indexed/avx2.rs`).
#[cfg(target_arch = "x86_64")]
mod avx2;

/// Pixels per parallel band.
const BAND_PIXELS: usize = 1 << 16;

/// Fewest pixels per partial histogram in [`IndexedImage::counts`]: one
/// table of 8 bytes a colour per this many pixels, at most one per thread
/// (the memory plan counts them).
pub(crate) const COUNT_PIXELS: usize = 1 << 20;

/// See the module docs.
pub(crate) struct IndexedImage {
    /// The distinct colours, ascending by `0xRRGGBB`.
    colours: Vec<[u8; 3]>,
    /// Per pixel, the index of its colour in `colours`.
    indices: LargeBuffer<u32>,
}

impl IndexedImage {
    pub(crate) fn new(image: &SourceImage) -> IndexedImage {
        let channels = image.channels().count();
        let pixels = image.pixels();
        // Marked as the image was decoded, or now.
        let marked;
        let marks: &[u64] = match image.colour_marks() {
            Some(marks) => marks,
            None => {
                marked = mark_colours(image);
                &marked
            }
        };
        let (colours, below) = list_colours(marks);
        let mut indices = LargeBuffer::zeroed(pixels.len() / channels);
        indices
            .par_chunks_mut(BAND_PIXELS)
            .zip(pixels.par_chunks(BAND_PIXELS * channels))
            .for_each(|(indices, band)| index_band(indices, band, channels, marks, &below));
        IndexedImage { colours, indices }
    }

    /// The distinct colours, ascending by `0xRRGGBB`.
    pub(crate) fn colours(&self) -> &[[u8; 3]] {
        &self.colours
    }

    /// Per pixel, the index of its colour in [`IndexedImage::colours`].
    pub(crate) fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Per colour, how many pixels have it, fully transparent pixels left
    /// out (they have no colour worth clustering).
    pub(crate) fn counts(&self, image: &SourceImage) -> LargeBuffer<u64> {
        let channels = image.channels().count();
        let colours = self.colours.len();
        // At most one partial table per thread (the memory budget counts
        // them), of at least COUNT_PIXELS pixels.
        let pieces = rayon::current_num_threads().max(1);
        let piece = self.indices.len().div_ceil(pieces).max(COUNT_PIXELS);
        self.indices
            .par_chunks(piece)
            .zip(image.pixels().par_chunks(piece * channels))
            .map(|(indices, pixels)| {
                let mut counts = LargeBuffer::zeroed(colours);
                match channels {
                    3 => indices.iter().for_each(|&index| counts[index as usize] += 1),
                    _ => {
                        for (&index, px) in indices.iter().zip(pixels.as_chunks::<4>().0) {
                            counts[index as usize] += u64::from(px[3] > 0);
                        }
                    }
                }
                counts
            })
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            })
            .unwrap_or_else(|| LargeBuffer::zeroed(colours))
    }

    /// Writes every pixel's colour from `table` into `out`, which has the
    /// source's layout; alpha, where present, is copied from the source.
    pub(crate) fn paint(&self, table: &ColourTable, image: &SourceImage, out: &mut [u8]) {
        let channels = image.channels().count();
        let band_bytes = BAND_PIXELS * channels;
        out.par_chunks_mut(band_bytes)
            .zip(image.pixels().par_chunks(band_bytes))
            .zip(self.indices.par_chunks(BAND_PIXELS))
            .for_each(|((out, src), indices)| paint_span(table, indices, src, channels, out));
    }
}

/// A look's colour table and the index it paints through: a variation's
/// pixels a row at a time, so that an encoder can take each row while it is
/// in cache instead of a whole frame painted first
/// ([`PreparedLook::painter`](crate::look::PreparedLook::painter)).
pub struct RowPainter<'a> {
    indexed: &'a IndexedImage,
    table: ColourTable,
    image: &'a SourceImage,
}

impl<'a> RowPainter<'a> {
    pub(crate) fn new(indexed: &'a IndexedImage, table: ColourTable, image: &'a SourceImage) -> Self {
        RowPainter { indexed, table, image }
    }

    /// The image being painted.
    pub(crate) fn image(&self) -> &SourceImage {
        self.image
    }

    /// Writes row `y` (below the image's height) into `out`, one row in the
    /// source's layout. A row the index does not have (a painter given
    /// another image than its look was prepared for) is left as it was.
    pub(crate) fn paint_row(&self, y: usize, out: &mut [u8]) {
        let width = self.image.width() as usize;
        let channels = self.image.channels().count();
        let (start, end) = (y * width, (y + 1) * width);
        let indices = self.indexed.indices.get(start..end).unwrap_or_default();
        let src = self.image.pixels().get(start * channels..end * channels).unwrap_or_default();
        paint_span(&self.table, indices, src, channels, out);
    }
}

/// Writes the colours of `indices` from `table` into `out`, in the layout
/// of `src` (pixels of `channels` bytes), alpha copied from `src`.
fn paint_span(table: &ColourTable, indices: &[u32], src: &[u8], channels: usize, out: &mut [u8]) {
    match channels {
        3 => paint_rgb(table, indices, out),
        _ => {
            let colours = table.colours();
            for ((out, src), &index) in out.chunks_exact_mut(4).zip(src.chunks_exact(4)).zip(indices) {
                let [r, g, b] = colours[index as usize];
                out.copy_from_slice(&[r, g, b, src[3]]);
            }
        }
    }
}

/// Writes the colour of each of `indices` from `table` into `out`, three
/// bytes a pixel: eight pixels a step with AVX2 where the CPU has it.
fn paint_rgb(table: &ColourTable, indices: &[u32], out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    let done = if crate::simd::avx2() {
        // SAFETY: the CPU has AVX2 (`simd`).
        unsafe { avx2::paint_rgb(table, indices, out) }
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    let colours = table.colours();
    for (out, &index) in out[done * 3..].chunks_exact_mut(3).zip(&indices[done..]) {
        out.copy_from_slice(&colours[index as usize]);
    }
}

/// Per distinct colour, what a look paints it as ([`colour_table`] builds
/// it), and one entry more, so that a 4-byte read at any entry's start
/// stays inside.
pub(crate) struct ColourTable {
    entries: Vec<[u8; 3]>,
}

impl ColourTable {
    /// The entries, one per distinct colour, without the padding one.
    fn colours(&self) -> &[[u8; 3]] {
        &self.entries[..self.entries.len().saturating_sub(1)]
    }
}

impl IndexedImage {
    /// Writes every pixel's entry of `table` (one byte per distinct colour)
    /// into `out`, one byte a pixel.
    pub(crate) fn paint_indices(&self, table: &[u8], out: &mut [u8]) {
        out.par_chunks_mut(BAND_PIXELS).zip(self.indices.par_chunks(BAND_PIXELS)).for_each(
            |(out, indices)| {
                for (out, &index) in out.iter_mut().zip(indices) {
                    *out = table[index as usize];
                }
            },
        );
    }
}

/// Words of the bitmap per parallel band while listing: 16 bands of the
/// 2^18, so that two threads share a photo's colours evenly.
const LIST_WORDS: usize = WORDS / 16;

/// The marked colours, ascending, and per word of `marks` the number of
/// colours marked before it: counted per band of [`LIST_WORDS`] first, so
/// that every band knows where its colours start and all list at once.
fn list_colours(marks: &[u64]) -> (Vec<[u8; 3]>, LargeBuffer<u32>) {
    let mut firsts: Vec<usize> = marks
        .par_chunks(LIST_WORDS)
        .map(|words| words.iter().map(|word| word.count_ones() as usize).sum())
        .collect();
    let mut total = 0;
    for first in &mut firsts {
        (*first, total) = (total, total + *first);
    }
    let mut colours = vec![[0u8; 3]; total];
    let mut below = LargeBuffer::zeroed(WORDS);
    // Each band's colours: from its first to the next band's.
    let mut pieces = Vec::with_capacity(firsts.len());
    let mut rest = colours.as_mut_slice();
    for (band, &first) in firsts.iter().enumerate() {
        let end = firsts.get(band + 1).copied().unwrap_or(total);
        let (piece, after) = rest.split_at_mut(end - first);
        pieces.push(piece);
        rest = after;
    }
    below
        .par_chunks_mut(LIST_WORDS)
        .zip(marks.par_chunks(LIST_WORDS))
        .zip(pieces)
        .zip(firsts)
        .enumerate()
        .for_each(|(band, (((below, words), colours), first))| {
            let mut listed = 0;
            for (offset, (below, &word)) in below.iter_mut().zip(words).enumerate() {
                *below = (first + listed) as u32;
                let word_index = (band * LIST_WORDS + offset) as u32;
                let mut rest = word;
                while rest != 0 {
                    let [_, r, g, b] = (word_index << 6 | rest.trailing_zeros()).to_be_bytes();
                    colours[listed] = [r, g, b];
                    listed += 1;
                    rest &= rest - 1;
                }
            }
        });
    (colours, below)
}

/// The colour marks of `image`, made now.
fn mark_colours(image: &SourceImage) -> LargeBuffer<u64> {
    marks::mark_pixels(image.pixels(), image.channels().count())
}

/// How many distinct colours `image` has, as [`IndexedImage::new`] would
/// find them, without building the index.
pub(crate) fn distinct_colours(image: &SourceImage) -> usize {
    let count = |marks: &[u64]| marks.iter().map(|word| word.count_ones() as usize).sum();
    image.colour_marks().map_or_else(|| count(&mark_colours(image)), count)
}

/// Each pixel's index: the colours marked before its own. Compiled with
/// the POPCNT instruction where the CPU has it (the x86-64 baseline counts
/// bits in a dozen instructions instead of one).
fn index_band(indices: &mut [u32], band: &[u8], channels: usize, marks: &[u64], below: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::popcnt() {
        // SAFETY: the CPU has POPCNT, as just checked.
        return unsafe { index_band_popcnt(indices, band, channels, marks, below) };
    }
    index_band_portable(indices, band, channels, marks, below);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn index_band_popcnt(indices: &mut [u32], band: &[u8], channels: usize, marks: &[u64], below: &[u32]) {
    index_band_portable(indices, band, channels, marks, below);
}

#[inline(always)]
fn index_band_portable(indices: &mut [u32], band: &[u8], channels: usize, marks: &[u64], below: &[u32]) {
    match channels {
        3 => index_pixels::<3>(indices, band, marks, below),
        _ => index_pixels::<4>(indices, band, marks, below),
    }
}

/// [`index_band`] for pixels of `C` bytes each.
#[inline(always)]
fn index_pixels<const C: usize>(indices: &mut [u32], band: &[u8], marks: &[u64], below: &[u32]) {
    for (index, px) in indices.iter_mut().zip(band.as_chunks::<C>().0) {
        let key = marks::key(px);
        let word = (key >> 6) as usize;
        let earlier_bits = (1u64 << (key & 63)) - 1;
        *index = below[word] + (marks[word] & earlier_bits).count_ones();
    }
}

/// Colours per parallel band of a table: small enough that two threads
/// share the few hundred thousand colours of a photo evenly.
const TABLE_BAND: usize = 1 << 12;

/// Computes a table with one entry per distinct colour, in parallel bands:
/// `fill(first, colours, table)` fills the entries for `colours`, the first
/// of which has index `first`.
pub(crate) fn colour_table<F>(colours: &[[u8; 3]], fill: F) -> ColourTable
where
    F: Fn(usize, &[[u8; 3]], &mut [[u8; 3]]) + Sync,
{
    let mut entries = vec![[0u8; 3]; colours.len() + 1];
    entries[..colours.len()]
        .par_chunks_mut(TABLE_BAND)
        .zip(colours.par_chunks(TABLE_BAND))
        .enumerate()
        .for_each(|(band, (table, colours))| fill(band * TABLE_BAND, colours, table));
    ColourTable { entries }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixels::Channels;

    #[test]
    fn indexes_every_pixel_by_its_colour() {
        // RGBA, with repeats, a transparent pixel, and a colour only it has.
        let pixels: Vec<u8> = [
            [9, 9, 9, 255],
            [0, 0, 1, 255],
            [255, 255, 255, 10],
            [9, 9, 9, 255],
            [0, 0, 1, 255],
            [7, 0, 0, 0],
        ]
        .concat();
        let image = SourceImage::from_pixels("t", 3, 2, Channels::Rgba, pixels.clone()).unwrap();
        let indexed = IndexedImage::new(&image);
        assert_eq!(indexed.colours(), &[[0, 0, 1], [7, 0, 0], [9, 9, 9], [255, 255, 255]]);
        assert_eq!(indexed.indices(), &[2, 0, 3, 2, 0, 1]);
        assert_eq!(*indexed.counts(&image), [2, 0, 2, 1]);

        let table = colour_table(indexed.colours(), |_, colours, table| {
            for (entry, colour) in table.iter_mut().zip(colours) {
                *entry = colour.map(|c| 255 - c);
            }
        });
        let mut out = vec![0u8; pixels.len()];
        indexed.paint(&table, &image, &mut out);
        for (out, src) in out.chunks_exact(4).zip(pixels.chunks_exact(4)) {
            assert_eq!(out, [255 - src[0], 255 - src[1], 255 - src[2], src[3]]);
        }
    }

    /// Marked in several pieces and listed in parallel bands, the colours
    /// come out ascending, each pixel indexes its own colour, and the index
    /// is the same in pools of 1, 2 and 4 threads.
    #[test]
    fn the_same_index_at_any_thread_count() {
        // 1024x768, over 2^18 pixels a piece at 2 and 4 threads; a hash of
        // each position, so colours fall in every band of the bitmap.
        let pixels: Vec<u8> = (0..1024 * 768u32)
            .flat_map(|i| {
                let [_, r, g, b] = i.wrapping_mul(0x9E37_79B1).rotate_left(7).to_be_bytes();
                [r, g, b & 0xF0]
            })
            .collect();
        let image = SourceImage::from_pixels("t", 1024, 768, Channels::Rgb, pixels.clone()).unwrap();
        let index_in = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| IndexedImage::new(&image))
        };
        let one = index_in(1);
        assert!(one.colours().windows(2).all(|pair| pair[0] < pair[1]));
        for (px, &index) in pixels.chunks_exact(3).zip(one.indices()) {
            assert_eq!(one.colours()[index as usize], px);
        }
        for threads in [2, 4] {
            let many = index_in(threads);
            assert_eq!(many.colours(), one.colours(), "{threads} threads");
            assert_eq!(many.indices(), one.indices(), "{threads} threads");
        }
    }

    /// RGB pixels go eight at a time where the CPU can: whole blocks, a
    /// partial one, and the last colour of the table (white) among them.
    #[test]
    fn paints_rgb_pixels_from_the_table() {
        let pixels: Vec<u8> =
            (0..3 * 61u32).map(|i| if i >= 3 * 57 { 255 } else { (i * 37 % 251) as u8 }).collect();
        let image = SourceImage::from_pixels("t", 61, 1, Channels::Rgb, pixels.clone()).unwrap();
        let indexed = IndexedImage::new(&image);
        assert_eq!(indexed.colours().last(), Some(&[255, 255, 255]));
        let table = colour_table(indexed.colours(), |_, colours, table| {
            for (entry, colour) in table.iter_mut().zip(colours) {
                *entry = [colour[2], colour[0] ^ 0x55, colour[1]];
            }
        });
        let mut out = vec![0u8; pixels.len()];
        indexed.paint(&table, &image, &mut out);
        for (out, src) in out.chunks_exact(3).zip(pixels.chunks_exact(3)) {
            assert_eq!(out, [src[2], src[0] ^ 0x55, src[1]]);
        }
    }
}
