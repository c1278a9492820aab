//! The "soft" look: the shift look without its false contours. Where a
//! cluster boundary crosses a smooth gradient of the source, the shift look
//! moves the two sides by different offsets and shows a step; here the
//! clusters' memberships (1 inside, 0 outside) are smoothed in the image
//! plane by a guided filter ([`crate::look::guided`]) led by the source's
//! lightness, so that a boundary fades over the filter's window where the
//! source is smooth and stays sharp at the source's own edges.
//!
//! Per image, after the shift look's own preparation: the filter, once per
//! cluster count the palettes need, gives each pixel a weight per cluster;
//! where the source is textured the weights lean back to the pixel's own
//! cluster (texture hides a step, and keeps the shift look's detail). A
//! pixel within [`PURE`] of its own cluster keeps the shift look's colour;
//! the others, near boundaries in smooth areas, are kept row by row with
//! their weights, CIELAB and colour. Per palette: the kernel over the
//! distinct colours into a table, the image painted from it, then each
//! kept pixel recoloured by its own mix of the clusters' shifts.
//!
//! The kernel is the shift look's steps in floating point ([`Kernel`]):
//! the shift look follows the original service's 8-bit arithmetic, whose
//! rounding alone makes steps of several levels between neighbouring
//! colours, which this look is for removing.

use rayon::prelude::*;

use super::shift::{Clustering, PreparedShift};
use super::{Look, PreparedLook, ShiftLook, ShiftOptions, colour_lab};
use crate::analyse::AnalysisOptions;
use crate::analyse::indexed::colour_table;
use crate::colour::{LabToSrgb, srgb8_to_lab};
use crate::decode::SourceImage;
use crate::error::{BuildError, LookError};
use crate::look::guided::{Coefficients, GuidedFilter, Plane, RowSampler};
use crate::palette::Palette;

mod kernel;
use kernel::{Blended, Kernel};

// The filter's parameters, chosen on the bundled photos (coffee, rocket,
// retina) for the fewest steps in smooth areas with the look still near the
// shift look's: crates/core/tests/it/soft.rs and docs/looks.md have the figures.

/// The filter's window radius at full resolution: the image's longest side
/// over this (16 pixels at 2048, 11 at 1411), at least [`MIN_RADIUS`]
/// (8 pixels at 640).
const RADIUS_DIVISOR: usize = 128;

/// The smallest radius: a boundary between two palette colours far apart
/// needs some 20 pixels to fade without a visible step however small the
/// image.
const MIN_RADIUS: usize = 8;

/// The filter's regularisation, in lightness units (0..=1) squared: where
/// the lightness varies less than about its square root (0.03, about 3 L*)
/// across a window, memberships are smoothed; where more, they follow it.
const EPS: f32 = 0.001;

/// How smooth an area must be to be blended: a pixel's blend is
/// `SMOOTH / (SMOOTH + v)` of the filtered weights, `v` the lightness
/// variance around it, the rest its own cluster. So texture, where a step
/// does not show, keeps the shift look's clusters.
const SMOOTH: f32 = 0.01;

/// A pixel whose own cluster's weight is at least this many 255ths keeps
/// the shift look's colour for it: the step left is at most 2/255 of the
/// difference between two shifts, under 1 CIELAB unit for shifts 100 apart.
const PURE: u8 = 253;

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

    fn uses_seed(&self) -> bool {
        true
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
        let lab = colour_lab(&shift.indexed);
        // One clustering at a time, each in parallel inside, so that only
        // one's working planes are held at once.
        let blends = shift.clusterings.iter().map(|c| Blends::new(image, &shift, &lab, c)).collect();
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

/// A row's blended pixels, in planes (one value a pixel, in the order of
/// `columns`), so that the kernel reads whole SIMD registers of each; their
/// colours are kept rather than looked up, which would be a cache miss a
/// pixel.
#[derive(Default)]
struct RowBlends {
    /// Columns of the pixels blended, ascending.
    columns: Vec<u32>,
    /// Per cluster, a plane of weights in 255ths; a pixel's sum to 255.
    weights: Vec<u8>,
    /// L*, a* and b*, a plane each.
    lab: Vec<f32>,
    /// The source's red, green and blue, a plane each.
    src: Vec<u8>,
}

/// Bytes a pixel, at most, that [`Blends`] of `clusters` clusters holds
/// (every pixel blended: its column, weights, CIELAB and colour), and that
/// making it holds besides: the guide's planes and each cluster's, at a
/// 16th of the pixels, four bytes a value.
fn blends_bytes_per_pixel(clusters: u64) -> u64 {
    (19 + clusters) + (3 + 9 * clusters).div_ceil(4)
}

impl Blends {
    /// `colour_lab`: each distinct colour's CIELAB.
    fn new(
        image: &SourceImage,
        shift: &PreparedShift,
        colour_lab: &[[f32; 3]],
        clustering: &Clustering,
    ) -> Blends {
        let clusters = clustering.centres.len();
        let (width, height) = (image.width() as usize, image.height() as usize);
        if clusters < 2 || width == 0 || height == 0 {
            return Blends { clusters, rows: Vec::new() };
        }
        let indices = shift.indexed.indices();
        let (lightness, labels) = (&shift.planes.lab[0][..], &clustering.labels);

        let radius = ((width.max(height) + RADIUS_DIVISOR / 2) / RADIUS_DIVISOR).max(MIN_RADIUS);
        let small_radius = ((radius + SCALE / 2) / SCALE).max(1);

        let (guide, memberships) = block_planes(width, height, indices, lightness, labels, clusters);
        let filter = GuidedFilter::new(guide, small_radius, EPS);
        let mut coefficients = Vec::new();
        memberships
            .par_iter()
            .map(|membership| filter.coefficients(membership))
            .collect_into_vec(&mut coefficients);

        // Full resolution, row by row: each cluster's weight, and the
        // pixels whose weight is not all on their own cluster.
        let blocks = coefficients[0].a.width;
        let sampler = RowSampler::new(width, SCALE, blocks);
        let source =
            Source { indices, lightness, labels, colours: shift.indexed.colours(), colour_lab, width };
        let mut rows: Vec<RowBlends> = Vec::new();
        (0..height)
            .into_par_iter()
            .map(|y| row_blends(&source, y, &sampler, &filter, &coefficients))
            .collect_into_vec(&mut rows);
        let blended: usize = rows.iter().map(|row| row.columns.len()).sum();

        tracing::debug!(clusters, blended, pixels = width * height, "soft weights");
        Blends { clusters, rows }
    }
}

/// What [`row_blends`] reads of the image, per distinct colour and pixel.
struct Source<'a> {
    indices: &'a [u32],
    /// Per distinct colour, its 8-bit L*.
    lightness: &'a [u8],
    labels: &'a [u8],
    colours: &'a [[u8; 3]],
    colour_lab: &'a [[f32; 3]],
    width: usize,
}

/// Row `y`'s blended pixels: each cluster's weight from the filter's
/// coefficients and the pixel's lightness, blended with its own cluster by
/// the smoothness around it, in 255ths; the pixels not all (within
/// [`PURE`]) on their own cluster kept. Plane by plane, so that the loops
/// compile to SIMD.
fn row_blends(
    source: &Source,
    y: usize,
    sampler: &RowSampler,
    filter: &GuidedFilter,
    coefficients: &[Coefficients],
) -> RowBlends {
    let (width, clusters) = (source.width, coefficients.len());
    let colours = &source.indices[y * width..][..width];
    let own: Vec<u8> = colours.iter().map(|&c| source.labels[c as usize]).collect();
    let lightness: Vec<f32> =
        colours.iter().map(|&c| f32::from(source.lightness[c as usize]) / 255.0).collect();
    let at = filter.variance().sample_row(y, SCALE);

    // How smooth the source is around each pixel, 0..=1.
    let mut smooth = vec![0f32; width];
    let mut scratch = Vec::new();
    sampler.sample(filter.variance(), at, &mut scratch, &mut smooth);
    smooth.iter_mut().for_each(|v| *v = SMOOTH / (*v + SMOOTH));

    let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
    let mut weights = vec![0f32; clusters * width];
    let mut total = vec![0f32; width];
    for (c, plane) in coefficients.iter().zip(weights.chunks_exact_mut(width)) {
        sampler.sample(&c.a, at, &mut scratch, &mut a);
        sampler.sample(&c.b, at, &mut scratch, &mut b);
        for x in 0..width {
            plane[x] = (a[x] * lightness[x] + b[x]).clamp(0.0, 1.0);
            total[x] += plane[x];
        }
    }
    // Blended in proportion to the smoothness: where the source is
    // textured, its own cluster as in the shift look. In 255ths, rounded
    // half up by truncation (`round` is a library call).
    let scale: Vec<f32> =
        (0..width).map(|x| if total[x] > 0.0 { 255.0 * smooth[x] / total[x] } else { 0.0 }).collect();
    let mut quantised = vec![0u8; clusters * width];
    for (k, (quantised, weights)) in
        quantised.chunks_exact_mut(width).zip(weights.chunks_exact(width)).enumerate()
    {
        for x in 0..width {
            let own_share = if usize::from(own[x]) == k { 255.0 * (1.0 - smooth[x]) } else { 0.0 };
            quantised[x] = (scale[x] * weights[x] + own_share + 0.5) as u8;
        }
    }
    // Within a few 255ths of its own cluster, or with no weight at all:
    // pure. The step this leaves is at most that share of a shift.
    let columns: Vec<u32> = (0..width)
        .filter(|&x| total[x] > 0.0 && quantised[usize::from(own[x]) * width + x] < PURE)
        .map(|x| x as u32)
        .collect();

    let n = columns.len();
    let mut blends =
        RowBlends { columns, weights: vec![0; clusters * n], lab: vec![0.0; 3 * n], src: vec![0; 3 * n] };
    for (i, &x) in blends.columns.iter().enumerate() {
        let x = x as usize;
        let mut sum = 0i32;
        let mut heaviest = 0;
        for k in 0..clusters {
            let w = quantised[k * width + x];
            blends.weights[k * n + i] = w;
            sum += i32::from(w);
            if w > blends.weights[heaviest * n + i] {
                heaviest = k;
            }
        }
        // The heaviest takes what rounding left over, so that the weights
        // sum to 255 exactly.
        let fixed = (i32::from(blends.weights[heaviest * n + i]) + 255 - sum).clamp(0, 255);
        blends.weights[heaviest * n + i] = fixed as u8;
        let colour = colours[x] as usize;
        for c in 0..3 {
            blends.lab[c * n + i] = source.colour_lab[colour][c];
            blends.src[c * n + i] = source.colours[colour][c];
        }
    }
    blends
}

/// The guide and each cluster's membership at block resolution: the means
/// of [`SCALE`] x [`SCALE`] blocks (cut short at the right and bottom) of
/// each pixel's 8-bit L* in 0..=1 and of 1 where its colour's label is the
/// cluster, 0 elsewhere. One pass over the pixels for all of them.
fn block_planes(
    width: usize,
    height: usize,
    indices: &[u32],
    lightness: &[u8],
    labels: &[u8],
    clusters: usize,
) -> (Plane, Vec<Plane>) {
    let (blocks_wide, blocks_high) = (width.div_ceil(SCALE), height.div_ceil(SCALE));
    // Per block row: the guide's means, then each cluster's.
    let mut rows: Vec<Vec<f32>> = Vec::new();
    (0..blocks_high)
        .into_par_iter()
        .map(|by| {
            let mut sums = vec![0f32; blocks_wide * (1 + clusters)];
            let rows = by * SCALE..((by + 1) * SCALE).min(height);
            for y in rows.clone() {
                for (x, &colour) in indices[y * width..][..width].iter().enumerate() {
                    let block = x / SCALE;
                    sums[block] += f32::from(lightness[colour as usize]) / 255.0;
                    let label = usize::from(labels[colour as usize]).min(clusters - 1);
                    sums[blocks_wide * (1 + label) + block] += 1.0;
                }
            }
            for (block, sum) in sums.iter_mut().enumerate() {
                let columns = (block % blocks_wide) * SCALE..((block % blocks_wide + 1) * SCALE).min(width);
                *sum /= (rows.len() * columns.len()) as f32;
            }
            sums
        })
        .collect_into_vec(&mut rows);
    let plane = |which: usize| Plane {
        width: blocks_wide,
        height: blocks_high,
        values: rows
            .iter()
            .flat_map(|row| &row[which * blocks_wide..(which + 1) * blocks_wide])
            .copied()
            .collect(),
    };
    (plane(0), (1..=clusters).map(plane).collect())
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
            let lab = &self.lab[first..first + colours.len()];
            let labels = &labels[first..first + colours.len()];
            kernel.recolour_fastest(
                colours.len(),
                |i| (colours[i], lab[i], shifts[usize::from(labels[i])]),
                table,
            );
        });
        self.shift.indexed.paint(&table, image, out);

        // Then the pixels near a boundary, each by its own blend of shifts.
        let channels = image.channels().count();
        let row_bytes = image.width() as usize * channels;
        let clusters = blends.clusters;
        out.par_chunks_mut(row_bytes).zip(&blends.rows).for_each(|(out, row)| {
            let mut recoloured = vec![[0u8; 3]; row.columns.len()];
            let blended = Blended { row, clusters, shifts: &shifts };
            kernel.recolour_blended_fastest(&blended, &mut recoloured);
            for (&x, colour) in row.columns.iter().zip(recoloured) {
                let at = x as usize * channels;
                out[at..at + 3].copy_from_slice(&colour);
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> Kernel {
        Kernel { blend: 0.75, saturation: 1.2, to_srgb: LabToSrgb::new() }
    }

    /// 37 pixels (four blocks of lanes and a part) of three clusters, with
    /// colours, CIELAB and weights of every kind (one cluster, two, three).
    fn row() -> RowBlends {
        let n = 37;
        let mut row = RowBlends {
            columns: (0..n as u32).collect(),
            weights: vec![0; 3 * n],
            lab: vec![0.0; 3 * n],
            src: vec![0; 3 * n],
        };
        for i in 0..n {
            let (first, second) = ((i * 7 % 256) as u8, (i * 13 % 100) as u8);
            let second = second.min(255 - first);
            row.weights[i] = first;
            row.weights[n + i] = second;
            row.weights[2 * n + i] = 255 - first - second;
            let colour = [(i * 29 % 256) as u8, (i * 71 % 256) as u8, (i * 113 % 256) as u8];
            let lab = srgb8_to_lab(colour);
            for c in 0..3 {
                row.src[c * n + i] = colour[c];
                row.lab[c * n + i] = lab[c];
            }
        }
        row
    }

    fn shifts() -> Box<[[f32; 3]; 256]> {
        let mut shifts = Box::new([[0.0; 3]; 256]);
        shifts[..3].copy_from_slice(&[[-20.0, 40.0, -10.0], [35.0, -60.0, 25.0], [5.5, 12.25, -80.0]]);
        shifts
    }

    #[test]
    fn avx2_and_portable_kernels_give_the_same_bytes() {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            let (row, shifts) = (row(), shifts());
            let blended = Blended { row: &row, clusters: 3, shifts: &shifts };
            let (mut portable, mut avx2) = (vec![[0u8; 3]; 37], vec![[0u8; 3]; 37]);
            kernel().recolour_blended(&blended, &mut portable);
            // SAFETY: the CPU has AVX2 (`simd`).
            unsafe { kernel().recolour_blended_avx2(&blended, &mut avx2) };
            assert_eq!(portable, avx2);

            let input = |i: usize| {
                let colour = [row.src[i], row.src[37 + i], row.src[74 + i]];
                (colour, [row.lab[i], row.lab[37 + i], row.lab[74 + i]], shifts[i % 3])
            };
            kernel().recolour(37, input, &mut portable);
            // SAFETY: as above.
            unsafe { kernel().recolour_avx2(37, input, &mut avx2) };
            assert_eq!(portable, avx2);
        }
    }

    #[test]
    fn a_pixel_all_on_one_cluster_gets_that_clusters_colour() {
        let (mut row, shifts) = (row(), shifts());
        let n = 37;
        row.weights.iter_mut().for_each(|w| *w = 0);
        row.weights[n..2 * n].iter_mut().for_each(|w| *w = 255);
        let blended = Blended { row: &row, clusters: 3, shifts: &shifts };
        let mut mixed = vec![[0u8; 3]; n];
        kernel().recolour_blended(&blended, &mut mixed);
        let mut alone = vec![[0u8; 3]; n];
        let input = |i: usize| {
            let colour = [row.src[i], row.src[n + i], row.src[2 * n + i]];
            (colour, [row.lab[i], row.lab[n + i], row.lab[2 * n + i]], shifts[1])
        };
        kernel().recolour(n, input, &mut alone);
        // The same but for the last bit of a float (the shift in 255ths).
        for (a, b) in mixed.iter().zip(&alone) {
            assert!((0..3).all(|c| a[c].abs_diff(b[c]) <= 1), "{a:?} {b:?}");
        }
    }
}
