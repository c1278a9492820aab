//! The "shift" look, as the original service did it: cluster the image's
//! colours, pair clusters with palette colours from dark to light, and move
//! every pixel of a cluster in CIELAB by its pair's difference.
//!
//! Per image: the image in indexed-colour form, each distinct colour's
//! CIELAB, and one k-means (with a label per distinct colour) for each
//! distinct k the palettes need. Per palette: [`shift_colours`] over the
//! distinct colours into a table, then one lookup a pixel.

use rayon::prelude::*;

use super::{Look, PreparedLook, colour_lab};
use crate::analysis::{AnalysisOptions, sample_colours};
use crate::colour::{LabToSrgb, srgb_f32_to_lab};
use crate::error::{BuildError, LookError};
use crate::indexed::{IndexedImage, colour_table};
use crate::kmeans::{kmeans, nearest, refine};
use crate::palette::Palette;
use crate::recipe::option_number;
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
    pub fn new(options: ShiftOptions) -> Result<ShiftLook, BuildError> {
        let ShiftOptions { max_k, lightness, blend, saturation } = options;
        let invalid = |option, reason| Err(BuildError::Option { option, reason });
        if !(1..=255).contains(&max_k) {
            return invalid("max_k", format!("must be between 1 and 255, not {max_k}"));
        }
        if !(0.0..=1.0).contains(&blend) {
            return invalid("blend", format!("must be between 0 and 1, not {blend}"));
        }
        for (option, value) in [("lightness", lightness), ("saturation", saturation)] {
            if !value.is_finite() || value < 0.0 {
                return invalid(option, format!("must be a number of at least 0, not {value}"));
            }
        }
        Ok(ShiftLook { options })
    }

    /// The options it was made with.
    pub fn shift_options(&self) -> ShiftOptions {
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

    fn options(&self) -> serde_json::Value {
        let ShiftOptions { max_k, lightness, blend, saturation } = self.options;
        serde_json::json!({
            "max_k": max_k,
            "lightness": option_number(lightness),
            "blend": option_number(blend),
            "saturation": option_number(saturation),
        })
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

        // Clustering the analysis image and indexing the full one are
        // independent: side by side, they keep both threads busy.
        let (centres, (indexed, lab, counts)) = rayon::join(
            || {
                let samples = sample_colours(image, analysis.max_side);
                ks.iter().map(|&k| kmeans(&samples, k, analysis.seed)).collect::<Vec<_>>()
            },
            || {
                let indexed = IndexedImage::new(image);
                let (lab, counts) = rayon::join(|| colour_lab(&indexed), || indexed.counts(image));
                (indexed, lab, counts)
            },
        );

        let clusterings = centres
            .into_iter()
            .map(|centres| {
                let centres = refine(indexed.colours(), &counts, centres, REFINE_ROUNDS);
                let mut labels = Vec::new();
                indexed
                    .colours()
                    .par_iter()
                    .map(|colour| nearest(&centres, colour.map(f32::from)) as u8)
                    .collect_into_vec(&mut labels);
                tracing::debug!(?centres, "clustered");
                Clustering { centres, labels }
            })
            .collect();
        Ok(Box::new(PreparedShift { options: self.options, indexed, lab, clusterings }))
    }
}

struct Clustering {
    /// sRGB, 0..=255.
    centres: Vec<[f32; 3]>,
    /// Per distinct colour, the index of its centre.
    labels: Vec<u8>,
}

struct PreparedShift {
    options: ShiftOptions,
    indexed: IndexedImage,
    /// Per distinct colour, its CIELAB colour.
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
            let to = srgb_f32_to_lab(colour.0.map(f32::from));
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
        let table = colour_table(self.indexed.colours(), |first, colours, table| {
            let lab = &self.lab[first..first + colours.len()];
            let labels = &clustering.labels[first..first + colours.len()];
            let shift_of = |i: usize| shifts[usize::from(labels[i])];
            shift_colours(colours.as_flattened(), lab, shift_of, params, table.as_flattened_mut());
        });
        self.indexed.paint(&table, image, out);
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct KernelParams {
    blend: f32,
    saturation: f32,
}

/// Colours the kernel works on at once: each step is a loop over this many
/// lanes, which the compiler turns into SIMD.
const LANES: usize = 8;

/// The per-colour loop over RGB triples: shift in CIELAB by
/// `shift_of(colour index)`, clamp, back to sRGB, blend with the original,
/// boost saturation.
#[inline(always)]
fn shift_colours(
    src: &[u8],
    lab: &[[f32; 3]],
    shift_of: impl Fn(usize) -> [f32; 3],
    params: KernelParams,
    out: &mut [u8],
) {
    let to_srgb = LabToSrgb::new();
    let full = lab.len() / LANES * LANES;
    for start in (0..full).step_by(LANES) {
        let shifts: [[f32; 3]; LANES] = std::array::from_fn(|i| shift_of(start + i));
        let bytes = start * 3..(start + LANES) * 3;
        let lab = &lab[start..start + LANES];
        shift_lanes(&src[bytes.clone()], lab, &shifts, params, to_srgb, &mut out[bytes]);
    }
    // The last few colours go through the same code, padded to a full block.
    let rest = lab.len() - full;
    if rest > 0 {
        let mut src_block = [0u8; LANES * 3];
        let mut lab_block = [[0f32; 3]; LANES];
        let mut shifts = [[0f32; 3]; LANES];
        let mut out_block = [0u8; LANES * 3];
        src_block[..rest * 3].copy_from_slice(&src[full * 3..]);
        lab_block[..rest].copy_from_slice(&lab[full..]);
        for (i, shift) in shifts.iter_mut().enumerate().take(rest) {
            *shift = shift_of(full + i);
        }
        shift_lanes(&src_block, &lab_block, &shifts, params, to_srgb, &mut out_block);
        out[full * 3..].copy_from_slice(&out_block[..rest * 3]);
    }
}

/// [`shift_colours`] for exactly [`LANES`] colours.
#[inline(always)]
fn shift_lanes(
    src: &[u8],
    lab: &[[f32; 3]],
    shifts: &[[f32; 3]; LANES],
    params: KernelParams,
    to_srgb: LabToSrgb,
    out: &mut [u8],
) {
    let mut moved = [[0f32; LANES]; 3];
    let mut original = [[0f32; LANES]; 3];
    for i in 0..LANES {
        let shift = shifts[i];
        let [l, a, b] = lab[i];
        moved[0][i] = (l + shift[0]).clamp(0.0, 100.0);
        moved[1][i] = (a + shift[1]).clamp(-128.0, 127.0);
        moved[2][i] = (b + shift[2]).clamp(-128.0, 127.0);
        for c in 0..3 {
            original[c][i] = f32::from(src[i * 3 + c]);
        }
    }
    let recoloured = to_srgb.convert_lanes(&moved);

    let keep = 1.0 - params.blend;
    let mut mixed = [[0f32; LANES]; 3];
    for c in 0..3 {
        for i in 0..LANES {
            mixed[c][i] = params.blend * recoloured[c][i] + keep * original[c][i];
        }
    }
    // HSV saturation x factor (at most 1), hue and value kept: every
    // channel's distance below the maximum scales by the same ratio.
    let mut ratio = [0f32; LANES];
    let mut max = [0f32; LANES];
    for i in 0..LANES {
        max[i] = mixed[0][i].max(mixed[1][i]).max(mixed[2][i]);
        let min = mixed[0][i].min(mixed[1][i]).min(mixed[2][i]);
        // A grey pixel (max == min) has nothing to scale; the floor on the
        // divisor keeps it finite.
        ratio[i] = params.saturation.min(max[i] / (max[i] - min).max(1e-6));
    }
    for i in 0..LANES {
        for c in 0..3 {
            // In 0..=255 by construction; `as` saturates regardless.
            out[i * 3 + c] = (max[i] - (max[i] - mixed[c][i]) * ratio[i] + 0.5) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colour::srgb8_to_lab;
    use palette::{Hsv, IntoColor, Lab, Srgb};

    /// The shift of one pixel done step by step with the `palette` crate.
    fn reference_pixel(rgb: [u8; 3], shift: [f32; 3], params: KernelParams) -> [f32; 3] {
        let lab: Lab = Srgb::new(rgb[0], rgb[1], rgb[2]).into_format::<f32>().into_color();
        let moved = Lab::new(
            (lab.l + shift[0]).clamp(0.0, 100.0),
            (lab.a + shift[1]).clamp(-128.0, 127.0),
            (lab.b + shift[2]).clamp(-128.0, 127.0),
        );
        let back: Srgb = moved.into_color();
        let recoloured = [back.red, back.green, back.blue].map(|c| (c.clamp(0.0, 1.0) * 255.0).round());
        let mixed: [f32; 3] =
            std::array::from_fn(|c| params.blend * recoloured[c] + (1.0 - params.blend) * f32::from(rgb[c]));
        let mut hsv: Hsv = Srgb::new(mixed[0] / 255.0, mixed[1] / 255.0, mixed[2] / 255.0).into_color();
        hsv.saturation = (hsv.saturation * params.saturation).min(1.0);
        let out: Srgb = hsv.into_color();
        [out.red, out.green, out.blue].map(|c| c * 255.0)
    }

    #[test]
    fn kernel_matches_palette_crate() {
        let params = KernelParams { blend: 0.75, saturation: 1.2 };
        let mut shifts = Box::new([[0.0; 3]; 256]);
        shifts[0] = [-12.0, 30.0, -45.0];
        shifts[1] = [25.0, -60.0, 20.0];
        shifts[2] = [0.0, 0.0, 0.0];
        // Every 7th level of each channel, each colour in each cluster,
        // with a count that is not a multiple of the lane width.
        let colours: Vec<[u8; 3]> = (0..=255u8)
            .step_by(7)
            .flat_map(|r| {
                (0..=255u8).step_by(11).flat_map(move |g| (0..=255u8).step_by(13).map(move |b| [r, g, b]))
            })
            .collect();
        let src: Vec<u8> = colours.iter().flatten().copied().collect();
        let lab: Vec<[f32; 3]> = colours.iter().map(|&c| srgb8_to_lab(c)).collect();
        let labels: Vec<u8> = (0..colours.len()).map(|i| (i % 3) as u8).collect();
        let mut out = vec![0u8; src.len()];
        shift_colours(&src, &lab, |i| shifts[usize::from(labels[i])], params, &mut out);

        let (mut worst, mut total) = (0f32, 0f64);
        for (i, &colour) in colours.iter().enumerate() {
            let expected = reference_pixel(colour, shifts[usize::from(labels[i])], params);
            for c in 0..3 {
                let difference = (f32::from(out[i * 3 + c]) - expected[c]).abs();
                worst = worst.max(difference);
                total += f64::from(difference);
            }
        }
        let mean = total / (3 * colours.len()) as f64;
        // The table-driven sRGB encoding is within a level in the darkest
        // tones, the saturation boost can stretch that by 1.2, and the output
        // is rounded once: at worst 2 levels, and a quarter level on average.
        assert!(worst <= 2.0, "largest difference {worst} levels");
        assert!(mean <= 0.25, "mean difference {mean} levels");
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
