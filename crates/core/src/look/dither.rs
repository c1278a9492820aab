//! Dithering for the remap look: every pixel still becomes a palette colour,
//! but the colours are mixed in space so that, seen from a distance, areas
//! keep their source colour.
//!
//! Both methods look the nearest palette colour up in a table
//! ([`DitherPalette`]): the palette colour nearest in CIELAB to each cell of
//! a 32x32x32 grid over sRGB, built once per palette. A lookup is one load
//! from a 32 KiB table that stays in the L1 cache, where a CIELAB
//! conversion and a search per pixel cost ten times more. Near the border
//! between two palette colours the table's choice can be the second
//! nearest; the error that makes is diffused like any other.
//!
//! - [`DitherMethod::FloydSteinberg`] diffuses each pixel's error (in 8-bit
//!   sRGB, in integers) to the pixels right and below it. That is
//!   sequential, so the image is dithered in fixed bands of [`BAND_ROWS`]
//!   rows that each start without error: the bands run in parallel and give
//!   the same bytes at any thread count. One thread takes four bands side
//!   by side, so that their chains of latency overlap, with an SSE4.1/BMI2
//!   step where the CPU has AVX2 and BMI2 (the same bytes as the portable
//!   one).
//! - [`DitherMethod::Ordered`] adds an 8x8 Bayer threshold to each pixel
//!   before the lookup; every pixel on its own, so it parallelises freely.
//!
//! The strength (0..=1) scales the error diffused or the threshold's spread,
//! as G'MIC's and libvips' dithering amount does.

use std::sync::LazyLock;

use rayon::prelude::*;

use crate::colour::srgb_f32_to_lab;
use crate::error::LookError;

// The step in intrinsics (`dither/avx2.rs`).
#[cfg(target_arch = "x86_64")]
mod avx2;

/// Rows dithered together by Floyd–Steinberg; bands are independent of the
/// thread count.
pub const BAND_ROWS: usize = 64;

/// How the error of mapping a pixel to a palette colour is hidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DitherMethod {
    /// Floyd–Steinberg error diffusion (Pillow's and ImageMagick's default).
    FloydSteinberg,
    /// An 8x8 Bayer matrix: a regular pattern, each pixel on its own.
    Ordered,
}

impl DitherMethod {
    /// The name used in recipes and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DitherMethod::FloydSteinberg => "floyd-steinberg",
            DitherMethod::Ordered => "ordered",
        }
    }
}

/// Bits kept of each sRGB channel to index the nearest-colour table: a
/// colour's cell is `b >> 3 << 10 | g >> 3 << 5 | r >> 3`, the high five
/// bits of each byte of `0xBBGGRR` side by side (one BMI2 `pext`).
const GRID_BITS: u32 = 5;
const GRID: usize = 1 << GRID_BITS;
const DROPPED_BITS: u32 = 8 - GRID_BITS;

/// The CIELAB colour of each grid cell's centre, shared by every palette.
static GRID_LAB: LazyLock<Vec<[f32; 3]>> = LazyLock::new(|| {
    let centre = |q: usize| ((q << DROPPED_BITS) as f32) + ((1 << DROPPED_BITS) as f32 - 1.0) / 2.0;
    (0..GRID * GRID * GRID)
        .map(|cell| {
            srgb_f32_to_lab([
                centre(cell % GRID),
                centre((cell >> GRID_BITS) % GRID),
                centre(cell >> (2 * GRID_BITS)),
            ])
        })
        .collect()
});

/// Most colours a palette may have to be dithered with, as in Pillow and
/// GIF: a table cell holds a colour's index in one byte.
pub const MAX_DITHER_COLOURS: usize = 256;

const CELLS: usize = GRID * GRID * GRID;

/// A palette ready to dither with: per cell of a 32x32x32 grid over sRGB,
/// the index of the palette colour nearest (in CIELAB) to the cell's
/// centre, the first on ties; and the colours. Fixed sizes, so that the
/// lookups in the hot loops need no bounds checks.
struct DitherPalette {
    /// 32 KiB: stays in the L1 cache.
    nearest: Box<[u8; CELLS]>,
    /// The palette's colours, as written, one channel a lane; unused entries
    /// are black and never chosen.
    rgb: Box<[Lanes; MAX_DITHER_COLOURS]>,
    /// The same colours as bytes, to write.
    bytes: Box<[[u8; 4]; MAX_DITHER_COLOURS]>,
    /// How many colours the palette has.
    colours: usize,
}

impl DitherPalette {
    /// `rgb`: at most [`MAX_DITHER_COLOURS`] colours; `lab`, the same in CIELAB.
    fn new(rgb: &[[u8; 3]], lab: &[[f32; 3]]) -> DitherPalette {
        let lab = &lab[..lab.len().min(MAX_DITHER_COLOURS)];
        let mut nearest = Box::new([0u8; CELLS]);
        nearest.par_iter_mut().zip(GRID_LAB.par_iter()).for_each(|(cell, &centre)| {
            *cell = self::nearest(lab, centre) as u8;
        });
        let mut lanes = Box::new([[0; 4]; MAX_DITHER_COLOURS]);
        for (lane, c) in lanes.iter_mut().zip(rgb) {
            *lane = [c[0].into(), c[1].into(), c[2].into(), 0];
        }
        let mut bytes = Box::new([[0u8; 4]; MAX_DITHER_COLOURS]);
        for (entry, c) in bytes.iter_mut().zip(rgb) {
            *entry = [c[0], c[1], c[2], 0];
        }
        DitherPalette { nearest, rgb: lanes, bytes, colours: rgb.len().min(MAX_DITHER_COLOURS) }
    }

    /// The tables by reference, to pass by value into the hot loops: their
    /// addresses then stay in registers, where through `&self` they would
    /// be loaded again after every byte written.
    fn lookup(&self) -> Lookup<'_> {
        Lookup { nearest: &self.nearest, rgb: &self.rgb, bytes: &self.bytes }
    }
}

/// See [`DitherPalette::lookup`].
#[derive(Clone, Copy)]
struct Lookup<'a> {
    nearest: &'a [u8; CELLS],
    rgb: &'a [Lanes; MAX_DITHER_COLOURS],
    bytes: &'a [[u8; 4]; MAX_DITHER_COLOURS],
}

impl Lookup<'_> {
    /// The palette colour for `rgb` (each channel in 0..=255), and its index.
    #[inline(always)]
    fn choose(self, rgb: Lanes) -> (u8, Lanes) {
        // Per channel: `array::map` is not always inlined here.
        let [r, g, b] = [
            rgb[0] as usize >> DROPPED_BITS,
            rgb[1] as usize >> DROPPED_BITS,
            rgb[2] as usize >> DROPPED_BITS,
        ];
        let index = self.nearest[(b << (2 * GRID_BITS) | g << GRID_BITS | r) % CELLS];
        (index, self.rgb[usize::from(index)])
    }
}

/// Index of the colour of `palette` nearest to `lab`; the first on ties.
pub(crate) fn nearest(palette: &[[f32; 3]], lab: [f32; 3]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (i, target) in palette.iter().enumerate() {
        let d = (0..3).map(|c| (lab[c] - target[c]) * (lab[c] - target[c])).sum::<f32>();
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// What dithering writes for each pixel.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum DitherOutput {
    /// The palette colour, and the source's alpha where it has one: the
    /// source's layout.
    Colours,
    /// The palette colour's index, one byte.
    Indices,
}

/// Dithers `src` (rows of `width` pixels of `channels` bytes, 3 or 4) into
/// `out` with the palette `rgb` (its CIELAB in `lab`): every pixel becomes
/// a palette colour. `strength` is in 0..=1.
pub(crate) fn dither(
    method: DitherMethod,
    strength: f32,
    (rgb, lab): (&[[u8; 3]], &[[f32; 3]]),
    (src, width, channels): (&[u8], usize, usize),
    (out, output): (&mut [u8], DitherOutput),
) -> Result<(), LookError> {
    if rgb.len() > MAX_DITHER_COLOURS {
        return Err(LookError(format!(
            "dithering takes palettes of at most {MAX_DITHER_COLOURS} colours, not {}",
            rgb.len()
        )));
    }
    let palette = DitherPalette::new(rgb, lab);
    match (channels, output) {
        (3, DitherOutput::Colours) => dither_pixels::<3, 3>(method, strength, src, width, &palette, out),
        (3, DitherOutput::Indices) => dither_pixels::<3, 1>(method, strength, src, width, &palette, out),
        (_, DitherOutput::Colours) => dither_pixels::<4, 4>(method, strength, src, width, &palette, out),
        (_, DitherOutput::Indices) => dither_pixels::<4, 1>(method, strength, src, width, &palette, out),
    }
    Ok(())
}

/// Floyd–Steinberg bands dithered side by side by one thread: each band's
/// error runs along its rows, one pixel after another, and interleaving
/// independent bands lets the CPU overlap their chains of latency.
const INTERLEAVED_BANDS: usize = 4;

/// [`dither`] for pixels of `C` bytes in, `O` out (`C`, or 1 for indices).
fn dither_pixels<const C: usize, const O: usize>(
    method: DitherMethod,
    strength: f32,
    src: &[u8],
    width: usize,
    palette: &DitherPalette,
    out: &mut [u8],
) {
    let (row_bytes, out_row_bytes) = (width * C, width * O);
    let lookup = palette.lookup();
    match method {
        DitherMethod::FloydSteinberg => {
            // Error is kept in 1/4096ths of a level: the strength in 1/256ths
            // times the weights in 1/16ths.
            let strength = (strength.clamp(0.0, 1.0) * 256.0).round() as i32;
            let rows = INTERLEAVED_BANDS * BAND_ROWS;
            out.par_chunks_mut(rows * out_row_bytes)
                .zip(src.par_chunks(rows * row_bytes))
                .for_each(|(out, src)| diffuse_bands_fastest::<C, O>(src, width, strength, lookup, out));
        }
        DitherMethod::Ordered => {
            let spread = palette_spacing(&palette.rgb[..palette.colours]) * strength.clamp(0.0, 1.0);
            // Thresholds centred on zero: (m + 0.5) / 64 - 0.5 of the spread.
            let thresholds: [[i32; 8]; 8] = std::array::from_fn(|y| {
                std::array::from_fn(|x| {
                    (((f32::from(BAYER[y][x]) + 0.5) / 64.0 - 0.5) * spread).round() as i32
                })
            });
            out.par_chunks_mut(out_row_bytes).zip(src.par_chunks(row_bytes)).enumerate().for_each(
                |(y, (out, src))| {
                    let thresholds = &thresholds[y % 8];
                    let (out, _) = out.as_chunks_mut::<O>();
                    let (src, _) = src.as_chunks::<C>();
                    for (x, (out, src)) in out.iter_mut().zip(src).enumerate() {
                        let t = thresholds[x % 8];
                        let wanted = [
                            (i32::from(src[0]) + t).clamp(0, 255),
                            (i32::from(src[1]) + t).clamp(0, 255),
                            (i32::from(src[2]) + t).clamp(0, 255),
                            0,
                        ];
                        let (index, _) = lookup.choose(wanted);
                        write_pixel(out, index, lookup, src);
                    }
                },
            );
        }
    }
}

/// A pixel's palette index (`O` is 1), or its palette colour and the
/// source's alpha where there is one.
#[inline(always)]
fn write_pixel<const C: usize, const O: usize>(out: &mut [u8; O], index: u8, palette: Lookup, src: &[u8; C]) {
    if O == 1 {
        out[0] = index;
        return;
    }
    // From the palette's bytes: copying them costs less than taking each
    // channel out of the colour's SIMD register.
    let colour = palette.bytes[usize::from(index)];
    out[..3].copy_from_slice(&colour[..3]);
    if O == 4 {
        out[O - 1] = src[C - 1];
    }
}

/// A colour's three channels and a spare lane, as one SIMD register.
type Lanes = [i32; 4];

/// One band's Floyd–Steinberg state: the error carried into this row and
/// the next, in 1/4096ths of a level. Cell `x` is below pixel `x - 1`, so
/// that the cells either side of the row have somewhere to go.
struct BandError {
    below: Vec<Lanes>,
    below_next: Vec<Lanes>,
}

impl BandError {
    fn new(width: usize) -> BandError {
        BandError { below: vec![[0; 4]; width + 2], below_next: vec![[0; 4]; width + 2] }
    }

    /// One row of the band, every slice exactly `width` long so that the
    /// hot loop's indexing needs no bounds checks.
    fn row<'a, const C: usize, const O: usize>(
        &'a mut self,
        src: &'a [u8],
        out: &'a mut [u8],
        width: usize,
    ) -> BandRow<'a, C, O> {
        BandRow {
            src: &src.as_chunks::<C>().0[..width],
            out: &mut out.as_chunks_mut::<O>().0[..width],
            carried: &self.below[1..width + 1],
            below: &mut self.below_next[..width],
            right: [0; 4],
            below_previous: [0; 4],
            below_current: [0; 4],
        }
    }

    /// Ends a row: `last` is the complete error below its last pixel.
    fn next_row(&mut self, last: Lanes, width: usize) {
        self.below_next[width] = last;
        std::mem::swap(&mut self.below, &mut self.below_next);
    }
}

/// A row being dithered, and the error that is still in registers: the
/// share for the next pixel, and the two cells below that later pixels
/// still add to.
struct BandRow<'a, const C: usize, const O: usize> {
    src: &'a [[u8; C]],
    out: &'a mut [[u8; O]],
    /// Per pixel, the error the row above carried to it.
    carried: &'a [Lanes],
    /// Per pixel, the cell below its left neighbour (see [`BandError`]).
    below: &'a mut [Lanes],
    right: Lanes,
    /// Below the previous pixel, missing the current pixel's 3/16.
    below_previous: Lanes,
    /// Below the current pixel, missing the next two pixels' shares.
    below_current: Lanes,
}

impl<const C: usize, const O: usize> BandRow<'_, C, O> {
    /// One pixel of Floyd–Steinberg: the source plus the error carried to
    /// it, mapped to a palette colour, the difference spread 7/16 to the
    /// right and 3/16, 5/16 and 1/16 below. `x` < the row's width.
    #[inline(always)]
    fn diffuse(&mut self, x: usize, strength: i32, palette: Lookup) {
        let (src, carried) = (&self.src[x], &self.carried[x]);
        let mut wanted = [0; 4];
        for c in 0..3 {
            wanted[c] = (i32::from(src[c]) + ((carried[c] + self.right[c] + 2048) >> 12)).clamp(0, 255);
        }
        let (index, chosen) = palette.choose(wanted);
        write_pixel(&mut self.out[x], index, palette, src);
        let mut e = [0; 4];
        for ((e, wanted), chosen) in e.iter_mut().zip(wanted).zip(chosen) {
            *e = (wanted - chosen) * strength;
        }
        // The cell below the previous pixel is now complete.
        self.below[x] = std::array::from_fn(|c| self.below_previous[c] + 3 * e[c]);
        self.right = e.map(|e| 7 * e);
        self.below_previous = std::array::from_fn(|c| self.below_current[c] + 5 * e[c]);
        self.below_current = e;
    }
}

/// [`diffuse_bands`] in SIMD instructions where the CPU has them (x86-64
/// with AVX2 and BMI2: Intel since 2013, AMD since 2015), portable Rust
/// elsewhere; the same bytes either way.
fn diffuse_bands_fastest<const C: usize, const O: usize>(
    src: &[u8],
    width: usize,
    strength: i32,
    palette: Lookup,
    out: &mut [u8],
) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2_bmi2() {
        // SAFETY: the CPU has AVX2 and BMI2 (`simd`).
        return unsafe { diffuse_bands_simd::<C, O>(src, width, strength, palette, out) };
    }
    diffuse_bands::<C, O, false>(src, width, strength, palette, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi2")]
fn diffuse_bands_simd<const C: usize, const O: usize>(
    src: &[u8],
    width: usize,
    strength: i32,
    palette: Lookup,
    out: &mut [u8],
) {
    diffuse_bands::<C, O, true>(src, width, strength, palette, out);
}

impl<const C: usize, const O: usize> BandRow<'_, C, O> {
    /// [`BandRow::diffuse`], or with `SIMD` [`BandRow::diffuse_simd`]; with
    /// `SIMD`, only called where the CPU has AVX2 and BMI2.
    #[inline(always)]
    fn step<const SIMD: bool>(&mut self, x: usize, strength: i32, palette: Lookup) {
        #[cfg(target_arch = "x86_64")]
        if SIMD {
            // SAFETY: the CPU has AVX2 and BMI2 (see above).
            return unsafe { self.diffuse_simd(x, strength, palette) };
        }
        self.diffuse(x, strength, palette);
    }
}

/// Floyd–Steinberg over up to [`INTERLEAVED_BANDS`] bands of [`BAND_ROWS`]
/// rows, each left to right, top to bottom, starting without error.
/// `strength` is in 1/256ths.
/// With `SIMD`, only called where the CPU has AVX2 and BMI2.
#[inline(always)]
fn diffuse_bands<const C: usize, const O: usize, const SIMD: bool>(
    src: &[u8],
    width: usize,
    strength: i32,
    palette: Lookup,
    out: &mut [u8],
) {
    let (row_bytes, out_row_bytes) = (width * C, width * O);
    let mut outs: Vec<&mut [u8]> = out.chunks_mut(BAND_ROWS * out_row_bytes).collect();
    let srcs: Vec<&[u8]> = src.chunks(BAND_ROWS * row_bytes).collect();
    if let ([out0, out1, out2, out3], [src0, src1, src2, src3]) = (&mut outs[..], &srcs[..])
        && src3.len() == BAND_ROWS * row_bytes
    {
        let mut errors: [BandError; INTERLEAVED_BANDS] = std::array::from_fn(|_| BandError::new(width));
        for row in 0..BAND_ROWS {
            let at = row * row_bytes..(row + 1) * row_bytes;
            let out_at = row * out_row_bytes..(row + 1) * out_row_bytes;
            // Named one by one, so that each band's row error stays in registers.
            let [error0, error1, error2, error3] = &mut errors;
            let mut row0 = error0.row::<C, O>(&src0[at.clone()], &mut out0[out_at.clone()], width);
            let mut row1 = error1.row::<C, O>(&src1[at.clone()], &mut out1[out_at.clone()], width);
            let mut row2 = error2.row::<C, O>(&src2[at.clone()], &mut out2[out_at.clone()], width);
            let mut row3 = error3.row::<C, O>(&src3[at.clone()], &mut out3[out_at.clone()], width);
            for x in 0..width {
                row0.step::<SIMD>(x, strength, palette);
                row1.step::<SIMD>(x, strength, palette);
                row2.step::<SIMD>(x, strength, palette);
                row3.step::<SIMD>(x, strength, palette);
            }
            let last = [row0.below_previous, row1.below_previous, row2.below_previous, row3.below_previous];
            for (error, last) in errors.iter_mut().zip(last) {
                error.next_row(last, width);
            }
        }
        return;
    }
    // Fewer bands: the image's last few, one at a time.
    for (out, src) in outs.into_iter().zip(srcs) {
        let mut error = BandError::new(width);
        for (out, src) in out.chunks_exact_mut(out_row_bytes).zip(src.chunks_exact(row_bytes)) {
            let mut row = error.row::<C, O>(src, out, width);
            for x in 0..width {
                row.step::<SIMD>(x, strength, palette);
            }
            let last = row.below_previous;
            error.next_row(last, width);
        }
    }
}

/// The 8x8 Bayer matrix: each of 0..64 once, spread as evenly as possible.
const BAYER: [[u8; 8]; 8] = [
    [0, 32, 8, 40, 2, 34, 10, 42],
    [48, 16, 56, 24, 50, 18, 58, 26],
    [12, 44, 4, 36, 14, 46, 6, 38],
    [60, 28, 52, 20, 62, 30, 54, 22],
    [3, 35, 11, 43, 1, 33, 9, 41],
    [51, 19, 59, 27, 49, 17, 57, 25],
    [15, 47, 7, 39, 13, 45, 5, 37],
    [63, 31, 55, 23, 61, 29, 53, 21],
];

/// The ordered pattern's full spread, in sRGB levels: the mean distance from
/// each palette colour to its nearest other one, so that a pixel between two
/// neighbouring colours can reach either. 64 for a single colour.
fn palette_spacing(rgb: &[Lanes]) -> f32 {
    if rgb.len() < 2 {
        return 64.0;
    }
    let distance = |a: &Lanes, b: &Lanes| (0..3).map(|c| ((a[c] - b[c]) as f32).powi(2)).sum::<f32>().sqrt();
    let total: f32 = rgb
        .iter()
        .enumerate()
        .map(|(i, a)| {
            rgb.iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, b)| distance(a, b))
                .fold(f32::INFINITY, f32::min)
        })
        .sum();
    total / rgb.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::SourceImage;

    fn photo(name: &str) -> SourceImage {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name);
        SourceImage::open(path, 1 << 26).unwrap()
    }

    const SUNSET: [[u8; 3]; 5] =
        [[43, 27, 61], [107, 45, 92], [240, 84, 79], [255, 159, 107], [253, 232, 201]];

    #[test]
    fn simd_and_portable_steps_give_the_same_bytes() {
        let lab: Vec<[f32; 3]> = SUNSET.iter().map(|c| srgb_f32_to_lab(c.map(f32::from))).collect();
        let palette = DitherPalette::new(&SUNSET, &lab);
        #[cfg(target_arch = "x86_64")]
        if !(crate::simd::avx2_bmi2()) {
            eprintln!("skipped: this CPU has no AVX2 and BMI2");
            return;
        }
        // RGB and RGBA (logo.png has alpha), at full and half strength.
        for name in ["retina.jpg", "logo.png"] {
            let image = photo(name);
            let (width, channels) = (image.width() as usize, image.channels().count());
            for strength in [256, 128] {
                let band = INTERLEAVED_BANDS * BAND_ROWS * width * channels;
                let mut portable = vec![0u8; image.pixels().len()];
                let mut simd = vec![0u8; image.pixels().len()];
                for ((portable, simd), src) in
                    portable.chunks_mut(band).zip(simd.chunks_mut(band)).zip(image.pixels().chunks(band))
                {
                    let lookup = palette.lookup();
                    if channels == 3 {
                        diffuse_bands::<3, 3, false>(src, width, strength, lookup, portable);
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: the CPU has AVX2 and BMI2, checked above.
                        unsafe {
                            diffuse_bands_simd::<3, 3>(src, width, strength, lookup, simd)
                        };
                    } else {
                        diffuse_bands::<4, 4, false>(src, width, strength, lookup, portable);
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: as above.
                        unsafe {
                            diffuse_bands_simd::<4, 4>(src, width, strength, lookup, simd)
                        };
                    }
                }
                assert!(portable == simd, "{name} at strength {strength}/256");
            }
        }
    }

    #[test]
    fn bayer_matrix_holds_each_threshold_once() {
        let mut seen: Vec<u8> = BAYER.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..64).collect::<Vec<u8>>());
    }

    #[test]
    fn the_table_finds_the_nearest_colour_of_each_cell() {
        let lab: Vec<[f32; 3]> = SUNSET.iter().map(|c| srgb_f32_to_lab(c.map(f32::from))).collect();
        let lookup = DitherPalette::new(&SUNSET, &lab);
        let lookup = lookup.lookup();
        // Each palette colour is its own nearest, and so is a colour a level off.
        for colour in SUNSET {
            let lanes = [i32::from(colour[0]), i32::from(colour[1]), i32::from(colour[2]), 0];
            let nudged = lanes.map(|c| (c + 1).min(255));
            for rgb in [lanes, nudged] {
                let (_, found) = lookup.choose(rgb);
                assert_eq!([found[0] as u8, found[1] as u8, found[2] as u8], colour, "{rgb:?}");
            }
        }
    }

    #[test]
    fn palettes_over_256_colours_are_refused_for_dithering() {
        let rgb: Vec<[u8; 3]> = (0..300).map(|i: u32| [(i % 256) as u8, (i / 256) as u8, 7]).collect();
        let lab: Vec<[f32; 3]> = rgb.iter().map(|c| srgb_f32_to_lab(c.map(f32::from))).collect();
        let src = vec![10u8; 4 * 4 * 3];
        let mut out = vec![0u8; src.len()];
        let error = dither(
            DitherMethod::FloydSteinberg,
            1.0,
            (&rgb, &lab),
            (&src, 4, 3),
            (&mut out, DitherOutput::Colours),
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "dithering takes palettes of at most 256 colours, not 300");
    }
}
