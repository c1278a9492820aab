//! Seeded, deterministic k-means (k-means++ start, then Lloyd's iterations)
//! over 8-bit RGB colours, each distinct colour once with its weight.
//! [`kmeans_finished`] clusters every distinct colour of the full image, as
//! the original service clustered every pixel (the same objective), its
//! starts drawn and run on a weighted coreset (some thousands of points) and
//! only the best finished on every colour. Independent starts run in
//! parallel.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::large_buffer::LargeBuffer;

/// Lloyd's iterations stop here at the latest, as OpenCV's criteria in the
/// original service (`TERM_CRITERIA_MAX_ITER`, 100).
const MAX_ITERATIONS: usize = 100;

/// ... or once no centre moves further than this (`TERM_CRITERIA_EPS`, 0.2,
/// in RGB units); the square is compared.
const SETTLED: f64 = 0.2 * 0.2;

/// Independent k-means++ starts; the tightest clustering wins. One start can
/// settle in a poor local minimum (two centres sharing one dark mass, say),
/// which shows as a badly recoloured image; several make that rare, as they
/// do in OpenCV (`attempts`) and scikit-learn (`n_init`).
const ATTEMPTS: u64 = 4;

/// SplitMix64: tiny, fast, and fixed forever, so seeds give the same
/// clusters in every version of this crate.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[inline(always)]
fn distance2(a: [f32; 3], b: [f32; 3]) -> f32 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
}

/// The index of the centre nearest to `point`; the first on ties. The
/// reference that [`label_colours`] is tested against.
#[cfg(test)]
fn nearest(centres: &[[f32; 3]], point: [f32; 3]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (i, &centre) in centres.iter().enumerate() {
        let d = distance2(centre, point);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// Colours per parallel band of [`label_colours`].
const LABEL_BAND: usize = 1 << 12;

/// Every colour's nearest centre, as the scalar `nearest` finds it (the first on
/// ties), [`LANES`] colours at a time, in parallel bands. At most 256
/// centres: a label is a byte.
pub fn label_colours(centres: &[[f32; 3]], colours: &[[u8; 3]]) -> Vec<u8> {
    let mut labels = vec![0; colours.len()];
    labels
        .par_chunks_mut(LABEL_BAND)
        .zip(colours.par_chunks(LABEL_BAND))
        .for_each(|(labels, colours)| label_band(centres, colours, labels));
    labels
}

fn label_band(centres: &[[f32; 3]], colours: &[[u8; 3]], labels: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: the CPU has AVX2 (`simd`).
        return unsafe { label_band_avx2(centres, colours, labels) };
    }
    label_band_portable(centres, colours, labels);
}

/// [`label_band_portable`] compiled for AVX2, as [`start_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn label_band_avx2(centres: &[[f32; 3]], colours: &[[u8; 3]], labels: &mut [u8]) {
    label_band_portable(centres, colours, labels);
}

#[inline(always)]
fn label_band_portable(centres: &[[f32; 3]], colours: &[[u8; 3]], labels: &mut [u8]) {
    for (labels, colours) in labels.chunks_mut(LANES).zip(colours.chunks(LANES)) {
        let nearest = Block::of_colours(colours).nearest(centres);
        labels.iter_mut().zip(nearest).for_each(|(label, nearest)| *label = nearest as u8);
    }
}

/// Clusters `points` into `k` groups and returns the `k` centres: the best
/// of [`ATTEMPTS`] runs, by the sum of squared distances to the centres.
///
/// Always returns exactly `k` centres. With fewer distinct points than `k`
/// some centres coincide; with no points at all every centre is black.
#[cfg(test)]
fn kmeans(points: &[[u8; 3]], k: usize, seed: u64) -> Vec<[f32; 3]> {
    cluster(&Distinct::new(points), k, seed)
}

/// k-means of the distinct `colours`, each standing for `weights[i]`
/// points (weight 0: moving no centre), so the same objective as clustering every
/// pixel of the image, at a cost set by the coreset's points instead of
/// every distinct colour.
///
/// The starts run on a weighted coreset of the colours ([`Distinct::coreset`]:
/// bins of [`CORESET_LEVELS`] levels a channel, each one point at the exact
/// mean of its colours, weighted by their pixels): each is drawn there
/// (k-means++, so a few small bright points can still take a centre) and
/// iterated there, and the coreset's objective chooses the best. Only that
/// one is finished on every colour, where Lloyd's iterations, started next
/// to the minimum, stop after a few steps; so the centres are exact means of
/// the image's pixels. One clustering (its `k` centres) for each of `ks`,
/// the points prepared once for all of them.
pub fn kmeans_finished(colours: &[[u8; 3]], weights: &[u64], ks: &[usize], seed: u64) -> Vec<Vec<[f32; 3]>> {
    let (full, coreset) =
        rayon::join(|| Distinct::weighted(colours, weights), || Distinct::coreset(colours, weights));
    tracing::debug!(colours = colours.len(), coreset = coreset.blocks.len() * LANES, "clustering");
    ks.iter().map(|&k| finish(&full, cluster(&coreset, k, seed))).collect()
}

/// The best of [`ATTEMPTS`] starts on `points`.
fn cluster(points: &Distinct, k: usize, seed: u64) -> Vec<[f32; 3]> {
    if points.blocks.is_empty() || k == 0 {
        return vec![[0.0; 3]; k];
    }
    // The starts are independent, so they run in parallel; the best is then
    // chosen in start order, so the result does not depend on the threads.
    let runs: Vec<(f64, Vec<[f32; 3]>)> =
        (0..ATTEMPTS).into_par_iter().map(|attempt| start(points, k, seed.wrapping_add(attempt))).collect();
    let mut best: Option<(f64, Vec<[f32; 3]>)> = None;
    for (inertia, centres) in runs {
        // Strictly better only: ties keep the earlier attempt.
        if best.as_ref().is_none_or(|(least, _)| inertia < *least) {
            best = Some((inertia, centres));
        }
    }
    best.map(|(_, centres)| centres).unwrap_or_default()
}

/// One start: k-means++ seeding from `points`, Lloyd's iterations there;
/// and the sum of squared distances from `points` to the centres it ends
/// with.
fn start(points: &Distinct, k: usize, seed: u64) -> (f64, Vec<[f32; 3]>) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: the CPU has AVX2 (`simd`).
        return unsafe { start_avx2(points, k, seed) };
    }
    start_portable(points, k, seed)
}

/// [`start_portable`] compiled for AVX2: the lane loops run 8 wide instead
/// of SSE2's 4, with the same operations in the same order, so the same
/// result.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn start_avx2(points: &Distinct, k: usize, seed: u64) -> (f64, Vec<[f32; 3]>) {
    start_portable(points, k, seed)
}

#[inline(always)]
fn start_portable(points: &Distinct, k: usize, seed: u64) -> (f64, Vec<[f32; 3]>) {
    let centres = lloyd(points, kmeans_plus_plus(points, k, seed));
    let mut inertia = 0.0;
    for (index, block) in points.blocks.iter().enumerate() {
        let nearest = block.nearest(&centres);
        for i in 0..LANES {
            let distance = distance2(block.point(i), centres[nearest[i] as usize]);
            inertia += weight_of(&points.weights, index * LANES + i) * f64::from(distance);
        }
    }
    (inertia, centres)
}

/// Levels of a channel that one bin of [`Distinct::coreset`] spans: 4, so
/// 64 bins a channel, each narrow enough that its mean stands for its
/// colours (at most 3 levels from any of them on each channel). Bins of
/// 8 levels cost half as much but moved the clusters of the bundled photos
/// (retina's mean CIEDE2000 to the original 0.12 to 0.21).
const CORESET_LEVELS: usize = 4;

/// The points to cluster, each distinct point once with its weight (how
/// often it occurs), in blocks of [`LANES`] (the last one padded with
/// weightless points): an image's distinct colours with their pixel counts
/// (Lloyd's sums are exact for integer colours, so the same centres as
/// every pixel), or a coreset of them.
struct Distinct<'a> {
    blocks: LargeBuffer<Block>,
    /// Per point, its weight; the padding past the last point has none
    /// ([`weight_of`]). An image's pixel counts are borrowed as they are:
    /// only a point that changes cluster reads its weight, so the blocks
    /// that every iteration reads are the smaller for not holding them.
    weights: Cow<'a, [u64]>,
}

/// The weight of point `index` of `weights`, none past its end.
#[inline(always)]
fn weight_of(weights: &[u64], index: usize) -> f64 {
    weights.get(index).map_or(0.0, |&weight| weight as f64)
}

/// Points compared with the centres at once; the loop over them becomes SIMD.
const LANES: usize = 8;

/// [`LANES`] points, channel-major.
#[derive(Clone, Copy, Default)]
struct Block {
    channels: [[f32; LANES]; 3],
}

// SAFETY: floats only; all zeros is a block of black points.
unsafe impl bytemuck::Zeroable for Block {}

impl<'a> Distinct<'a> {
    /// From a list of points, repeats and all.
    #[cfg(test)]
    fn new(points: &[[u8; 3]]) -> Distinct<'static> {
        let mut sorted: Vec<u32> = points.iter().map(|&[r, g, b]| u32::from_be_bytes([0, r, g, b])).collect();
        sorted.sort_unstable();
        let runs = sorted.chunk_by(|a, b| a == b).map(|run| {
            let [_, r, g, b] = run[0].to_be_bytes();
            ([r, g, b], run.len() as u64)
        });
        Distinct::from_runs(runs)
    }

    /// From distinct colours and their weights, in parallel. Weightless
    /// colours (fully transparent pixels' only) are kept: they move no
    /// centre.
    fn weighted(colours: &[[u8; 3]], weights: &'a [u64]) -> Distinct<'a> {
        let mut blocks = LargeBuffer::zeroed(colours.len().div_ceil(LANES));
        blocks
            .par_iter_mut()
            .zip(colours.par_chunks(LANES))
            .for_each(|(block, colours)| *block = Block::of_colours(colours));
        Distinct { blocks, weights: Cow::Borrowed(weights) }
    }

    /// A weighted coreset of distinct colours (ascending by `0xRRGGBB`, as
    /// an [`crate::analyse::indexed::IndexedImage`] holds them) and their weights:
    /// the colours binned by [`CORESET_LEVELS`] levels a channel, each bin
    /// one point at the exact mean of its colours (weighted), with their
    /// total weight. Sorted colours come in slabs of one red bin, so one
    /// green-blue plane of bins at a time is enough, and runs of slabs are
    /// binned in parallel (two a thread, about as many colours each); the
    /// bins come out in order, the same for any thread count.
    fn coreset(colours: &[[u8; 3]], weights: &[u64]) -> Distinct<'static> {
        let red_bin = |colour: &[u8; 3]| usize::from(colour[0]) / CORESET_LEVELS;
        let runs = 2 * rayon::current_num_threads().max(1);
        // Where each run starts: at the start of the slab its share begins in.
        let mut starts: Vec<usize> = (0..runs)
            .filter_map(|run| colours.get(colours.len() * run / runs))
            .map(|colour| colours.partition_point(|c| red_bin(c) < red_bin(colour)))
            .chain([colours.len()])
            .collect();
        starts.dedup();
        let points: Vec<Vec<([f32; 3], u64)>> = starts
            .par_windows(2)
            .map(|run| coreset_bins(&colours[run[0]..run[1]], &weights[run[0]..run[1]]))
            .collect();
        Distinct::from_points(points.into_iter().flatten())
    }

    #[cfg(test)]
    fn from_runs(runs: impl Iterator<Item = ([u8; 3], u64)>) -> Distinct<'static> {
        Distinct::from_points(runs.map(|(colour, weight)| (colour.map(f32::from), weight)))
    }

    /// From points and their weights, in blocks of [`LANES`]; the lanes
    /// past the last point repeat it, weightless.
    fn from_points(points: impl Iterator<Item = ([f32; 3], u64)>) -> Distinct<'static> {
        let (mut blocks, mut block, mut filled) = (Vec::new(), Block::default(), 0);
        let mut weights = Vec::new();
        let set = |block: &mut Block, lane: usize, point: [f32; 3]| {
            for (channel, value) in block.channels.iter_mut().zip(point) {
                channel[lane] = value;
            }
        };
        for (point, weight) in points {
            set(&mut block, filled, point);
            weights.push(weight);
            filled += 1;
            if filled == LANES {
                blocks.push(std::mem::take(&mut block));
                filled = 0;
            }
        }
        if filled > 0 {
            let last = block.point(filled - 1);
            (filled..LANES).for_each(|lane| set(&mut block, lane, last));
            blocks.push(block);
        }
        Distinct { blocks: blocks.into(), weights: Cow::Owned(weights) }
    }
}

/// Bins a channel in [`Distinct::coreset`]'s planes.
const CORESET_SIDE: usize = 256 / CORESET_LEVELS;

/// The bins of [`Distinct::coreset`] for a run of whole slabs of
/// `colours`, in order: each bin's weighted mean and its weight.
fn coreset_bins(colours: &[[u8; 3]], weights: &[u64]) -> Vec<([f32; 3], u64)> {
    const BINS: usize = CORESET_SIDE * CORESET_SIDE;
    let level = |c: u8| usize::from(c) / CORESET_LEVELS;
    // Per green-blue bin: the weighted sums of the three channels, and the weight.
    let mut plane = vec![[0u64; 4]; BINS];
    // A bit per bin that a colour of the slab fell in: a slab is read back
    // through these, in bin order, instead of the whole 128 KiB plane (64
    // slabs of it cost a millisecond, however few colours an image has).
    let mut touched = [0u64; BINS / 64];
    let mut points = Vec::new();
    let mut first = 0;
    for slab in colours.chunk_by(|a, b| level(a[0]) == level(b[0])) {
        for (&colour, &weight) in slab.iter().zip(&weights[first..]) {
            let bin = level(colour[1]) * CORESET_SIDE + level(colour[2]);
            touched[bin / 64] |= 1 << (bin % 64);
            let sums = &mut plane[bin];
            for (sum, value) in sums.iter_mut().zip(colour) {
                *sum += weight * u64::from(value);
            }
            sums[3] += weight;
        }
        first += slab.len();
        for (word_index, word) in touched.iter_mut().enumerate() {
            let mut rest = std::mem::take(word);
            while rest != 0 {
                let bin = word_index * 64 + rest.trailing_zeros() as usize;
                rest &= rest - 1;
                // A bin of weightless colours only (fully transparent pixels') is left out.
                let [r, g, b, weight] = std::mem::take(&mut plane[bin]);
                if weight > 0 {
                    points.push(([r, g, b].map(|sum| (sum as f64 / weight as f64) as f32), weight));
                }
            }
        }
    }
    points
}

impl Block {
    /// One to [`LANES`] colours, weightless; the lanes past them repeat the
    /// last colour.
    fn of_colours(colours: &[[u8; 3]]) -> Block {
        let mut block = Block::default();
        let last = colours.len() - 1;
        for i in 0..LANES {
            for (channel, value) in block.channels.iter_mut().zip(colours[i.min(last)]) {
                channel[i] = f32::from(value);
            }
        }
        block
    }

    fn point(&self, i: usize) -> [f32; 3] {
        [self.channels[0][i], self.channels[1][i], self.channels[2][i]]
    }

    /// For each point, the index of its nearest centre: the same arithmetic
    /// as the scalar `nearest`, lane by lane. (The distances
    /// [`Block::nearest_two`] also gives are dropped, and with them the work
    /// of finding them, once inlined.)
    #[inline(always)]
    fn nearest(&self, centres: &[[f32; 3]]) -> [u32; LANES] {
        self.nearest_two(centres).0
    }

    /// For each point, the index of its nearest centre (the first on
    /// ties), its squared distance to that centre, and to the nearest other
    /// (equal to it on a tie).
    #[inline(always)]
    fn nearest_two(&self, centres: &[[f32; 3]]) -> ([u32; LANES], [f32; LANES], [f32; LANES]) {
        let [r, g, b] = &self.channels;
        let (mut best, mut best_distance, mut second) =
            ([0u32; LANES], [f32::INFINITY; LANES], [f32::INFINITY; LANES]);
        for (index, centre) in centres.iter().enumerate() {
            for i in 0..LANES {
                let d = [centre[0] - r[i], centre[1] - g[i], centre[2] - b[i]];
                let distance = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                let closer = distance < best_distance[i];
                second[i] = if closer { best_distance[i] } else { second[i].min(distance) };
                best_distance[i] = if closer { distance } else { best_distance[i] };
                best[i] = if closer { index as u32 } else { best[i] };
            }
        }
        (best, best_distance, second)
    }
}

/// Lloyd's iterations from the given centres until no point changes
/// cluster, no centre moves more than 0.2 ([`SETTLED`]), or [`MAX_ITERATIONS`].
///
/// The per-cluster sums are kept from one iteration to the next and only
/// the points that change cluster move their weight, so after the first
/// few iterations an iteration costs little more than finding each point's
/// nearest centre. For integer colours the sums are of integers, so this is
/// exact: the same centres as summing afresh every time.
#[inline(always)]
fn lloyd(points: &Distinct, centres: Vec<[f32; 3]>) -> Vec<[f32; 3]> {
    iterate(points, centres, SETTLED, relabel_fastest)
}

/// Blocks per parallel band of [`finish`]'s iterations: 16 384 colours.
const FINISH_BAND: usize = 2048;

/// Lloyd's iterations on every colour from the coreset's best centres
/// (see [`lloyd`]) to a fixed point: until no colour changes cluster (or
/// [`MAX_ITERATIONS`]). Stopping once centres move less than 0.2, as the
/// coreset does, left them anywhere along the last slow drift, so a photo
/// and the same photo with a level of noise stopped an iteration apart and
/// their variations differed (docs/looks.md, "Stability"). Late iterations move few colours, so each block keeps a
/// bound on how far its colours are from changing cluster (its slack, as
/// Hamerly's k-means keeps bounds), and a block that cannot have changed
/// is not measured again: the same labels, and so the same centres, as
/// measuring every colour every time.
///
/// Each iteration's relabelling runs in parallel bands. The sums are of
/// integers (colours times pixel counts), so adding the bands' changes in
/// any order gives the same sums: the same centres at any thread count,
/// and as one band would give.
fn finish(points: &Distinct, centres: Vec<[f32; 3]>) -> Vec<[f32; 3]> {
    if points.blocks.is_empty() {
        return centres;
    }
    let k = centres.len();
    // Per block: its slack, not known yet.
    let mut slack = vec![f32::NEG_INFINITY; points.blocks.len()];
    let mut before = centres.clone();
    iterate(points, centres, 0.0, |blocks, weights, labels, centres, sums| {
        // How far the centres moved since the last relabelling, at most.
        let farthest = centres.iter().zip(&before).map(|(a, b)| distance2(*a, *b).sqrt()).fold(0.0, f32::max);
        before.copy_from_slice(centres);
        let bands: Vec<(bool, Vec<[f64; 4]>)> = blocks
            .par_chunks(FINISH_BAND)
            .zip(labels.par_chunks_mut(FINISH_BAND))
            .zip(slack.par_chunks_mut(FINISH_BAND))
            .enumerate()
            .map(|(band, ((blocks, labels), slack))| {
                let weights = weights.get(band * FINISH_BAND * LANES..).unwrap_or_default();
                let mut moved = vec![[0f64; 4]; k];
                let band = Band { blocks, weights, labels, slack };
                (relabel_bounded_fastest(band, farthest, centres, &mut moved), moved)
            })
            .collect();
        let mut changed = false;
        for (band_changed, moved) in bands {
            changed |= band_changed;
            for (sum, moved) in sums.iter_mut().zip(moved) {
                sum.iter_mut().zip(moved).for_each(|(sum, value)| *sum += value);
            }
        }
        changed
    })
}

/// What float rounding can take from a block's slack over
/// [`MAX_ITERATIONS`] (distances are at most 442, whose `f32` steps are
/// 3e-5), with room to spare: a block with a colour this close to the edge
/// of its cluster is measured again.
const ROUNDING: f32 = 0.05;

/// One parallel band of [`finish`]: its blocks, their colours' weights
/// (from the band's first colour), labels, and slacks: per block, the
/// least over its colours of the distance (RGB units, not squared) to the
/// nearest other centre less that to its own. Centres that move by at most
/// `m` take at most `2m` from it.
struct Band<'a> {
    blocks: &'a [Block],
    weights: &'a [u64],
    labels: &'a mut [[u32; LANES]],
    slack: &'a mut [f32],
}

/// [`relabel_bounded`] compiled for AVX2 where the CPU has it, as [`start_avx2`].
fn relabel_bounded_fastest(band: Band, farthest: f32, centres: &[[f32; 3]], sums: &mut [[f64; 4]]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: the CPU has AVX2 (`simd`).
        return unsafe { relabel_bounded_avx2(band, farthest, centres, sums) };
    }
    relabel_bounded(band, farthest, centres, sums)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn relabel_bounded_avx2(band: Band, farthest: f32, centres: &[[f32; 3]], sums: &mut [[f64; 4]]) -> bool {
    relabel_bounded(band, farthest, centres, sums)
}

/// [`relabel`] for the blocks whose slack, less what centres that moved
/// by up to `farthest` can take, leaves room for a colour to have changed
/// cluster; the others keep their labels. The blocks measured get their
/// exact slack again.
#[inline(always)]
fn relabel_bounded(band: Band, farthest: f32, centres: &[[f32; 3]], sums: &mut [[f64; 4]]) -> bool {
    let Band { blocks, weights, labels, slack } = band;
    let mut changed = false;
    for (index, ((block, labels), slack)) in blocks.iter().zip(labels).zip(slack).enumerate() {
        *slack -= 2.0 * farthest;
        if *slack > ROUNDING {
            continue;
        }
        let (nearest, own, other) = block.nearest_two(centres);
        *slack = (0..LANES).map(|i| other[i].sqrt() - own[i].sqrt()).fold(f32::INFINITY, f32::min);
        let first = index * LANES;
        changed |= move_changed(block, weights.get(first..).unwrap_or_default(), labels, nearest, sums);
    }
    changed
}

/// The iterations of [`lloyd`] and [`finish`]: `step` relabels every block
/// against the centres and moves the changed points' weight in the sums,
/// saying whether any point changed; the centres are then the sums' means.
/// It ends when no point changed, or no centre moved further than the
/// square root of `settled` (0: at a fixed point only).
#[inline(always)]
fn iterate(
    points: &Distinct,
    mut centres: Vec<[f32; 3]>,
    settled: f64,
    mut step: impl FnMut(&[Block], &[u64], &mut [[u32; LANES]], &[[f32; 3]], &mut [[f64; 4]]) -> bool,
) -> Vec<[f32; 3]> {
    let k = centres.len();
    // No point has a cluster yet: u32::MAX names none, so the first
    // iteration only adds weight (there is no sum to take it from).
    let mut labels = vec![[u32::MAX; LANES]; points.blocks.len()];
    // Per centre: weighted sums of the three channels, and the weight.
    let mut sums = vec![[0f64; 4]; k];
    for _ in 0..MAX_ITERATIONS {
        if !step(&points.blocks, &points.weights, &mut labels, &centres, &mut sums) {
            break;
        }
        let mut largest_move: f64 = 0.0;
        for (centre, &[r, g, b, weight]) in centres.iter_mut().zip(&sums) {
            // An emptied cluster keeps its centre rather than vanishing.
            if weight > 0.0 {
                let moved = [r, g, b].map(|s| (s / weight) as f32);
                largest_move = largest_move.max(f64::from(distance2(moved, *centre)));
                *centre = moved;
            }
        }
        if largest_move <= settled {
            break;
        }
    }
    centres
}

/// [`relabel`] compiled for AVX2 where the CPU has it, as [`start_avx2`].
fn relabel_fastest(
    blocks: &[Block],
    weights: &[u64],
    labels: &mut [[u32; LANES]],
    centres: &[[f32; 3]],
    sums: &mut [[f64; 4]],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: the CPU has AVX2 (`simd`).
        return unsafe { relabel_avx2(blocks, weights, labels, centres, sums) };
    }
    relabel(blocks, weights, labels, centres, sums)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn relabel_avx2(
    blocks: &[Block],
    weights: &[u64],
    labels: &mut [[u32; LANES]],
    centres: &[[f32; 3]],
    sums: &mut [[f64; 4]],
) -> bool {
    relabel(blocks, weights, labels, centres, sums)
}

/// Each point's nearest centre; a point that changed cluster takes its
/// weight (and weighted channels) from its old cluster's sums, if it had
/// one, to its new one's. Whether any changed.
#[inline(always)]
fn relabel(
    blocks: &[Block],
    weights: &[u64],
    labels: &mut [[u32; LANES]],
    centres: &[[f32; 3]],
    sums: &mut [[f64; 4]],
) -> bool {
    let mut changed = false;
    for (index, (block, labels)) in blocks.iter().zip(labels).enumerate() {
        let nearest = block.nearest(centres);
        let first = index * LANES;
        changed |= move_changed(block, weights.get(first..).unwrap_or_default(), labels, nearest, sums);
    }
    changed
}

/// Gives `block`'s colours their `nearest` centres: a colour that changed
/// cluster takes its weight (`weights` from the block's first colour) and
/// weighted channels from its old cluster's sums, if it had one, to its
/// new one's. Whether any changed.
#[inline(always)]
fn move_changed(
    block: &Block,
    weights: &[u64],
    labels: &mut [u32; LANES],
    nearest: [u32; LANES],
    sums: &mut [[f64; 4]],
) -> bool {
    if nearest == *labels {
        return false;
    }
    for i in 0..LANES {
        let (was, now) = (labels[i], nearest[i]);
        if was == now {
            continue;
        }
        let weight = weight_of(weights, i);
        let channel = |c: usize| weight * f64::from(block.channels[c][i]);
        let moved = [channel(0), channel(1), channel(2), weight];
        if let Some(from) = sums.get_mut(was as usize) {
            from.iter_mut().zip(moved).for_each(|(sum, value)| *sum -= value);
        }
        sums[now as usize].iter_mut().zip(moved).for_each(|(sum, value)| *sum += value);
    }
    *labels = nearest;
    true
}

/// k-means++ seeding: each next centre is drawn with probability
/// proportional to its squared distance from the centres chosen so far,
/// times its weight; the first with probability proportional to its weight.
#[inline(always)]
fn kmeans_plus_plus(distinct: &Distinct, k: usize, seed: u64) -> Vec<[f32; 3]> {
    let mut rng = SplitMix64(seed);
    let point = |index: usize| distinct.blocks[index / LANES].point(index % LANES);
    // Per point (padding included, weightless): its share of the next draw,
    // and its squared distance to the nearest centre so far.
    let weights: Vec<f64> =
        (0..distinct.blocks.len() * LANES).map(|index| weight_of(&distinct.weights, index)).collect();
    let mut mass = weights.clone();
    let mut nearest_d2 = vec![f32::INFINITY; mass.len()];
    let Some(first) = draw(&mass, &mut rng) else { return vec![[0.0; 3]; k] };
    let mut centres = vec![point(first)];
    while centres.len() < k {
        let newest = centres[centres.len() - 1];
        let lanes = nearest_d2.chunks_exact_mut(LANES).zip(mass.chunks_exact_mut(LANES));
        for ((block, weights), (d2, mass)) in
            distinct.blocks.iter().zip(weights.chunks_exact(LANES)).zip(lanes)
        {
            for i in 0..LANES {
                d2[i] = d2[i].min(distance2(block.point(i), newest));
                mass[i] = weights[i] * f64::from(d2[i]);
            }
        }
        // Every point already on a centre (fewer distinct colours than k):
        // the first one again.
        centres.push(point(draw(&mass, &mut rng).unwrap_or(first)));
    }
    centres
}

/// An index drawn with probability proportional to `mass`, or `None` if
/// there is no mass at all.
fn draw(mass: &[f64], rng: &mut SplitMix64) -> Option<usize> {
    let total: f64 = mass.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mut target = rng.next_f64() * total;
    let mut last_with_mass = None;
    for (index, &m) in mass.iter().enumerate() {
        if m > 0.0 {
            target -= m;
            last_with_mass = Some(index);
            if target < 0.0 {
                return Some(index);
            }
        }
    }
    // Rounding can leave a sliver of the total undrawn.
    last_with_mass
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_well_separated_groups() {
        let groups = [[10, 10, 10], [200, 30, 30], [40, 220, 90]];
        let points: Vec<[u8; 3]> = (0..300)
            .map(|i| {
                let g = groups[i % 3];
                let jitter = (i / 3) as u8 % 7;
                [g[0] + jitter, g[1] + 6 - jitter, g[2] + jitter]
            })
            .collect();
        let mut centres = kmeans(&points, 3, 42);
        centres.sort_by(|a, b| a[0].total_cmp(&b[0]));
        for (centre, group) in centres.iter().zip([groups[0], groups[2], groups[1]]) {
            // The jitter averages 3 on every channel.
            let expected = group.map(|c| f32::from(c) + 3.0);
            assert!(distance2(*centre, expected) < 1.0, "{centre:?} vs {expected:?}");
        }
    }

    #[test]
    fn same_seed_same_centres() {
        let points: Vec<[u8; 3]> =
            (0..1000).map(|i| [(i * 37 % 256) as u8, (i * 11 % 256) as u8, i as u8]).collect();
        assert_eq!(kmeans(&points, 5, 7), kmeans(&points, 5, 7));
    }

    #[test]
    fn every_instruction_set_gives_the_same_start() {
        let points: Vec<[u8; 3]> =
            (0..5000u32).map(|i| [(i * 37 % 251) as u8, (i * 11 % 241) as u8, (i * 7 % 239) as u8]).collect();
        let distinct = Distinct::new(&points);
        for seed in 0..4 {
            assert_eq!(start(&distinct, 5, seed), start_portable(&distinct, 5, seed));
        }
    }

    #[test]
    fn labels_are_the_nearest_centres() {
        // Every colour of a coarse grid, centres among them (exact ties
        // between centres) and between them.
        let colours: Vec<[u8; 3]> = (0..=255u8)
            .step_by(5)
            .flat_map(|r| (0..=255u8).step_by(17).map(move |g| [r, g, 255 - r]))
            .collect();
        let centres = [
            [0.0, 0.0, 255.0],
            [255.0, 255.0, 0.0],
            [127.5, 127.5, 127.5],
            [0.0, 0.0, 255.0],
            [40.2, 200.7, 90.1],
        ];
        let labels = label_colours(&centres, &colours);
        for (colour, label) in colours.iter().zip(labels) {
            assert_eq!(usize::from(label), nearest(&centres, colour.map(f32::from)), "{colour:?}");
        }
    }

    #[test]
    fn the_same_coreset_at_any_thread_count() {
        // Sorted distinct colours, crowded in some red bins and absent from others.
        let mut colours: Vec<[u8; 3]> = (0..40_000u32)
            .map(|i| [((i * i) % 200) as u8, (i * 37 % 256) as u8, (i * 11 % 253) as u8])
            .collect();
        colours.sort_unstable();
        colours.dedup();
        let weights: Vec<u64> = (0..colours.len() as u64).map(|i| 1 + i % 7).collect();
        let coreset = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let coreset = pool.install(|| Distinct::coreset(&colours, &weights));
            let points: Vec<[f32; 3]> =
                coreset.blocks.iter().flat_map(|block| (0..LANES).map(|i| block.point(i))).collect();
            (points, coreset.weights.into_owned())
        };
        let one = coreset(1);
        assert_eq!(one.1.iter().sum::<u64>(), weights.iter().sum::<u64>());
        for threads in [2, 3, 8] {
            assert_eq!(coreset(threads), one, "{threads} threads");
        }
    }

    /// The coreset's bins as the plane gives them, every bin looked at:
    /// what reading only the bins colours fell in must give.
    fn coreset_bins_scanned(colours: &[[u8; 3]], weights: &[u64]) -> Vec<([f32; 3], u64)> {
        let level = |c: u8| usize::from(c) / CORESET_LEVELS;
        let mut plane = vec![[0u64; 4]; CORESET_SIDE * CORESET_SIDE];
        let mut points = Vec::new();
        let mut first = 0;
        for slab in colours.chunk_by(|a, b| level(a[0]) == level(b[0])) {
            for (&colour, &weight) in slab.iter().zip(&weights[first..]) {
                let sums = &mut plane[level(colour[1]) * CORESET_SIDE + level(colour[2])];
                for (sum, value) in sums.iter_mut().zip(colour) {
                    *sum += weight * u64::from(value);
                }
                sums[3] += weight;
            }
            first += slab.len();
            for sums in plane.iter_mut().filter(|sums| sums[3] > 0) {
                let [r, g, b, weight] = std::mem::take(sums);
                points.push(([r, g, b].map(|sum| (sum as f64 / weight as f64) as f32), weight));
            }
        }
        points
    }

    #[test]
    fn coreset_bins_are_those_of_the_whole_plane() {
        // Sorted distinct colours: sparse, crowded, every colour; some weightless.
        let sparse: Vec<[u8; 3]> =
            (0..3_000u32).map(|i| [(i / 12) as u8, (i * 97) as u8, (i * 41) as u8]).collect();
        let crowded: Vec<[u8; 3]> =
            (0..200_000u32).map(|i| [(i >> 12) as u8 + 100, (i >> 6) as u8, i as u8]).collect();
        let every: Vec<[u8; 3]> =
            (0..1u32 << 24).step_by(7).map(|i| [(i >> 16) as u8, (i >> 8) as u8, i as u8]).collect();
        for mut colours in [sparse, crowded, every] {
            colours.sort_unstable();
            colours.dedup();
            let weights: Vec<u64> = (0..colours.len() as u64).map(|i| i % 5).collect();
            assert_eq!(coreset_bins(&colours, &weights), coreset_bins_scanned(&colours, &weights));
        }
    }

    /// The bounds only spare measuring colours that cannot have changed
    /// cluster: the centres are those of measuring every colour on every
    /// iteration, to the bit, from good starts and from poor ones.
    #[test]
    fn bounded_finish_is_the_exhaustive_one() {
        let mut colours: Vec<[u8; 3]> = (0..60_000u32)
            .map(|i| {
                let h = i.wrapping_mul(0x9E37_79B1);
                [(h >> 24) as u8 / 2 + (i % 3) as u8 * 60, (h >> 16) as u8 / 3 + 40, (h >> 8) as u8]
            })
            .collect();
        colours.sort_unstable();
        colours.dedup();
        let weights: Vec<u64> = (0..colours.len() as u64).map(|i| 1 + i * 7 % 13).collect();
        let full = Distinct::weighted(&colours, &weights);
        let coreset = Distinct::coreset(&colours, &weights);
        for k in [1, 2, 5, 9] {
            for seed in 0..3 {
                let good = cluster(&coreset, k, seed);
                let poor = kmeans_plus_plus(&coreset, k, seed);
                for start in [good, poor] {
                    let exhaustive = iterate(&full, start.clone(), 0.0, relabel);
                    assert_eq!(finish(&full, start), exhaustive, "k {k}, seed {seed}");
                }
            }
        }
    }

    #[test]
    fn degenerate_inputs_give_k_centres() {
        assert_eq!(kmeans(&[], 3, 1), vec![[0.0; 3]; 3]);
        let flat = vec![[5, 6, 7]; 50];
        assert_eq!(kmeans(&flat, 4, 1), vec![[5.0, 6.0, 7.0]; 4]);
    }
}
