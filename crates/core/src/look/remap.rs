//! The "remap" look, as ImageMagick's `-remap` or Pillow's
//! `quantize(palette=...)`: every pixel becomes its nearest palette colour in
//! CIELAB, optionally with Floyd–Steinberg error diffusion.
//!
//! Without dithering a pixel's colour decides its output, so the nearest
//! palette colour is found once per distinct colour ([`crate::indexed`]).
//! Dithering is sequential along rows, so the image is dithered in fixed
//! bands of [`DITHER_ROWS`] rows, each on its own: the bands run in parallel
//! and, being fixed, give the same bytes at any thread count.

use rayon::prelude::*;

use super::{Look, PreparedLook, colour_lab};
use crate::analysis::AnalysisOptions;
use crate::colour::srgb_f32_to_lab;
use crate::error::LookError;
use crate::indexed::{IndexedImage, colour_table};
use crate::palette::Palette;
use crate::source::SourceImage;

/// Rows dithered together; bands are independent of the thread count.
pub const DITHER_ROWS: usize = 64;

/// Maps every pixel to its nearest palette colour.
#[derive(Clone, Copy, Debug, Default)]
pub struct RemapLook {
    dither: bool,
}

impl RemapLook {
    /// `dither`: spread each pixel's error to its neighbours (Floyd–Steinberg).
    pub fn new(dither: bool) -> RemapLook {
        RemapLook { dither }
    }
}

impl Look for RemapLook {
    fn name(&self) -> &str {
        "remap"
    }

    fn options(&self) -> serde_json::Value {
        serde_json::json!({ "dither": self.dither })
    }

    fn prepare(
        &self,
        image: &SourceImage,
        _palettes: &[Palette],
        _analysis: &AnalysisOptions,
    ) -> Result<Box<dyn PreparedLook>, LookError> {
        let indexed = IndexedImage::new(image);
        let lab = colour_lab(&indexed);
        Ok(Box::new(PreparedRemap { dither: self.dither, indexed, lab }))
    }
}

struct PreparedRemap {
    dither: bool,
    indexed: IndexedImage,
    /// Per distinct colour, its CIELAB colour.
    lab: Vec<[f32; 3]>,
}

/// The palette in both spaces: CIELAB to compare, sRGB to write.
struct Targets {
    lab: Vec<[f32; 3]>,
    rgb: Vec<[u8; 3]>,
}

impl Targets {
    fn new(palette: &Palette) -> Targets {
        Targets {
            lab: palette.colors.iter().map(|c| srgb_f32_to_lab(c.0.map(f32::from))).collect(),
            rgb: palette.colors.iter().map(|c| c.0).collect(),
        }
    }

    /// Index of the nearest colour; the first on ties.
    #[inline(always)]
    fn nearest(&self, lab: [f32; 3]) -> usize {
        let mut best = (0, f32::INFINITY);
        for (i, target) in self.lab.iter().enumerate() {
            let d = (0..3).map(|c| (lab[c] - target[c]) * (lab[c] - target[c])).sum::<f32>();
            if d < best.1 {
                best = (i, d);
            }
        }
        best.0
    }
}

impl PreparedLook for PreparedRemap {
    fn recolour(&self, image: &SourceImage, palette: &Palette, out: &mut [u8]) -> Result<(), LookError> {
        let targets = Targets::new(palette);
        let channels = image.channels().count();
        if !self.dither {
            let table = colour_table(self.indexed.colours(), |first, _, table| {
                for (entry, &lab) in table.iter_mut().zip(&self.lab[first..]) {
                    *entry = targets.rgb[targets.nearest(lab)];
                }
            });
            self.indexed.paint(&table, image, out);
            return Ok(());
        }
        let width = image.width() as usize;
        let band_bytes = DITHER_ROWS * width * channels;
        out.par_chunks_mut(band_bytes)
            .zip(image.pixels().par_chunks(band_bytes))
            .zip(self.indexed.indices().par_chunks(DITHER_ROWS * width))
            .for_each(|((out, src), indices)| {
                dither_band(src, indices, &self.lab, width, channels, &targets, out)
            });
        Ok(())
    }
}

/// Floyd–Steinberg over one band, left to right, top to bottom, the error
/// measured and spread in CIELAB.
fn dither_band(
    src: &[u8],
    indices: &[u32],
    lab: &[[f32; 3]],
    width: usize,
    channels: usize,
    targets: &Targets,
    out: &mut [u8],
) {
    // Error carried into this row and the next, one spare cell on each side.
    let mut this_row = vec![[0f32; 3]; width + 2];
    let mut next_row = vec![[0f32; 3]; width + 2];
    for (y, row) in indices.chunks_exact(width).enumerate() {
        for (x, &index) in row.iter().enumerate() {
            let colour = lab[index as usize];
            let carried = this_row[x + 1];
            let wanted: [f32; 3] = std::array::from_fn(|c| colour[c] + carried[c]);
            let chosen = targets.nearest(wanted);
            let error: [f32; 3] = std::array::from_fn(|c| wanted[c] - targets.lab[chosen][c]);
            for c in 0..3 {
                this_row[x + 2][c] += error[c] * (7.0 / 16.0);
                next_row[x][c] += error[c] * (3.0 / 16.0);
                next_row[x + 1][c] += error[c] * (5.0 / 16.0);
                next_row[x + 2][c] += error[c] * (1.0 / 16.0);
            }
            let at = (y * width + x) * channels;
            out[at..at + 3].copy_from_slice(&targets.rgb[chosen]);
            if channels == 4 {
                out[at + 3] = src[at + 3];
            }
        }
        std::mem::swap(&mut this_row, &mut next_row);
        next_row.fill([0.0; 3]);
    }
}
