//! The "shift" look, as the original service did it: cluster the image's
//! colours, pair clusters with palette colours from dark to light, and move
//! every pixel of a cluster in CIELAB by its pair's difference.
//!
//! Per image: the image in indexed-colour form, each distinct colour's
//! CIELAB, and one k-means (with a label per distinct colour) for each
//! distinct k the palettes need. Per palette: [`shift_colours`] over the
//! distinct colours into a table, then one lookup a pixel.

use rayon::prelude::*;

use super::{Look, PreparedLook};
use crate::analysis::{AnalysisOptions, sample_colours};
use crate::colour8::{hsv8_to_srgb, lab8_to_srgb, srgb_to_hsv8, srgb_to_lab8};
use crate::error::{BuildError, LookError};
use crate::indexed::{IndexedImage, colour_table};
use crate::kmeans::{kmeans, kmeans_weighted, nearest, refine};
use crate::palette::Palette;
use crate::recipe::option_number;
use crate::source::SourceImage;

/// Lloyd steps over the full image after clustering the analysis copy (with
/// [`AnalysisOptions::max_side`] set).
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

        let indexed = IndexedImage::new(image);
        let (lab, centres) = rayon::join(
            || colour_lab8(&indexed),
            || {
                let counts = indexed.counts(image);
                match analysis.max_side {
                    // Every distinct colour, weighted by its pixels: the
                    // original's objective, clustering every pixel.
                    None => ks
                        .iter()
                        .map(|&k| kmeans_weighted(indexed.colours(), &counts, k, analysis.seed))
                        .collect(),
                    // A small copy, then a couple of steps over the full image.
                    Some(max_side) => {
                        let samples = sample_colours(image, max_side);
                        ks.iter()
                            .map(|&k| {
                                let centres = kmeans(&samples, k, analysis.seed);
                                refine(indexed.colours(), &counts, centres, REFINE_ROUNDS)
                            })
                            .collect::<Vec<_>>()
                    }
                }
            },
        );

        let clusterings = centres
            .into_iter()
            .map(|centres| {
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

/// Each distinct colour's 8-bit CIELAB.
fn colour_lab8(indexed: &IndexedImage) -> Vec<[u8; 3]> {
    let mut lab = Vec::new();
    indexed.colours().par_iter().map(|&colour| srgb_to_lab8(colour)).collect_into_vec(&mut lab);
    lab
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
    /// Per distinct colour, its 8-bit CIELAB.
    lab: Vec<[u8; 3]>,
    clusterings: Vec<Clustering>,
}

impl PreparedShift {
    /// Per cluster, the 8-bit CIELAB offset its pixels move by. Indexed by
    /// label; 256 entries so that any `u8` label is in bounds in the hot loop.
    ///
    /// As the original: centres truncated to 8 bits (`np.uint8`), centres
    /// and palette colours each ranked by R+G+B, the offset between the
    /// pair's 8-bit CIELAB colours, its L* part scaled by `lightness`.
    fn cluster_shifts(&self, clustering: &Clustering, palette: &Palette) -> Box<[[f32; 3]; 256]> {
        let k = clustering.centres.len();
        let centres: Vec<[u8; 3]> =
            clustering.centres.iter().map(|c| c.map(|v| v.clamp(0.0, 255.0) as u8)).collect();
        let brightness = |c: &[u8; 3]| c.iter().map(|&v| u32::from(v)).sum::<u32>();
        let mut centre_order: Vec<usize> = (0..k).collect();
        centre_order.sort_by_key(|&i| brightness(&centres[i]));
        let mut colours = palette.colors[..k].to_vec();
        colours.sort_by_key(|c| c.brightness());

        let mut shifts = Box::new([[0.0; 3]; 256]);
        for (&centre, colour) in centre_order.iter().zip(colours) {
            let from = srgb_to_lab8(centres[centre]).map(f32::from);
            let to = srgb_to_lab8(colour.0).map(f32::from);
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
            for (((entry, &colour), &lab), &label) in table.iter_mut().zip(colours).zip(lab).zip(labels) {
                *entry = shift_colour(colour, lab, shifts[usize::from(label)], params);
            }
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

/// One colour through the original's steps, each in its 8-bit type: move
/// the colour's 8-bit CIELAB by `shift`, clamp and truncate (a `uint8`
/// assignment), back to sRGB, blend with the original rounding to nearest
/// (`cv2.addWeighted`), to 8-bit HSV, saturation times the factor truncated
/// (`astype(np.uint8)`), back to sRGB.
#[inline(always)]
fn shift_colour(src: [u8; 3], lab: [u8; 3], shift: [f32; 3], params: KernelParams) -> [u8; 3] {
    // `as` truncates toward zero, after the clamp as `np.clip` did.
    let moved = std::array::from_fn(|c| (f32::from(lab[c]) + shift[c]).clamp(0.0, 255.0) as u8);
    let recoloured = lab8_to_srgb(moved);
    let keep = 1.0 - params.blend;
    let mixed = std::array::from_fn(|c| {
        (params.blend * f32::from(recoloured[c]) + keep * f32::from(src[c])).round_ties_even() as u8
    });
    let [h, s, v] = srgb_to_hsv8(mixed);
    let s = (f32::from(s) * params.saturation).min(255.0) as u8;
    hsv8_to_srgb([h, s, v])
}

#[cfg(test)]
mod tests {
    use super::*;

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
