//! The "shift" look, as the original service did it: cluster the image's
//! colours, pair clusters with palette colours from dark to light, and move
//! every pixel of a cluster in CIELAB by its pair's difference.
//!
//! Per image: the image in indexed-colour form, its distinct colours' sRGB
//! and 8-bit CIELAB channel by channel ([`ColourPlanes`]), and one k-means
//! (with a label per distinct colour) for each distinct k the palettes
//! need. Per palette: [`shift_colours`] over the distinct colours into a
//! table, eight at a time, then one lookup a pixel.

use rayon::prelude::*;

use super::spec::{OptionValue, check_value};
use super::{Look, PreparedLook, RowPainter};
use crate::analyse::AnalysisOptions;
use crate::analyse::indexed::{ColourTable, IndexedImage, colour_table};
use crate::analyse::kmeans::{kmeans_finished, label_colours};
use crate::colour::opencv::{
    Lanes, hsv8_to_srgb_lanes, lab8_to_srgb_lanes, srgb_to_hsv8_lanes, srgb_to_lab8,
};
use crate::decode::SourceImage;
use crate::error::{BuildError, LookError};
use crate::palette::Palette;
use crate::recipe::option_number;

// The AVX2 kernels, in intrinsics (`shift/avx2.rs`).
#[cfg(target_arch = "x86_64")]
mod avx2;

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

impl ShiftOptions {
    /// The defaults, as a constant for the option table ([`super::LOOK_OPTIONS`]).
    pub const DEFAULT: ShiftOptions = ShiftOptions { max_k: 5, lightness: 0.7, blend: 0.75, saturation: 1.2 };
}

impl Default for ShiftOptions {
    fn default() -> Self {
        ShiftOptions::DEFAULT
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
        let values = [
            ("max_k", OptionValue::Integer(max_k as u64)),
            ("lightness", OptionValue::Number(lightness)),
            ("blend", OptionValue::Number(blend)),
            ("saturation", OptionValue::Number(saturation)),
        ];
        for (option, value) in values {
            check_value(option, &value).map_err(|reason| BuildError::Option { option, reason })?;
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

    fn uses_seed(&self) -> bool {
        true
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
        Ok(Box::new(self.prepare_shift(image, palettes, analysis)))
    }
}

impl ShiftLook {
    /// The per-image work, for this look and the soft one built on it.
    pub(super) fn prepare_shift(
        &self,
        image: &SourceImage,
        palettes: &[Palette],
        analysis: &AnalysisOptions,
    ) -> PreparedShift {
        let indexed = IndexedImage::new(image);
        let distinct = indexed.colours().len();
        let mut ks: Vec<usize> =
            palettes.iter().map(|p| self.clusters_for(p).min(distinct)).filter(|&k| k > 0).collect();
        ks.sort_unstable();
        ks.dedup();
        let (planes, centres) = rayon::join(
            || ColourPlanes::new(indexed.colours()),
            || {
                // Every distinct colour weighted by its pixels: the original's
                // objective, clustering every pixel.
                kmeans_finished(indexed.colours(), &indexed.counts(image), &ks, analysis.seed)
            },
        );

        let clusterings = centres
            .into_iter()
            .map(|centres| {
                let mut labels = label_colours(&centres, indexed.colours());
                // Padded as the planes are, so that the kernel reads whole blocks.
                labels.resize(planes.len(), labels.last().copied().unwrap_or(0));
                tracing::debug!(?centres, "clustered");
                Clustering { centres, labels }
            })
            .collect();
        PreparedShift { options: self.options, indexed, planes, clusterings }
    }
}

/// The distinct colours as the kernel reads them: each channel of their
/// sRGB and of their 8-bit CIELAB in a plane of its own (structure of
/// arrays), so that a block of [`LANES`] colours is one load a channel.
/// Padded to whole blocks by repeating the last colour.
pub(super) struct ColourPlanes {
    src: [Vec<u8>; 3],
    /// L*, a*, b* in 8 bits, as [`srgb_to_lab8`] gives them.
    pub(super) lab: [Vec<u8>; 3],
}

impl ColourPlanes {
    fn new(colours: &[[u8; 3]]) -> ColourPlanes {
        let padded = colours.len().div_ceil(LANES) * LANES;
        let src = std::array::from_fn(|c| {
            let mut plane: Vec<u8> = colours.iter().map(|colour| colour[c]).collect();
            plane.resize(padded, plane.last().copied().unwrap_or(0));
            plane
        });
        let mut lab = [vec![0; padded], vec![0; padded], vec![0; padded]];
        let [l, a, b] = &mut lab;
        l.par_chunks_mut(LAB_BAND)
            .zip(a.par_chunks_mut(LAB_BAND))
            .zip(b.par_chunks_mut(LAB_BAND))
            .enumerate()
            .for_each(|(band, ((l, a), b))| lab_band(&src, band * LAB_BAND, [l, a, b]));
        ColourPlanes { src, lab }
    }

    /// Colours, padding included: a whole number of blocks.
    fn len(&self) -> usize {
        self.src[0].len()
    }
}

/// Colours per parallel band of the CIELAB planes: a whole number of blocks.
const LAB_BAND: usize = 1 << 12;

/// The 8-bit CIELAB of the colours `first..first + out[0].len()` of the
/// `src` planes (whole blocks), into `out`: AVX2 where the CPU has it, the
/// same integer steps as [`srgb_to_lab8`] (a test compares every colour).
fn lab_band(src: &[Vec<u8>; 3], first: usize, out: [&mut [u8]; 3]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: the CPU has AVX2 (`simd`).
        return unsafe { avx2::lab_band(src, first, out) };
    }
    let [l, a, b] = out;
    for i in 0..l.len() {
        let at = first + i;
        [l[i], a[i], b[i]] = srgb_to_lab8([src[0][at], src[1][at], src[2][at]]);
    }
}

pub(super) struct Clustering {
    /// sRGB, 0..=255.
    pub(super) centres: Vec<[f32; 3]>,
    /// Per distinct colour, the index of its centre; padded as
    /// [`ColourPlanes`].
    pub(super) labels: Vec<u8>,
}

pub(super) struct PreparedShift {
    options: ShiftOptions,
    pub(super) indexed: IndexedImage,
    pub(super) planes: ColourPlanes,
    pub(super) clusterings: Vec<Clustering>,
}

impl PreparedShift {
    /// Each cluster and the colour it moves towards: its centre truncated
    /// to 8 bits (`np.uint8`, as the original), and a palette colour.
    ///
    /// As the original: centres and palette colours each ranked by R+G+B
    /// and paired in that order. An image with fewer distinct colours than
    /// the `k` palette colours used has as many clusters as colours; they
    /// take palette colours spread over the ranks, darkest to darkest and
    /// lightest to lightest (a lone colour takes the rank of its own
    /// lightness), so that white stays the lightest palette colour.
    pub(super) fn cluster_targets(
        &self,
        clustering: &Clustering,
        palette: &Palette,
        k: usize,
    ) -> Vec<ClusterTarget> {
        let clusters = clustering.centres.len();
        let centres: Vec<[u8; 3]> =
            clustering.centres.iter().map(|c| c.map(|v| v.clamp(0.0, 255.0) as u8)).collect();
        let brightness = |c: &[u8; 3]| c.iter().map(|&v| u32::from(v)).sum::<u32>();
        let mut centre_order: Vec<usize> = (0..clusters).collect();
        centre_order.sort_by_key(|&i| brightness(&centres[i]));
        let mut ranked = palette.colors[..k].to_vec();
        ranked.sort_by_key(|c| c.brightness());
        let colours: Vec<_> = match clusters {
            _ if clusters == k => ranked,
            1 => vec![ranked[(brightness(&centres[0]) as usize * (k - 1) + 382) / 765]],
            _ => (0..clusters).map(|j| ranked[(j * (k - 1) + (clusters - 1) / 2) / (clusters - 1)]).collect(),
        };
        centre_order
            .into_iter()
            .zip(colours)
            .map(|(cluster, colour)| ClusterTarget { cluster, centre: centres[cluster], colour: colour.0 })
            .collect()
    }

    /// Per cluster, the 8-bit CIELAB offset its pixels move by: between
    /// its [`ClusterTarget`]'s two colours in 8-bit CIELAB, the L* part
    /// scaled by `lightness`. Channel-major, indexed by label; 256 entries
    /// so that any `u8` label is in bounds in the hot loop.
    fn cluster_shifts(&self, clustering: &Clustering, palette: &Palette, k: usize) -> Box<ShiftTable> {
        let mut shifts =
            Box::new(ShiftTable { by_label: [[0.0; 256]; 3], clusters: clustering.centres.len() });
        for target in self.cluster_targets(clustering, palette, k) {
            let from = srgb_to_lab8(target.centre).map(f32::from);
            let to = srgb_to_lab8(target.colour).map(f32::from);
            let shift = [(to[0] - from[0]) * self.options.lightness, to[1] - from[1], to[2] - from[2]];
            for (channel, value) in shifts.by_label.iter_mut().zip(shift) {
                channel[target.cluster] = value;
            }
        }
        shifts
    }

    /// The look's options.
    pub(super) fn options(&self) -> ShiftOptions {
        self.options
    }
}

/// A cluster, its centre in 8 bits, and the palette colour it moves towards.
pub(super) struct ClusterTarget {
    pub(super) cluster: usize,
    pub(super) centre: [u8; 3],
    pub(super) colour: [u8; 3],
}

impl PreparedShift {
    /// The clustering `palette` uses: as many clusters as its colours (at
    /// most `max_k`), or as the image has colours.
    pub(super) fn clustering_for(&self, palette: &Palette) -> Result<(usize, &Clustering), LookError> {
        let k = self.options.max_k.min(palette.colors.len());
        let clusters = k.min(self.indexed.colours().len());
        let clustering = self
            .clusterings
            .iter()
            .find(|c| c.centres.len() == clusters)
            .ok_or_else(|| LookError(format!("no clustering prepared for {clusters} colours")))?;
        Ok((k, clustering))
    }

    /// Per distinct colour, its recoloured colour, each moved by its own
    /// cluster's shift.
    fn table(&self, palette: &Palette) -> Result<ColourTable, LookError> {
        let (k, clustering) = self.clustering_for(palette)?;
        let shifts = self.cluster_shifts(clustering, palette, k);
        let params = KernelParams { blend: self.options.blend, saturation: self.options.saturation };
        let table = colour_table(self.indexed.colours(), |first, _, table| {
            shift_colours_fastest(&self.planes, &clustering.labels, &shifts, params, first, table);
        });
        Ok(table)
    }
}

impl PreparedLook for PreparedShift {
    fn recolour(&self, image: &SourceImage, palette: &Palette, out: &mut [u8]) -> Result<(), LookError> {
        let table = self.table(palette)?;
        self.indexed.paint(&table, image, out);
        Ok(())
    }

    fn painter<'a>(
        &'a self,
        image: &'a SourceImage,
        palette: &Palette,
    ) -> Option<Result<RowPainter<'a>, LookError>> {
        Some(self.table(palette).map(|table| RowPainter::new(&self.indexed, table, image)))
    }
}

/// `x` (in 0..=255) rounded to the nearest integer, ties to even, as
/// `f32::round_ties_even`; adding and taking away 2^23 makes the FPU round
/// in its default mode, where `round_ties_even` is a library call on the
/// x86-64 baseline.
#[inline(always)]
fn round_ties_even(x: f32) -> i32 {
    const SHIFT: f32 = 8_388_608.0;
    ((x + SHIFT) - SHIFT) as i32
}

#[derive(Clone, Copy)]
struct KernelParams {
    blend: f32,
    saturation: f32,
}

/// Per channel (L*, a*, b*), each cluster's shift, indexed by label.
struct ShiftTable {
    /// 256 entries a channel, so that any `u8` label is in bounds.
    by_label: [[f32; 256]; 3],
    /// Labels are below this.
    clusters: usize,
}

/// Colours the kernel works on at once: each step is a loop over this many
/// lanes, which the compiler turns into SIMD.
const LANES: usize = 8;

/// [`shift_colours`] compiled for AVX2 where the CPU has it: the same
/// operations in the same order (no fused multiply-adds, which would round
/// differently), so the same bytes, twice the lanes an instruction.
fn shift_colours_fastest(
    planes: &ColourPlanes,
    labels: &[u8],
    shifts: &ShiftTable,
    params: KernelParams,
    first: usize,
    out: &mut [[u8; 3]],
) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: the CPU has AVX2 (`simd`).
        return unsafe { avx2::shift_colours(planes, labels, shifts, params, first, out) };
    }
    shift_colours(planes, labels, shifts, params, first, out);
}

/// Recolours the colours `first..first + out.len()` of `planes` into
/// `out`, [`LANES`] at a time, each moved by its cluster's shift
/// (`shifts` by `labels`); the planes and labels are padded to whole blocks.
#[inline(always)]
fn shift_colours(
    planes: &ColourPlanes,
    labels: &[u8],
    shifts: &ShiftTable,
    params: KernelParams,
    first: usize,
    out: &mut [[u8; 3]],
) {
    for start in (0..out.len()).step_by(LANES) {
        let at = first + start;
        let lanes = |plane: &Vec<u8>| -> [f32; LANES] { std::array::from_fn(|i| f32::from(plane[at + i])) };
        let block_shifts = std::array::from_fn(|i| {
            let label = usize::from(labels[at + i]);
            shifts.by_label.map(|channel| channel[label])
        });
        let shifted = shift_lanes(
            planes.src.each_ref().map(lanes),
            planes.lab.each_ref().map(lanes),
            &block_shifts,
            params,
        );
        let count = LANES.min(out.len() - start);
        for (i, entry) in out[start..start + count].iter_mut().enumerate() {
            *entry = [shifted[0][i], shifted[1][i], shifted[2][i]];
        }
    }
}

/// The original's steps for [`LANES`] colours, each in its 8-bit type: move
/// the colour's 8-bit CIELAB by its shift, clamp and truncate (a `uint8`
/// assignment), back to sRGB, blend with the original rounding to nearest
/// (`cv2.addWeighted`), to 8-bit HSV, saturation times the factor truncated
/// (`astype(np.uint8)`), back to sRGB.
#[inline(always)]
fn shift_lanes(
    src: Lanes<f32, LANES>,
    lab: Lanes<f32, LANES>,
    shifts: &[[f32; 3]; LANES],
    params: KernelParams,
) -> Lanes<u8, LANES> {
    let mut moved = [[0f32; LANES]; 3];
    for c in 0..3 {
        for i in 0..LANES {
            // Truncated toward zero after the clamp, as `np.clip` then `astype`.
            moved[c][i] = ((lab[c][i] + shifts[i][c]).clamp(0.0, 255.0) as i32) as f32;
        }
    }
    let recoloured = lab8_to_srgb_lanes(moved);
    let keep = 1.0 - params.blend;
    let mut mixed = [[0i32; LANES]; 3];
    for c in 0..3 {
        for i in 0..LANES {
            mixed[c][i] = round_ties_even(params.blend * f32::from(recoloured[c][i]) + keep * src[c][i]);
        }
    }
    let [h, s, v] = srgb_to_hsv8_lanes(mixed);
    let mut hsv = [[0f32; LANES]; 3];
    for i in 0..LANES {
        hsv[0][i] = h[i] as f32;
        hsv[1][i] = ((s[i] as f32 * params.saturation).min(255.0) as i32) as f32;
        hsv[2][i] = v[i] as f32;
    }
    hsv8_to_srgb_lanes(hsv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-colour steps, composed plainly: what the lanes must give.
    fn shift_one(src: [u8; 3], lab: [u8; 3], shift: [f32; 3], params: KernelParams) -> [u8; 3] {
        use crate::colour::opencv::{hsv8_to_srgb, lab8_to_srgb, srgb_to_hsv8};
        let moved = std::array::from_fn(|c| (f32::from(lab[c]) + shift[c]).clamp(0.0, 255.0) as u8);
        let recoloured = lab8_to_srgb(moved);
        let mixed = std::array::from_fn(|c| {
            let mixed = params.blend * f32::from(recoloured[c]) + (1.0 - params.blend) * f32::from(src[c]);
            mixed.round_ties_even() as u8
        });
        let [h, s, v] = srgb_to_hsv8(mixed);
        hsv8_to_srgb([h, (f32::from(s) * params.saturation).min(255.0) as u8, v])
    }

    /// `shifts` as a table, and labels taking them in turn from `offset`.
    fn cycling(shifts: &[[f32; 3]], offset: usize, colours: usize) -> (Box<ShiftTable>, Vec<u8>) {
        let mut table = Box::new(ShiftTable { by_label: [[0.0; 256]; 3], clusters: shifts.len() });
        for (label, shift) in shifts.iter().enumerate() {
            (0..3).for_each(|c| table.by_label[c][label] = shift[c]);
        }
        let padded = colours.div_ceil(LANES) * LANES;
        (table, (0..padded).map(|i| ((i + offset) % shifts.len()) as u8).collect())
    }

    #[test]
    fn lanes_match_one_colour_at_a_time() {
        let params = KernelParams { blend: 0.75, saturation: 1.2 };
        let shifts = [[-12.6, 30.0, -45.0], [25.2, -60.0, 20.0], [0.0, 0.0, 0.0], [70.0, 127.0, -128.0]];
        // Every 7th level of each channel, a shift each; from the third
        // colour to five before the last, so that neither end is a whole block.
        let colours: Vec<[u8; 3]> = (0..=255u8)
            .step_by(7)
            .flat_map(|r| {
                (0..=255u8).step_by(11).flat_map(move |g| (0..=255u8).step_by(13).map(move |b| [r, g, b]))
            })
            .collect();
        let planes = ColourPlanes::new(&colours);
        let (table, labels) = cycling(&shifts, 0, colours.len());
        let (first, last) = (3, colours.len() - 5);
        let mut out = vec![[0u8; 3]; last - first];
        shift_colours(&planes, &labels, &table, params, first, &mut out);
        for (i, &colour) in colours.iter().enumerate().take(last).skip(first) {
            let shift = shifts[i % 4];
            let lab = srgb_to_lab8(colour);
            assert_eq!(out[i - first], shift_one(colour, lab, shift, params), "{colour:?} shift {shift:?}");
        }
    }

    /// Every 24-bit colour, each block of 8 with other cluster shifts
    /// (whole, fractional, zero, past both ends; up to eight clusters and
    /// more): the AVX2 kernel gives the portable kernel's bytes.
    #[test]
    fn avx2_matches_portable_on_every_colour() {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            let params = KernelParams { blend: 0.75, saturation: 1.2 };
            let shifts = [
                [-12.6, 30.0, -45.0],
                [25.2, -60.0, 20.0],
                [0.0, 0.0, 0.0],
                [70.0, 127.0, -128.0],
                [-3.3, 1.7, 0.4],
                [9.9, -9.9, 0.5],
                [-70.0, 0.25, 3.0],
                [1.0, 2.0, -3.0],
                [-0.5, 0.5, 64.0],
            ];
            let (mut portable, mut avx2) = (vec![[0u8; 3]; 1 << 16], vec![[0u8; 3]; 1 << 16]);
            for red in 0..=255u8 {
                let colours: Vec<[u8; 3]> =
                    (0..=u16::MAX).map(|gb| [red, (gb >> 8) as u8, gb as u8]).collect();
                let planes = ColourPlanes::new(&colours);
                // Five clusters (a permutation in the AVX2 code) and nine
                // (a gather) on alternate rounds.
                let clusters = if red % 2 == 0 { 5 } else { 9 };
                let (table, labels) = cycling(&shifts[..clusters], usize::from(red), colours.len());
                // A partial last block on some of the rounds.
                let count = colours.len() - usize::from(red % 8);
                shift_colours(&planes, &labels, &table, params, 0, &mut portable[..count]);
                // SAFETY: the CPU has AVX2 (`simd`).
                unsafe { avx2::shift_colours(&planes, &labels, &table, params, 0, &mut avx2[..count]) };
                if let Some(i) = (0..count).find(|&i| portable[i] != avx2[i]) {
                    panic!(
                        "{:?} label {}: {:?} portable, {:?} AVX2",
                        colours[i], labels[i], portable[i], avx2[i]
                    );
                }
            }
        }
    }

    /// Every 24-bit colour: the CIELAB planes hold what [`srgb_to_lab8`]
    /// gives, whichever code made them.
    #[test]
    fn lab_planes_match_one_colour_at_a_time() {
        for red in 0..=255u8 {
            let colours: Vec<[u8; 3]> = (0..=u16::MAX).map(|gb| [red, (gb >> 8) as u8, gb as u8]).collect();
            let planes = ColourPlanes::new(&colours);
            for (i, &colour) in colours.iter().enumerate() {
                let lab = [planes.lab[0][i], planes.lab[1][i], planes.lab[2][i]];
                assert_eq!(lab, srgb_to_lab8(colour), "{colour:?}");
            }
        }
    }

    #[test]
    fn rounds_ties_to_even() {
        for step in 0..=255 * 4 {
            let x = step as f32 / 4.0;
            assert_eq!(round_ties_even(x), x.round_ties_even() as i32, "{x}");
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
