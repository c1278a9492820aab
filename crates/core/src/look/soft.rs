//! The "soft" look: the shift look without its false contours. Where a
//! cluster boundary crosses a smooth gradient of the source, the shift look
//! moves the two sides by different offsets and shows a step; here the
//! clusters' memberships (1 inside, 0 outside) are smoothed in the image
//! plane by a guided filter ([`crate::guided`]) led by the source's
//! lightness, so that a boundary fades over the filter's window where the
//! source is smooth and stays sharp at the source's own edges.
//!
//! Per image, after the shift look's own preparation: the filter, once per
//! cluster count the palettes need, gives each pixel soft weights; a pixel
//! whose weight is all on its own cluster is *pure* and keeps the shift
//! look's colour table; the others (near boundaries) are listed with their
//! two heaviest clusters and the first one's weight. Per palette: the shift
//! look's table, the same kernel for each listed (colour, other cluster)
//! pair, and each listed pixel mixed from its two clusters' colours.
//! Mixing the two recoloured colours, rather than the two offsets before
//! the kernel, costs two lookups a pixel instead of the kernel, and fades
//! between the same two ends.

use rayon::prelude::*;

use super::shift::{Clustering, PreparedShift};
use super::{Look, PreparedLook, ShiftLook, ShiftOptions, colour_lab};
use crate::analysis::AnalysisOptions;
use crate::colour::{LabToSrgb, srgb8_to_lab};
use crate::error::{BuildError, LookError};
use crate::guided::{GuidedFilter, Plane, RowSampler};
use crate::indexed::colour_table;
use crate::palette::Palette;
use crate::source::SourceImage;

// The filter's parameters, chosen on the bundled photos (coffee, rocket,
// retina) for the fewest steps in smooth areas with the look still near the
// shift look's: crates/core/tests/soft.rs and docs/looks.md have the figures.

/// The filter's window radius at full resolution: the image's longest side
/// over this (32 pixels at 2048, 10 at 640), at least 1.
const RADIUS_DIVISOR: usize = 64;

/// The filter's regularisation, in lightness units (0..=1) squared: where
/// the lightness varies less than about its square root (0.03, about 3 L*)
/// across a window, memberships are smoothed; where more, they follow it.
const EPS: f32 = 0.001;

/// How smooth an area must be to be blended: a pixel's blend is
/// `SMOOTH / (SMOOTH + v)` of the filtered weights, `v` the lightness
/// variance around it, the rest its own cluster. So texture, where a step
/// does not show, keeps the shift look's clusters.
const SMOOTH: f32 = 0.01;

/// Full-resolution pixels per side of a block of the fast guided filter.
const SCALE: usize = 4;

/// The shift look with cluster boundaries blended where the source is
/// smooth: see the module docs.
#[derive(Clone, Debug, Default)]
pub struct SoftLook {
    shift: ShiftLook,
}

impl SoftLook {
    /// The same options as [`ShiftLook::new`], checked the same way.
    pub fn new(options: ShiftOptions) -> Result<SoftLook, BuildError> {
        Ok(SoftLook { shift: ShiftLook::new(options)? })
    }
}

impl Look for SoftLook {
    fn name(&self) -> &str {
        "soft"
    }

    fn options(&self) -> serde_json::Value {
        self.shift.options()
    }

    fn memory_per_pixel(&self, palettes: &[Palette]) -> u64 {
        // Each cluster count the palettes use, and each distinct colour's
        // CIELAB in floats (at most one colour a pixel).
        let max_k = self.shift.shift_options().max_k;
        let mut ks: Vec<usize> =
            palettes.iter().map(|p| p.colors.len().min(max_k)).filter(|&k| k > 1).collect();
        ks.sort_unstable();
        ks.dedup();
        12 + ks.into_iter().map(|k| blends_bytes_per_pixel(k as u64)).sum::<u64>()
    }

    fn prepare(
        &self,
        image: &SourceImage,
        palettes: &[Palette],
        analysis: &AnalysisOptions,
    ) -> Result<Box<dyn PreparedLook>, LookError> {
        if image.width() as u64 * image.height() as u64 > u64::from(u32::MAX) {
            return Err(LookError(format!("the soft look takes images of at most {} pixels", u32::MAX)));
        }
        let shift = self.shift.prepare_shift(image, palettes, analysis);
        let (lab, blends) = rayon::join(
            || colour_lab(&shift.indexed),
            || {
                let mut blends = Vec::new();
                shift
                    .clusterings
                    .par_iter()
                    .map(|c| Blends::new(image, &shift, c))
                    .collect_into_vec(&mut blends);
                blends
            },
        );
        Ok(Box::new(PreparedSoft { shift, lab, blends }))
    }
}

/// One clustering's soft weights, kept row by row for the pixels that are
/// not pure: every cluster's weight in 255ths of their sum, each rounded.
struct Blends {
    clusters: usize,
    /// One per image row; none when there is nothing to blend.
    rows: Vec<RowBlends>,
}

#[derive(Default)]
struct RowBlends {
    /// Columns of the pixels blended, ascending.
    columns: Vec<u32>,
    /// `clusters` weights a pixel, in the order of `columns`.
    weights: Vec<u8>,
}

/// Bytes a pixel, at most, that [`Blends`] of `clusters` clusters holds,
/// and that making it holds besides: its rows, the guide's planes and each
/// cluster's at a 16th of the pixels, four bytes a value.
fn blends_bytes_per_pixel(clusters: u64) -> u64 {
    (4 + clusters) + (3 + 9 * clusters).div_ceil(4)
}

impl Blends {
    fn new(image: &SourceImage, shift: &PreparedShift, clustering: &Clustering) -> Blends {
        let clusters = clustering.centres.len();
        let (width, height) = (image.width() as usize, image.height() as usize);
        if clusters < 2 || width == 0 || height == 0 {
            return Blends { clusters, rows: Vec::new() };
        }
        let indices = shift.indexed.indices();
        let (lab, labels) = (&shift.lab, &clustering.labels);
        let lightness = |x: usize, y: usize| f32::from(lab[indices[y * width + x] as usize][0]) / 255.0;

        let radius = ((width.max(height) + RADIUS_DIVISOR / 2) / RADIUS_DIVISOR).max(1);
        let small_radius = ((radius + SCALE / 2) / SCALE).max(1);

        let guide = Plane::block_means(width, height, SCALE, lightness);
        let filter = GuidedFilter::new(guide, small_radius, EPS);
        let mut coefficients = Vec::new();
        (0..clusters)
            .into_par_iter()
            .map(|cluster| {
                let membership = |x: usize, y: usize| {
                    f32::from(u8::from(usize::from(labels[indices[y * width + x] as usize]) == cluster))
                };
                filter.coefficients(&Plane::block_means(width, height, SCALE, membership))
            })
            .collect_into_vec(&mut coefficients);

        // Full resolution, row by row: each cluster's weight, and the
        // pixels whose weight is not all on their own cluster.
        let blocks = coefficients[0].a.width;
        let sampler = RowSampler::new(width, SCALE, blocks);
        let mut rows: Vec<RowBlends> = Vec::new();
        (0..height)
            .into_par_iter()
            .map(|y| {
                let at = coefficients[0].a.sample_row(y, SCALE);
                let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
                // How smooth the source is around each pixel, 0..=1.
                let mut smooth = vec![0f32; width];
                sampler.sample(filter.variance(), at, &mut smooth);
                smooth.iter_mut().for_each(|v| *v = SMOOTH / (*v + SMOOTH));
                let mut weights = vec![0f32; width * clusters];
                for (cluster, c) in coefficients.iter().enumerate() {
                    sampler.sample(&c.a, at, &mut a);
                    sampler.sample(&c.b, at, &mut b);
                    for x in 0..width {
                        weights[x * clusters + cluster] = (a[x] * lightness(x, y) + b[x]).clamp(0.0, 1.0);
                    }
                }
                let mut blends = RowBlends::default();
                for (x, weights) in weights.chunks_exact_mut(clusters).enumerate() {
                    let own = usize::from(labels[indices[y * width + x] as usize]);
                    // Blended in proportion to the smoothness: where the
                    // source is textured, its own cluster as in the shift look.
                    let total: f32 = weights.iter().sum();
                    if total > 0.0 {
                        for (k, w) in weights.iter_mut().enumerate() {
                            *w = smooth[x] * *w / total + (1.0 - smooth[x]) * f32::from(u8::from(k == own));
                        }
                    }
                    let total: f32 = weights.iter().sum();
                    if total <= 0.0 {
                        continue;
                    }
                    let start = blends.weights.len();
                    blends.weights.extend(weights.iter().map(|w| (255.0 * w / total).round() as u8));
                    let pure =
                        blends.weights[start..].iter().enumerate().all(|(k, &w)| (k == own) == (w > 0));
                    if pure {
                        blends.weights.truncate(start);
                    } else {
                        blends.columns.push(x as u32);
                    }
                }
                blends.columns.shrink_to_fit();
                blends.weights.shrink_to_fit();
                blends
            })
            .collect_into_vec(&mut rows);
        Blends { clusters, rows }
    }
}

struct PreparedSoft {
    shift: PreparedShift,
    /// Per distinct colour, its CIELAB.
    lab: Vec<[f32; 3]>,
    /// One per clustering of `shift`, in the same order.
    blends: Vec<Blends>,
}

impl PreparedLook for PreparedSoft {
    fn recolour(&self, image: &SourceImage, palette: &Palette, out: &mut [u8]) -> Result<(), LookError> {
        let (k, clustering) = self.shift.clustering_for(palette)?;
        let position = self.shift.clusterings.iter().position(|c| std::ptr::eq(c, clustering));
        let Some(blends) = position.and_then(|i| self.blends.get(i)) else {
            return Err(LookError("no blend weights prepared for this palette".into()));
        };
        let options = self.shift.options();
        let mut shifts = Box::new([[0f32; 3]; 256]);
        for target in self.shift.cluster_targets(clustering, palette, k) {
            let (from, to) = (srgb8_to_lab(target.centre), srgb8_to_lab(target.colour));
            shifts[target.cluster] =
                [(to[0] - from[0]) * options.lightness, to[1] - from[1], to[2] - from[2]];
        }
        let kernel =
            Kernel { blend: options.blend, saturation: options.saturation, to_srgb: LabToSrgb::new() };

        // Every colour moved by its own cluster's shift, into a table.
        let colours = self.shift.indexed.colours();
        let labels = &clustering.labels;
        let table = colour_table(colours, |first, colours, table| {
            for (i, (entry, &colour)) in table.iter_mut().zip(colours).enumerate() {
                let i = first + i;
                *entry = kernel.recolour(colour, self.lab[i], shifts[usize::from(labels[i])]);
            }
        });
        self.shift.indexed.paint(&table, image, out);

        // Then the pixels near a boundary, each by its own blend of shifts.
        let indices = self.shift.indexed.indices();
        let width = image.width() as usize;
        let channels = image.channels().count();
        let clusters = blends.clusters;
        out.par_chunks_mut(width * channels).zip(indices.par_chunks(width)).zip(&blends.rows).for_each(
            |((out, indices), row)| {
                for (&x, weights) in row.columns.iter().zip(row.weights.chunks_exact(clusters)) {
                    let (mut shift, mut total) = ([0f32; 3], 0f32);
                    for (k, &w) in weights.iter().enumerate() {
                        let w = f32::from(w);
                        (0..3).for_each(|c| shift[c] += w * shifts[k][c]);
                        total += w;
                    }
                    let colour = indices[x as usize] as usize;
                    let shift = shift.map(|s| s / total.max(1.0));
                    let at = x as usize * channels;
                    out[at..at + 3].copy_from_slice(&kernel.recolour(
                        colours[colour],
                        self.lab[colour],
                        shift,
                    ));
                }
            },
        );
        Ok(())
    }
}

/// The shift look's steps in floating point: move the colour in CIELAB,
/// back to sRGB, blend with the original, scale the HSV saturation. Unlike
/// the shift look, which follows the original's 8-bit arithmetic and its
/// steps of up to 8 levels between neighbouring colours (a 2° hue step of
/// 8-bit HSV), this maps nearby colours to nearby colours.
#[derive(Clone, Copy)]
struct Kernel {
    blend: f32,
    saturation: f32,
    to_srgb: LabToSrgb,
}

impl Kernel {
    #[inline]
    fn recolour(self, src: [u8; 3], lab: [f32; 3], shift: [f32; 3]) -> [u8; 3] {
        let recoloured = self.to_srgb.convert([lab[0] + shift[0], lab[1] + shift[1], lab[2] + shift[2]]);
        let mixed: [f32; 3] =
            std::array::from_fn(|c| self.blend * recoloured[c] + (1.0 - self.blend) * f32::from(src[c]));
        // HSV saturation is (max - min) / max with the hue and the maximum
        // kept: scaling it scales each channel's distance below the maximum.
        let value = mixed[0].max(mixed[1]).max(mixed[2]);
        let least = mixed[0].min(mixed[1]).min(mixed[2]);
        let factor = if value > least {
            let saturation = (value - least) / value;
            (saturation * self.saturation).min(1.0) / saturation
        } else {
            1.0
        };
        mixed.map(|c| (value - (value - c) * factor).round().clamp(0.0, 255.0) as u8)
    }
}
