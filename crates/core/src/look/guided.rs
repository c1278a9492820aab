//! The fast guided filter: edge-aware smoothing of several planes guided by
//! one image, in O(pixels) whatever the radius.
//!
//! He, Sun and Tang, "Guided Image Filtering" (ECCV 2010, TPAMI 2013): in
//! each window the output is a linear function `a * I + b` of the guide `I`,
//! fitted to the input `p` by least squares with `a` held back by `eps`.
//! Where the guide is flat (its variance well under `eps`) that is a box
//! blur of `p`; across the guide's own edges the fit follows the guide, so
//! the edge stays. He and Sun, "Fast Guided Filter" (arXiv 1505.00996): the
//! coefficients are fitted at 1/s of the resolution and upsampled, for about
//! s² less work and almost no visible change.
//!
//! The filter is linear in `p`, so the memberships of k clusters (1 inside,
//! 0 outside) filter into soft weights that still sum to 1. [`GuidedFilter`]
//! fits once per guide; [`GuidedFilter::coefficients`] once per plane.
//!
//! Every step runs in a fixed order per row or per plane, so the result is
//! the same at any thread count.

use rayon::prelude::*;

/// A plane of `f32` values, row by row.
pub(crate) struct Plane {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) values: Vec<f32>,
}

impl Plane {
    fn map(&self, f: impl Fn(usize) -> f32 + Sync + Send) -> Plane {
        let mut values = Vec::new();
        (0..self.values.len()).into_par_iter().map(f).collect_into_vec(&mut values);
        Plane { width: self.width, height: self.height, values }
    }

    /// The mean over the `(2 * radius + 1)²` window around each value, the
    /// window cut at the plane's edges. Running sums in `f64`, so that
    /// adding and taking away leaves no drift.
    fn box_mean(&self, radius: usize) -> Plane {
        let (width, height) = (self.width, self.height);
        // Along rows: each row's window sums.
        let mut across = vec![0f64; width * height];
        across.par_chunks_mut(width).zip(self.values.par_chunks(width)).for_each(|(sums, row)| {
            let mut sum: f64 = row[..radius.min(width)].iter().map(|&v| f64::from(v)).sum();
            for (x, out) in sums.iter_mut().enumerate() {
                if x + radius < width {
                    sum += f64::from(row[x + radius]);
                }
                *out = sum;
                if x >= radius {
                    sum -= f64::from(row[x - radius]);
                }
            }
        });
        // Down columns, every column at once, row after row.
        let mut values = vec![0f32; width * height];
        let mut sums = vec![0f64; width];
        for row in across.chunks(width).take(radius) {
            sums.iter_mut().zip(row).for_each(|(sum, &v)| *sum += v);
        }
        let count = |i: usize, n: usize| (i + radius).min(n - 1) + 1 - i.saturating_sub(radius);
        for y in 0..height {
            if y + radius < height {
                let row = &across[(y + radius) * width..][..width];
                sums.iter_mut().zip(row).for_each(|(sum, &v)| *sum += v);
            }
            let rows = count(y, height);
            for (x, (out, &sum)) in values[y * width..][..width].iter_mut().zip(&sums).enumerate() {
                *out = (sum / (rows * count(x, width)) as f64) as f32;
            }
            if y >= radius {
                let row = &across[(y - radius) * width..][..width];
                sums.iter_mut().zip(row).for_each(|(sum, &v)| *sum -= v);
            }
        }
        Plane { width, height, values }
    }

    /// Where full-resolution row `y` falls in this plane of block values
    /// (block `i` centred on `i * scale + (scale - 1) / 2`): the offsets of
    /// the block rows above and below, and how far it is from the first,
    /// for [`RowSampler::sample`].
    #[inline]
    pub(crate) fn sample_row(&self, y: usize, scale: usize) -> (usize, usize, f32) {
        let (low, high, t) = between(y, scale, self.height);
        (low * self.width, high * self.width, t)
    }
}

/// The two block centres either side of full-resolution position `i` and
/// how far it is from the first, 0..=1.
#[inline]
fn between(i: usize, scale: usize, blocks: usize) -> (usize, usize, f32) {
    let position = ((i as f32 - (scale as f32 - 1.0) / 2.0) / scale as f32).clamp(0.0, (blocks - 1) as f32);
    let low = position as usize;
    let high = (low + 1).min(blocks - 1);
    (low, high, position - low as f32)
}

/// A guide, fitted once: its window means and variances.
pub(crate) struct GuidedFilter {
    guide: Plane,
    mean: Plane,
    variance: Plane,
    radius: usize,
    eps: f32,
}

/// The per-window linear fit of one plane: `a * guide + b`, each smoothed,
/// at block resolution.
pub(crate) struct Coefficients {
    pub(crate) a: Plane,
    pub(crate) b: Plane,
}

impl GuidedFilter {
    /// `guide` at block resolution, the window `radius` in blocks, `eps`
    /// the regularisation in the guide's units squared.
    pub(crate) fn new(guide: Plane, radius: usize, eps: f32) -> GuidedFilter {
        let mean = guide.box_mean(radius);
        let squares = guide.map(|i| guide.values[i] * guide.values[i]).box_mean(radius);
        let variance = squares.map(|i| (squares.values[i] - mean.values[i] * mean.values[i]).max(0.0));
        GuidedFilter { guide, mean, variance, radius, eps }
    }

    /// The guide's variance over each window, at block resolution.
    pub(crate) fn variance(&self) -> &Plane {
        &self.variance
    }

    /// The smoothed fit of `input` (at block resolution, as the guide).
    pub(crate) fn coefficients(&self, input: &Plane) -> Coefficients {
        let mean_input = input.box_mean(self.radius);
        let products = input.map(|i| input.values[i] * self.guide.values[i]).box_mean(self.radius);
        let a = products.map(|i| {
            let covariance = products.values[i] - self.mean.values[i] * mean_input.values[i];
            covariance / (self.variance.values[i] + self.eps)
        });
        let b = a.map(|i| mean_input.values[i] - a.values[i] * self.mean.values[i]);
        Coefficients { a: a.box_mean(self.radius), b: b.box_mean(self.radius) }
    }
}

/// Per full-resolution row, where to sample block planes: for each `x`, the
/// two block columns either side and the weight of the second.
pub(crate) struct RowSampler {
    columns: Vec<(u32, u32, f32)>,
}

impl RowSampler {
    pub(crate) fn new(width: usize, scale: usize, blocks: usize) -> RowSampler {
        let columns =
            (0..width).map(|x| between(x, scale, blocks)).map(|(l, h, t)| (l as u32, h as u32, t)).collect();
        RowSampler { columns }
    }

    /// Interpolates `plane` at full-resolution row `y` (already split by
    /// [`Plane::sample_row`] into two block rows and a weight) into `out`:
    /// first between the block rows, into `between_rows`, then along it.
    #[inline]
    pub(crate) fn sample(
        &self,
        plane: &Plane,
        (above, below, t): (usize, usize, f32),
        between_rows: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        let (above, below) = (&plane.values[above..][..plane.width], &plane.values[below..][..plane.width]);
        between_rows.clear();
        between_rows.extend(above.iter().zip(below).map(|(&a, &b)| a + (b - a) * t));
        for (out, &(left, right, s)) in out.iter_mut().zip(&self.columns) {
            let (left, right) = (between_rows[left as usize], between_rows[right as usize]);
            *out = left + (right - left) * s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(width: usize, height: usize, f: impl Fn(usize, usize) -> f32) -> Plane {
        let values = (0..width * height).map(|i| f(i % width, i / width)).collect();
        Plane { width, height, values }
    }

    #[test]
    fn box_mean_matches_the_plain_sum() {
        let input = plane(13, 9, |x, y| ((x * 7 + y * 3) % 11) as f32);
        for radius in [0, 1, 3, 20] {
            let fast = input.box_mean(radius);
            for y in 0..9usize {
                for x in 0..13usize {
                    let (mut sum, mut n) = (0.0, 0);
                    for yy in y.saturating_sub(radius)..=(y + radius).min(8) {
                        for xx in x.saturating_sub(radius)..=(x + radius).min(12) {
                            sum += input.values[yy * 13 + xx];
                            n += 1;
                        }
                    }
                    let plain = sum / n as f32;
                    assert!((fast.values[y * 13 + x] - plain).abs() < 1e-4, "r {radius} at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn keeps_an_edge_of_the_guide_and_smooths_where_it_is_flat() {
        // The guide steps from 0.2 to 0.8 at x = 20; the input is the step
        // itself (an edge to keep), then a step at x = 40 where the guide is
        // flat (to smooth).
        let guide = plane(64, 16, |x, _| if x < 20 { 0.2 } else { 0.8 });
        let edge = plane(64, 16, |x, _| if x < 20 { 1.0 } else { 0.0 });
        let flat = plane(64, 16, |x, _| if x < 40 { 1.0 } else { 0.0 });
        let filter = GuidedFilter::new(guide, 4, 0.01);
        let at = |c: &Coefficients, x: usize| {
            let i = 8 * 64 + x;
            c.a.values[i] * filter.guide.values[i] + c.b.values[i]
        };
        let kept = filter.coefficients(&edge);
        assert!(at(&kept, 19) > 0.9 && at(&kept, 20) < 0.1, "{} {}", at(&kept, 19), at(&kept, 20));
        let smoothed = filter.coefficients(&flat);
        assert!((0.3..0.7).contains(&at(&smoothed, 40)), "{}", at(&smoothed, 40));
        assert!(at(&smoothed, 36) > at(&smoothed, 40) && at(&smoothed, 40) > at(&smoothed, 44));
    }
}
