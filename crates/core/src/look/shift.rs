//! The "shift" look, as the original service did it: cluster the image's
//! colours, pair clusters with palette colours from dark to light, and move
//! every pixel of a cluster in CIELAB by its pair's difference.
//!
//! Per image: per-pixel CIELAB, and one k-means (with per-pixel labels) for
//! each distinct k the palettes need. Per palette: one pass of [`shift_band`].

use rayon::prelude::*;

use super::{Look, LookError, PreparedLook, for_each_band};
use crate::analysis::{AnalysisOptions, sample_colours};
use crate::colour::{LabToSrgb, srgb_f32_to_lab, srgb8_to_lab};
use crate::kmeans::{kmeans, nearest, refine};
use crate::palette::Palette;
use crate::source::SourceImage;

/// Lloyd steps over the full image after clustering the analysis image.
/// Two bring the centres most of the way to where k-means on every pixel
/// (as the original service ran it) puts them, for two passes over the image.
const REFINE_ROUNDS: usize = 2;

/// The four numbers of the shift look.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShiftOptions {
    /// Most clusters, and so most palette colours, used. Default 5.
    pub max_k: usize,
    /// Share of the lightness (L*) difference applied. Default 0.7.
    pub lightness: f32,
    /// Weight of the recoloured image against the original. Default 0.75.
    pub blend: f32,
    /// HSV saturation multiplier applied last. Default 1.2.
    pub saturation: f32,
}

impl Default for ShiftOptions {
    fn default() -> Self {
        ShiftOptions { max_k: 5, lightness: 0.7, blend: 0.75, saturation: 1.2 }
    }
}

/// Recolours by shifting clusters: see the module docs.
#[derive(Clone, Debug, Default)]
pub struct ShiftLook {
    options: ShiftOptions,
}

impl ShiftLook {
    /// Checks the options: `max_k` in 1..=255, `blend` in 0..=1, the others
    /// finite and not negative.
    pub fn new(options: ShiftOptions) -> Result<ShiftLook, LookError> {
        let ShiftOptions { max_k, lightness, blend, saturation } = options;
        if !(1..=255).contains(&max_k) {
            return Err(LookError(format!("max-k must be between 1 and 255, not {max_k}")));
        }
        if !(0.0..=1.0).contains(&blend) {
            return Err(LookError(format!("blend must be between 0 and 1, not {blend}")));
        }
        for (name, value) in [("lightness", lightness), ("saturation", saturation)] {
            if !value.is_finite() || value < 0.0 {
                return Err(LookError(format!("{name} must be a number of at least 0, not {value}")));
            }
        }
        Ok(ShiftLook { options })
    }

    pub fn options(&self) -> ShiftOptions {
        self.options
    }

    fn clusters_for(&self, palette: &Palette) -> usize {
        self.options.max_k.min(palette.colors.len())
    }
}

impl Look for ShiftLook {
    fn name(&self) -> &str {
        "shift"
    }

    fn prepare(
        &self,
        image: &SourceImage,
        palettes: &[Palette],
        analysis: &AnalysisOptions,
    ) -> Result<Box<dyn PreparedLook>, LookError> {
        let mut ks: Vec<usize> = palettes.iter().map(|p| self.clusters_for(p)).filter(|&k| k > 0).collect();
        ks.sort_unstable();
        ks.dedup();

        let samples = sample_colours(image, analysis.max_side);
        let channels = image.channels().count();
        let mut lab = Vec::new();
        image
            .pixels()
            .par_chunks_exact(channels)
            .map(|px| srgb8_to_lab([px[0], px[1], px[2]]))
            .collect_into_vec(&mut lab);

        let clusterings = ks
            .into_iter()
            .map(|k| {
                let centres = kmeans(&samples, k, analysis.seed);
                let centres = refine(image.pixels(), channels, centres, REFINE_ROUNDS);
                let mut labels = Vec::new();
                image
                    .pixels()
                    .par_chunks_exact(channels)
                    .map(|px| nearest(&centres, [f32::from(px[0]), f32::from(px[1]), f32::from(px[2])]) as u8)
                    .collect_into_vec(&mut labels);
                tracing::debug!(k, ?centres, "clustered");
                Clustering { centres, labels }
            })
            .collect();
        Ok(Box::new(PreparedShift { options: self.options, lab, clusterings }))
    }
}

struct Clustering {
    /// sRGB, 0..=255.
    centres: Vec<[f32; 3]>,
    /// Per source pixel, the index of its centre.
    labels: Vec<u8>,
}

struct PreparedShift {
    options: ShiftOptions,
    /// Per source pixel, its CIELAB colour.
    lab: Vec<[f32; 3]>,
    clusterings: Vec<Clustering>,
}

impl PreparedShift {
    /// Per cluster, the CIELAB offset its pixels move by. Indexed by label;
    /// 256 entries so that any `u8` label is in bounds in the hot loop.
    fn cluster_shifts(&self, clustering: &Clustering, palette: &Palette) -> Box<[[f32; 3]; 256]> {
        let k = clustering.centres.len();
        let brightness = |c: &[f32; 3]| c[0] + c[1] + c[2];
        let mut centre_order: Vec<usize> = (0..k).collect();
        centre_order.sort_by(|&a, &b| {
            brightness(&clustering.centres[a]).total_cmp(&brightness(&clustering.centres[b]))
        });
        let mut colours = palette.colors[..k].to_vec();
        colours.sort_by_key(|c| c.brightness());

        let mut shifts = Box::new([[0.0; 3]; 256]);
        for (&centre, colour) in centre_order.iter().zip(colours) {
            let from = srgb_f32_to_lab(clustering.centres[centre]);
            let to = srgb8_to_lab(colour.0);
            shifts[centre] = [(to[0] - from[0]) * self.options.lightness, to[1] - from[1], to[2] - from[2]];
        }
        shifts
    }
}

impl PreparedLook for PreparedShift {
    fn recolour(&self, image: &SourceImage, palette: &Palette, out: &mut [u8]) -> Result<(), LookError> {
        let k = self.options.max_k.min(palette.colors.len());
        let clustering = self
            .clusterings
            .iter()
            .find(|c| c.centres.len() == k)
            .ok_or_else(|| LookError(format!("no clustering prepared for {k} colours")))?;
        let shifts = self.cluster_shifts(clustering, palette);
        let params = KernelParams { blend: self.options.blend, saturation: self.options.saturation };
        let channels = image.channels().count();
        for_each_band(image.pixels(), out, channels, |first, src, out| {
            let count = src.len() / channels;
            let lab = &self.lab[first..first + count];
            let labels = &clustering.labels[first..first + count];
            match channels {
                3 => shift_band::<3>(src, lab, labels, &shifts, params, out),
                _ => shift_band::<4>(src, lab, labels, &shifts, params, out),
            }
        });
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct KernelParams {
    blend: f32,
    saturation: f32,
}

/// The per-pixel loop: shift in CIELAB, clamp, back to sRGB, blend with the
/// original, boost saturation. `CH` is 3 (RGB) or 4 (RGBA, alpha copied).
#[inline(never)]
fn shift_band<const CH: usize>(
    src: &[u8],
    lab: &[[f32; 3]],
    labels: &[u8],
    shifts: &[[f32; 3]; 256],
    params: KernelParams,
    out: &mut [u8],
) {
    let to_srgb = LabToSrgb::new();
    let keep = 1.0 - params.blend;
    let pixels = src.chunks_exact(CH).zip(out.chunks_exact_mut(CH)).zip(lab).zip(labels);
    for (((src, out), &[l, a, b]), &label) in pixels {
        let shift = shifts[usize::from(label)];
        let moved = [
            (l + shift[0]).clamp(0.0, 100.0),
            (a + shift[1]).clamp(-128.0, 127.0),
            (b + shift[2]).clamp(-128.0, 127.0),
        ];
        let recoloured = to_srgb.convert(moved);
        let mixed: [f32; 3] =
            std::array::from_fn(|c| params.blend * recoloured[c] + keep * f32::from(src[c]));
        let saturated = saturate(mixed, params.saturation);
        for c in 0..3 {
            // In 0..=255 by construction; `as` saturates regardless.
            out[c] = (saturated[c] + 0.5) as u8;
        }
        if CH == 4 {
            out[3] = src[3];
        }
    }
}

/// Multiplies HSV saturation by `factor` (clamped to 1), keeping hue and
/// value: every channel's distance below the maximum scales by the same ratio.
#[inline(always)]
fn saturate(rgb: [f32; 3], factor: f32) -> [f32; 3] {
    let max = rgb[0].max(rgb[1]).max(rgb[2]);
    let min = rgb[0].min(rgb[1]).min(rgb[2]);
    if max <= min {
        return rgb;
    }
    let ratio = factor.min(max / (max - min));
    rgb.map(|c| max - (max - c) * ratio)
}

#[cfg(test)]
mod tests {
    use super::*;
    use palette::{Hsv, IntoColor, Srgb};

    #[test]
    fn saturate_matches_hsv_round_trip() {
        for rgb in [[200.0, 100.0, 50.0], [10.0, 20.0, 30.0], [250.0, 240.0, 5.0], [90.0, 90.0, 90.0]] {
            let mut hsv: Hsv = Srgb::new(rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0).into_color();
            hsv.saturation = (hsv.saturation * 1.2).min(1.0);
            let back: Srgb = hsv.into_color();
            let ours = saturate(rgb, 1.2);
            for (o, t) in ours.iter().zip([back.red, back.green, back.blue]) {
                assert!((o - t * 255.0).abs() < 0.01, "{rgb:?}: {ours:?} vs {back:?}");
            }
        }
    }

    #[test]
    fn options_are_checked() {
        assert!(ShiftLook::new(ShiftOptions::default()).is_ok());
        for bad in [
            ShiftOptions { max_k: 0, ..Default::default() },
            ShiftOptions { max_k: 256, ..Default::default() },
            ShiftOptions { blend: 1.5, ..Default::default() },
            ShiftOptions { lightness: f32::NAN, ..Default::default() },
            ShiftOptions { saturation: -1.0, ..Default::default() },
        ] {
            assert!(ShiftLook::new(bad).is_err(), "{bad:?}");
        }
    }
}
