//! The soft look's kernel: the shift look's steps in floating point, on a
//! row's blended pixels or on distinct colours, [`LANES`] at a time.

use super::*;

/// A row's blended pixels and what recolouring them takes.
pub(super) struct Blended<'a> {
    pub(super) row: &'a RowBlends,
    pub(super) clusters: usize,
    /// Per cluster, its CIELAB shift.
    pub(super) shifts: &'a [[f32; 3]; 256],
}

/// The [`LANES`] values of `plane` from `start`, the last repeated past
/// its end (`start` < its length).
#[inline(always)]
fn plane_lanes<T: Copy + Default>(plane: &[T], start: usize) -> [T; LANES] {
    let mut lanes = [T::default(); LANES];
    match plane.get(start..start + LANES) {
        Some(full) => lanes.copy_from_slice(full),
        None => {
            let last = plane.len() - 1;
            for (i, lane) in lanes.iter_mut().enumerate() {
                *lane = plane[(start + i).min(last)];
            }
        }
    }
    lanes
}

/// Colours the kernel works on at once: each step is a loop over this many
/// lanes, which the compiler turns into SIMD.
const LANES: usize = 8;

/// The shift look's steps in floating point: move the colour in CIELAB,
/// back to sRGB, blend with the original, scale the HSV saturation. Unlike
/// the shift look, which follows the original's 8-bit arithmetic and its
/// steps of up to 8 levels between neighbouring colours (a 2° hue step of
/// 8-bit HSV), this maps nearby colours to nearby colours.
#[derive(Clone, Copy)]
pub(super) struct Kernel {
    pub(super) blend: f32,
    pub(super) saturation: f32,
    pub(super) to_srgb: LabToSrgb,
}

impl Kernel {
    /// [`Kernel::recolour`] in AVX2 instructions where the CPU has them:
    /// the same operations on twice the lanes (no fused multiply-adds, which
    /// would round differently), so the same bytes.
    pub(super) fn recolour_fastest(
        self,
        count: usize,
        input: impl Fn(usize) -> ([u8; 3], [f32; 3], [f32; 3]),
        out: &mut [[u8; 3]],
    ) {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: the CPU has AVX2 (`simd`).
            return unsafe { self.recolour_avx2(count, input, out) };
        }
        self.recolour(count, input, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    pub(super) fn recolour_avx2(
        self,
        count: usize,
        input: impl Fn(usize) -> ([u8; 3], [f32; 3], [f32; 3]),
        out: &mut [[u8; 3]],
    ) {
        self.recolour(count, input, out);
    }

    /// Recolours a row's blended pixels into `out`, in order: each moved by
    /// its clusters' shifts mixed by its weights. AVX2 where the CPU has it,
    /// as [`Kernel::recolour_fastest`].
    pub(super) fn recolour_blended_fastest(self, blended: &Blended, out: &mut [[u8; 3]]) {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: the CPU has AVX2 (`simd`).
            return unsafe { self.recolour_blended_avx2(blended, out) };
        }
        self.recolour_blended(blended, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    pub(super) fn recolour_blended_avx2(self, blended: &Blended, out: &mut [[u8; 3]]) {
        self.recolour_blended(blended, out);
    }

    #[inline(always)]
    pub(super) fn recolour_blended(self, blended: &Blended, out: &mut [[u8; 3]]) {
        let Blended { row, clusters, shifts } = *blended;
        let n = row.columns.len().min(out.len());
        // Each shift in 255ths of a unit, so that weights in 255ths add up
        // to the mixed shift.
        let shifts: Vec<[f32; 3]> = shifts[..clusters].iter().map(|s| s.map(|v| v / 255.0)).collect();
        for start in (0..n).step_by(LANES) {
            let count = LANES.min(n - start);
            let lanes = |plane: &[f32]| plane_lanes(&plane[..n], start);
            let bytes = |plane: &[u8]| plane_lanes(&plane[..n], start).map(f32::from);
            let mut moved = [lanes(&row.lab[..n]), lanes(&row.lab[n..2 * n]), lanes(&row.lab[2 * n..3 * n])];
            for (k, shift) in shifts.iter().enumerate() {
                let weights = bytes(&row.weights[k * n..(k + 1) * n]);
                for c in 0..3 {
                    for i in 0..LANES {
                        moved[c][i] += weights[i] * shift[c];
                    }
                }
            }
            let source = [bytes(&row.src[..n]), bytes(&row.src[n..2 * n]), bytes(&row.src[2 * n..3 * n])];
            let recoloured = self.recolour_lanes(source, moved);
            for (i, entry) in out[start..start + count].iter_mut().enumerate() {
                *entry = [recoloured[0][i], recoloured[1][i], recoloured[2][i]];
            }
        }
    }

    /// Recolours `count` colours into `out`: colour `i` is `input(i)`, its
    /// sRGB, its CIELAB and the shift it moves by. [`LANES`] at a time, the
    /// last few padded to a full block.
    #[inline(always)]
    pub(super) fn recolour(
        self,
        count: usize,
        input: impl Fn(usize) -> ([u8; 3], [f32; 3], [f32; 3]),
        out: &mut [[u8; 3]],
    ) {
        for start in (0..count).step_by(LANES) {
            let n = LANES.min(count - start);
            // Filled by plain loops: `array::from_fn` is not inlined into
            // the AVX2 copy.
            let (mut src, mut moved) = ([[0f32; LANES]; 3], [[0f32; LANES]; 3]);
            for i in 0..LANES {
                let (colour, lab, shift) = input(start + i.min(n - 1));
                for c in 0..3 {
                    src[c][i] = f32::from(colour[c]);
                    moved[c][i] = lab[c] + shift[c];
                }
            }
            let lanes = self.recolour_lanes(src, moved);
            for (i, entry) in out[start..start + n].iter_mut().enumerate() {
                *entry = [lanes[0][i], lanes[1][i], lanes[2][i]];
            }
        }
    }

    /// The steps for [`LANES`] colours: `src` their sRGB, `moved` their
    /// CIELAB already shifted, both channel by channel.
    #[inline(always)]
    pub(super) fn recolour_lanes(self, src: [[f32; LANES]; 3], moved: [[f32; LANES]; 3]) -> [[u8; LANES]; 3] {
        let recoloured = self.to_srgb.convert_lanes(moved);
        let mut mixed = [[0f32; LANES]; 3];
        for c in 0..3 {
            for i in 0..LANES {
                mixed[c][i] = self.blend * recoloured[c][i] + (1.0 - self.blend) * src[c][i];
            }
        }
        // HSV saturation is (max - min) / max with the hue and the maximum
        // kept: scaling it scales each channel's distance below the maximum.
        let mut out = [[0u8; LANES]; 3];
        for i in 0..LANES {
            let value = mixed[0][i].max(mixed[1][i]).max(mixed[2][i]);
            let least = mixed[0][i].min(mixed[1][i]).min(mixed[2][i]);
            let saturation = (value - least) / value.max(f32::MIN_POSITIVE);
            let factor =
                if saturation > 0.0 { (saturation * self.saturation).min(1.0) / saturation } else { 1.0 };
            for c in 0..3 {
                // Rounded half up by truncation (`round` is a library call
                // on the x86-64 baseline, and stops the loop vectorising).
                out[c][i] = ((value - (value - mixed[c][i]) * factor).clamp(0.0, 255.0) + 0.5) as u8;
            }
        }
        out
    }
}
