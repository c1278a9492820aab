//! The "gradient" look, as a Gradient Map layer does it: the palette,
//! sorted by lightness, becomes a ramp from dark to light, and each pixel's
//! lightness picks its colour along it, interpolated in CIELAB. Tonal order
//! is kept: darker in, darker out.
//!
//! Per image: each pixel's L*. Per palette: a 1024-entry table from L* to
//! colour, then one lookup a pixel.

use rayon::prelude::*;

use super::{Look, LookError, PreparedLook, for_each_band};
use crate::analysis::AnalysisOptions;
use crate::colour::{LabToSrgb, srgb_f32_to_lab, srgb8_to_lab};
use crate::palette::Palette;
use crate::source::SourceImage;

/// Maps lightness onto a ramp of the palette's colours.
#[derive(Clone, Copy, Debug, Default)]
pub struct GradientLook;

impl Look for GradientLook {
    fn name(&self) -> &str {
        "gradient"
    }

    fn prepare(
        &self,
        image: &SourceImage,
        _palettes: &[Palette],
        _analysis: &AnalysisOptions,
    ) -> Result<Box<dyn PreparedLook>, LookError> {
        let mut lightness = Vec::new();
        image
            .pixels()
            .par_chunks_exact(image.channels().count())
            .map(|px| srgb8_to_lab([px[0], px[1], px[2]])[0])
            .collect_into_vec(&mut lightness);
        Ok(Box::new(PreparedGradient { lightness }))
    }
}

struct PreparedGradient {
    /// Per source pixel, its CIELAB L* (0..=100).
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

impl PreparedLook for PreparedGradient {
    fn recolour(&self, image: &SourceImage, palette: &Palette, out: &mut [u8]) -> Result<(), LookError> {
        let ramp = ramp(palette);
        let channels = image.channels().count();
        for_each_band(image.pixels(), out, channels, |first, src, out| {
            let pixels = src.chunks_exact(channels).zip(out.chunks_exact_mut(channels));
            for ((src, out), &lightness) in pixels.zip(&self.lightness[first..]) {
                let step = ((lightness * 0.01).clamp(0.0, 1.0) * (STEPS - 1) as f32 + 0.5) as usize;
                out[..3].copy_from_slice(&ramp[step.min(STEPS - 1)]);
                if channels == 4 {
                    out[3] = src[3];
                }
            }
        });
        Ok(())
    }
}
