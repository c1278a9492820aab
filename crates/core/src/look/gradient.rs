//! The "gradient" look, as a Gradient Map layer does it: the palette,
//! sorted by lightness, becomes a ramp from dark to light, and each pixel's
//! lightness picks its colour along it, interpolated in CIELAB. Tonal order
//! is kept: darker in, darker out.
//!
//! Per image: the image in indexed-colour form and each distinct colour's
//! L*. Per palette: a 1024-entry ramp from L* to colour, the colour of each
//! distinct colour from it, then one lookup a pixel.

use rayon::prelude::*;

use super::{Look, PreparedLook, RowPainter};
use crate::analyse::AnalysisOptions;
use crate::analyse::indexed::{ColourTable, IndexedImage, colour_table};
use crate::colour::{LabToSrgb, srgb_f32_to_lab, srgb8_to_lab};
use crate::decode::SourceImage;
use crate::error::LookError;
use crate::palette::Palette;

/// Maps lightness onto a ramp of the palette's colours.
#[derive(Clone, Copy, Debug, Default)]
pub struct GradientLook;

impl Look for GradientLook {
    fn name(&self) -> &str {
        "gradient"
    }

    fn options(&self) -> serde_json::Value {
        serde_json::json!({})
    }

    fn prepare(
        &self,
        image: &SourceImage,
        _palettes: &[Palette],
        _analysis: &AnalysisOptions,
    ) -> Result<Box<dyn PreparedLook>, LookError> {
        let indexed = IndexedImage::new(image);
        let mut lightness = Vec::new();
        indexed.colours().par_iter().map(|&colour| srgb8_to_lab(colour)[0]).collect_into_vec(&mut lightness);
        Ok(Box::new(PreparedGradient { indexed, lightness }))
    }
}

struct PreparedGradient {
    indexed: IndexedImage,
    /// Per distinct colour, its CIELAB L* (0..=100).
    lightness: Vec<f32>,
}

/// Entries of the per-palette table over L* 0..=100.
const STEPS: usize = 1024;

/// The palette's colours as a ramp: `STEPS` sRGB colours from L* 0 to 100.
fn ramp(palette: &Palette) -> Vec<[u8; 3]> {
    let mut stops: Vec<[f32; 3]> =
        palette.colors.iter().map(|c| srgb_f32_to_lab(c.0.map(f32::from))).collect();
    stops.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let to_srgb = LabToSrgb::new();
    let last = stops.len().saturating_sub(1);
    (0..STEPS)
        .map(|step| {
            let position = step as f32 / (STEPS - 1) as f32 * last as f32;
            let below = (position.floor() as usize).min(last);
            let above = (below + 1).min(last);
            let t = position - below as f32;
            let lab = std::array::from_fn(|c| stops[below][c] + (stops[above][c] - stops[below][c]) * t);
            to_srgb.convert(lab).map(|v| v as u8)
        })
        .collect()
}

impl PreparedGradient {
    /// Each distinct colour's step of the palette's ramp.
    fn table(&self, palette: &Palette) -> ColourTable {
        let ramp = ramp(palette);
        colour_table(self.indexed.colours(), |first, _, table| {
            for (entry, &lightness) in table.iter_mut().zip(&self.lightness[first..]) {
                let step = ((lightness * 0.01).clamp(0.0, 1.0) * (STEPS - 1) as f32 + 0.5) as usize;
                *entry = ramp[step.min(STEPS - 1)];
            }
        })
    }
}

impl PreparedLook for PreparedGradient {
    fn recolour(&self, image: &SourceImage, palette: &Palette, out: &mut [u8]) -> Result<(), LookError> {
        self.indexed.paint(&self.table(palette), image, out);
        Ok(())
    }

    fn painter<'a>(
        &'a self,
        image: &'a SourceImage,
        palette: &Palette,
    ) -> Option<Result<RowPainter<'a>, LookError>> {
        Some(Ok(RowPainter::new(&self.indexed, self.table(palette), image)))
    }
}
