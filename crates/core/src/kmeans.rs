//! Seeded, deterministic k-means (k-means++ start, then Lloyd's iterations)
//! over RGB colours. [`kmeans`] clusters the small analysis image, its
//! independent starts in parallel; [`refine`] then takes a couple of Lloyd
//! steps over the full-resolution pixels, in parallel, so that every pixel,
//! not just the sample, has its say in where the centres end up.

use rayon::prelude::*;

/// Lloyd's iterations stop here at the latest (they usually settle sooner).
const MAX_ITERATIONS: usize = 100;

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

fn distance2(a: [f32; 3], b: [f32; 3]) -> f32 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
}

/// The index of the centre nearest to `point`; the first on ties.
pub fn nearest(centres: &[[f32; 3]], point: [f32; 3]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (i, &centre) in centres.iter().enumerate() {
        let d = distance2(centre, point);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// Clusters `points` into `k` groups and returns the `k` centres: the best
/// of [`ATTEMPTS`] runs, by the sum of squared distances to the centres.
///
/// Always returns exactly `k` centres. With fewer distinct points than `k`
/// some centres coincide; with no points at all every centre is black.
pub fn kmeans(points: &[[f32; 3]], k: usize, seed: u64) -> Vec<[f32; 3]> {
    if points.is_empty() || k == 0 {
        return vec![[0.0; 3]; k];
    }
    // The starts are independent, so they run in parallel; the best is then
    // chosen in start order, so the result does not depend on the threads.
    let runs: Vec<(f64, Vec<[f32; 3]>)> = (0..ATTEMPTS)
        .into_par_iter()
        .map(|attempt| {
            let centres = lloyd(points, kmeans_plus_plus(points, k, seed.wrapping_add(attempt)));
            let inertia =
                points.iter().map(|&p| f64::from(distance2(p, centres[nearest(&centres, p)]))).sum();
            (inertia, centres)
        })
        .collect();
    let mut best: Option<(f64, Vec<[f32; 3]>)> = None;
    for (inertia, centres) in runs {
        // Strictly better only: ties keep the earlier attempt.
        if best.as_ref().is_none_or(|(least, _)| inertia < *least) {
            best = Some((inertia, centres));
        }
    }
    best.map(|(_, centres)| centres).unwrap_or_default()
}

/// Lloyd's iterations from the given centres until no point changes
/// cluster.
fn lloyd(points: &[[f32; 3]], mut centres: Vec<[f32; 3]>) -> Vec<[f32; 3]> {
    let k = centres.len();
    let mut labels = vec![usize::MAX; points.len()];
    for _ in 0..MAX_ITERATIONS {
        let mut changed = false;
        let mut sums = vec![[0f64; 3]; k];
        let mut counts = vec![0usize; k];
        for (label, &point) in labels.iter_mut().zip(points) {
            let nearest = nearest(&centres, point);
            changed |= *label != nearest;
            *label = nearest;
            counts[nearest] += 1;
            for c in 0..3 {
                sums[nearest][c] += f64::from(point[c]);
            }
        }
        if !changed {
            break;
        }
        for ((centre, sum), &count) in centres.iter_mut().zip(&sums).zip(&counts) {
            // An emptied cluster keeps its centre rather than vanishing.
            if count > 0 {
                *centre = sum.map(|s| (s / count as f64) as f32);
            }
        }
    }
    centres
}

/// Pixels per parallel chunk in [`refine`].
const REFINE_CHUNK: usize = 1 << 16;

/// Takes `rounds` Lloyd steps over interleaved 8-bit pixels (`channels` 3
/// or 4; fully transparent pixels are skipped). Sums are integers, so the
/// result is exact and the same at any thread count.
pub fn refine(pixels: &[u8], channels: usize, mut centres: Vec<[f32; 3]>, rounds: usize) -> Vec<[f32; 3]> {
    let k = centres.len();
    for _ in 0..rounds {
        // Per centre: sum of R, G, B and the pixel count.
        let totals = pixels
            .par_chunks(REFINE_CHUNK * channels)
            .map(|chunk| {
                let mut totals = vec![[0u64; 4]; k];
                for px in chunk.chunks_exact(channels) {
                    if channels == 4 && px[3] == 0 {
                        continue;
                    }
                    let total = &mut totals[nearest(&centres, [px[0], px[1], px[2]].map(f32::from))];
                    for c in 0..3 {
                        total[c] += u64::from(px[c]);
                    }
                    total[3] += 1;
                }
                totals
            })
            .reduce(
                || vec![[0u64; 4]; k],
                |mut a, b| {
                    for (a, b) in a.iter_mut().zip(&b) {
                        for c in 0..4 {
                            a[c] += b[c];
                        }
                    }
                    a
                },
            );
        for (centre, total) in centres.iter_mut().zip(&totals) {
            if total[3] > 0 {
                *centre = std::array::from_fn(|c| (total[c] as f64 / total[3] as f64) as f32);
            }
        }
    }
    centres
}

/// k-means++ seeding: each next centre is drawn with probability
/// proportional to its squared distance from the centres chosen so far.
fn kmeans_plus_plus(points: &[[f32; 3]], k: usize, seed: u64) -> Vec<[f32; 3]> {
    let mut rng = SplitMix64(seed);
    let first = (rng.next_u64() % points.len() as u64) as usize;
    let mut centres = vec![points[first]];
    let mut nearest_d2: Vec<f64> = points.iter().map(|&p| f64::from(distance2(p, points[first]))).collect();
    while centres.len() < k {
        let total: f64 = nearest_d2.iter().sum();
        let chosen = if total > 0.0 {
            let mut target = rng.next_f64() * total;
            nearest_d2
                .iter()
                .position(|&d| {
                    target -= d;
                    target < 0.0
                })
                .unwrap_or(points.len() - 1)
        } else {
            // Every point already sits on a centre: fewer distinct colours than k.
            first
        };
        let centre = points[chosen];
        centres.push(centre);
        for (d, &p) in nearest_d2.iter_mut().zip(points) {
            *d = d.min(f64::from(distance2(p, centre)));
        }
    }
    centres
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_well_separated_groups() {
        let groups = [[10.0, 10.0, 10.0], [200.0, 30.0, 30.0], [40.0, 220.0, 90.0]];
        let points: Vec<[f32; 3]> = (0..300)
            .map(|i| {
                let g = groups[i % 3];
                let jitter = (i / 3) as f32 % 7.0 - 3.0;
                [g[0] + jitter, g[1] - jitter, g[2] + jitter]
            })
            .collect();
        let mut centres = kmeans(&points, 3, 42);
        centres.sort_by(|a, b| a[0].total_cmp(&b[0]));
        for (centre, group) in centres.iter().zip([groups[0], groups[2], groups[1]]) {
            assert!(distance2(*centre, group) < 1.0, "{centre:?} vs {group:?}");
        }
    }

    #[test]
    fn same_seed_same_centres() {
        let points: Vec<[f32; 3]> =
            (0..1000).map(|i| [(i * 37 % 256) as f32, (i * 11 % 256) as f32, (i % 256) as f32]).collect();
        assert_eq!(kmeans(&points, 5, 7), kmeans(&points, 5, 7));
    }

    #[test]
    fn degenerate_inputs_give_k_centres() {
        assert_eq!(kmeans(&[], 3, 1), vec![[0.0; 3]; 3]);
        let flat = vec![[5.0, 6.0, 7.0]; 50];
        assert_eq!(kmeans(&flat, 4, 1), vec![[5.0, 6.0, 7.0]; 4]);
    }
}
