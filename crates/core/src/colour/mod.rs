//! sRGB <-> CIELAB (D65). The per-colour paths are our own, with small tables
//! that make them cheap, and are checked against the `palette` crate in the
//! tests below; the once-per-cluster conversions use `palette` itself.

pub(crate) mod marks;
pub(crate) mod opencv;

use std::sync::LazyLock;

/// D65 reference white, as `palette` and OpenCV use it.
const WHITE: [f32; 3] = [0.950_47, 1.0, 1.088_83];

const RGB_TO_XYZ: [[f32; 3]; 3] = [
    [0.412_456_4, 0.357_576_1, 0.180_437_5],
    [0.212_672_9, 0.715_152_2, 0.072_175_0],
    [0.019_333_9, 0.119_192, 0.950_304_1],
];

const XYZ_TO_RGB: [[f32; 3]; 3] = [
    [3.240_454_2, -1.537_138_5, -0.498_531_4],
    [-0.969_266, 1.876_010_8, 0.041_556_0],
    [0.055_643_4, -0.204_025_9, 1.057_225_2],
];

/// CIELAB's f(t) is a cube root above this, linear below.
const EPSILON: f32 = 216.0 / 24389.0;
const KAPPA: f32 = 24389.0 / 27.0;

/// sRGB transfer curve, 0..=1 in and out.
pub fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.040_45 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}

/// Inverse sRGB transfer curve, 0..=1 in and out.
pub fn linear_to_srgb(c: f32) -> f32 {
    if c <= 0.003_130_8 { c * 12.92 } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 }
}

static SRGB8_TO_LINEAR: LazyLock<[f32; 256]> =
    LazyLock::new(|| std::array::from_fn(|i| srgb_to_linear(i as f32 / 255.0)));

/// Linear light in 0..=1, quantised to this many steps, to encoded sRGB in
/// 0..=255. 4096 steps keep every output within half a level of the exact
/// curve except in the darkest few levels, where they are within one.
const ENCODE_STEPS: usize = 4096;

static LINEAR_TO_SRGB8: LazyLock<Box<[f32; ENCODE_STEPS + 1]>> = LazyLock::new(|| {
    Box::new(std::array::from_fn(|i| (linear_to_srgb(i as f32 / ENCODE_STEPS as f32) * 255.0).round()))
});

fn lab_f(t: f32) -> f32 {
    if t > EPSILON { cube_root(t) } else { (KAPPA * t + 16.0) / 116.0 }
}

/// Cube root of a positive number, to about 1e-6 relative: an estimate from
/// the float's bits, then two Newton steps. Several times faster than
/// `f32::cbrt`, which was the largest part of converting colours to CIELAB.
#[inline(always)]
fn cube_root(x: f32) -> f32 {
    // Dividing the exponent by three, roughly, gives a first guess within a few percent.
    let y = f32::from_bits(x.to_bits() / 3 + 709_921_077);
    let y = (2.0 * y + x / (y * y)) * (1.0 / 3.0);
    (2.0 * y + x / (y * y)) * (1.0 / 3.0)
}

#[inline(always)]
fn lab_f_inverse(f: f32) -> f32 {
    // Both sides computed and one selected, so that loops over it vectorise.
    let cube = f * f * f;
    let linear = (116.0 * f - 16.0) * (1.0 / KAPPA);
    if cube > EPSILON { cube } else { linear }
}

#[inline(always)]
fn mul(m: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    std::array::from_fn(|r| m[r][0] * v[0] + m[r][1] * v[1] + m[r][2] * v[2])
}

/// Linear RGB (0..=1) to CIELAB.
pub fn linear_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    let xyz = mul(&RGB_TO_XYZ, rgb);
    let [fx, fy, fz] = std::array::from_fn(|i| lab_f(xyz[i] / WHITE[i]));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// 8-bit sRGB to CIELAB.
pub fn srgb8_to_lab(rgb: [u8; 3]) -> [f32; 3] {
    let table = &*SRGB8_TO_LINEAR;
    linear_to_lab(rgb.map(|c| table[usize::from(c)]))
}

/// sRGB with fractional 0..=255 components (a k-means centre, a palette
/// colour) to CIELAB, through the `palette` crate: for the few conversions
/// made once per cluster, where clarity beats speed.
pub fn srgb_f32_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    use palette::{IntoColor, Lab, Srgb};
    let [r, g, b] = rgb.map(|c| (c / 255.0).clamp(0.0, 1.0));
    let lab: Lab = Srgb::new(r, g, b).into_linear::<f32>().into_color();
    [lab.l, lab.a, lab.b]
}

/// CIELAB to linear RGB, unclamped (out-of-gamut colours leave 0..=1).
pub fn lab_to_linear(lab: [f32; 3]) -> [f32; 3] {
    let fy = (lab[0] + 16.0) / 116.0;
    let f = [fy + lab[1] / 500.0, fy, fy - lab[2] / 200.0];
    let xyz = std::array::from_fn(|i| lab_f_inverse(f[i]) * WHITE[i]);
    mul(&XYZ_TO_RGB, xyz)
}

/// Converts CIELAB to sRGB on the 0..=255 scale through a table, clamping
/// out-of-gamut colours. Build once per recolour, use per colour.
#[derive(Clone, Copy)]
pub struct LabToSrgb {
    encode: &'static [f32; ENCODE_STEPS + 1],
}

impl LabToSrgb {
    pub fn new() -> LabToSrgb {
        LabToSrgb { encode: &LINEAR_TO_SRGB8 }
    }

    /// sRGB components in 0..=255, integral.
    #[inline(always)]
    pub fn convert(self, lab: [f32; 3]) -> [f32; 3] {
        lab_to_linear(lab).map(|c| {
            // The clamp keeps the index in range; NaN (impossible for finite
            // input) would become index 0 by `as` saturation.
            let index = (c.clamp(0.0, 1.0) * ENCODE_STEPS as f32 + 0.5) as usize;
            self.encode[index.min(ENCODE_STEPS)]
        })
    }
}

impl LabToSrgb {
    /// [`LabToSrgb::convert`] for `N` colours at once, channel by channel
    /// (`lab[c][i]` is channel `c` of colour `i`), so that the arithmetic
    /// compiles to SIMD; the same values.
    #[inline(always)]
    pub fn convert_lanes<const N: usize>(self, lab: [[f32; N]; 3]) -> [[f32; N]; 3] {
        let mut linear = [[0f32; N]; 3];
        for i in 0..N {
            let fy = (lab[0][i] + 16.0) / 116.0;
            let f = [fy + lab[1][i] / 500.0, fy, fy - lab[2][i] / 200.0];
            let xyz = [
                lab_f_inverse(f[0]) * WHITE[0],
                lab_f_inverse(f[1]) * WHITE[1],
                lab_f_inverse(f[2]) * WHITE[2],
            ];
            let rgb = mul(&XYZ_TO_RGB, xyz);
            for c in 0..3 {
                linear[c][i] = rgb[c];
            }
        }
        let mut out = [[0f32; N]; 3];
        for c in 0..3 {
            for i in 0..N {
                let index = (linear[c][i].clamp(0.0, 1.0) * ENCODE_STEPS as f32 + 0.5) as usize;
                out[c][i] = self.encode[index.min(ENCODE_STEPS)];
            }
        }
        out
    }
}

impl Default for LabToSrgb {
    fn default() -> Self {
        LabToSrgb::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palette::{IntoColor, Lab, Srgb};

    fn reference_lab(rgb: [u8; 3]) -> [f32; 3] {
        let lab: Lab = Srgb::new(rgb[0], rgb[1], rgb[2]).into_format::<f32>().into_color();
        [lab.l, lab.a, lab.b]
    }

    #[test]
    fn lab_matches_palette_crate() {
        for r in (0..=255u8).step_by(15) {
            for g in (0..=255u8).step_by(15) {
                for b in (0..=255u8).step_by(15) {
                    let ours = srgb8_to_lab([r, g, b]);
                    let theirs = reference_lab([r, g, b]);
                    for i in 0..3 {
                        assert!(
                            (ours[i] - theirs[i]).abs() < 0.02,
                            "{:?}: {ours:?} vs {theirs:?}",
                            [r, g, b]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn cube_root_is_close() {
        for i in 1..=10_000 {
            let x = i as f32 / 8_000.0;
            assert!((cube_root(x) / x.cbrt() - 1.0).abs() < 2e-6, "{x}");
        }
    }

    #[test]
    fn table_round_trip_is_within_one_level() {
        let to_srgb = LabToSrgb::new();
        for r in (0..=255u8).step_by(5) {
            for g in (0..=255u8).step_by(17) {
                for b in (0..=255u8).step_by(3) {
                    let back = to_srgb.convert(srgb8_to_lab([r, g, b]));
                    for (i, c) in [r, g, b].into_iter().enumerate() {
                        assert!((back[i] - f32::from(c)).abs() <= 1.0, "{:?} -> {back:?}", [r, g, b]);
                    }
                }
            }
        }
    }

    #[test]
    fn lanes_convert_as_one_colour_at_a_time() {
        let to_srgb = LabToSrgb::new();
        let colours: Vec<[f32; 3]> = (0..64)
            .map(|i| [i as f32 * 1.7 - 5.0, (i * 37 % 260) as f32 - 130.0, (i * 53 % 260) as f32 - 130.0])
            .collect();
        for chunk in colours.chunks_exact(8) {
            let lanes =
                to_srgb.convert_lanes::<8>(std::array::from_fn(|c| std::array::from_fn(|i| chunk[i][c])));
            for (i, &lab) in chunk.iter().enumerate() {
                assert_eq!(to_srgb.convert(lab), [lanes[0][i], lanes[1][i], lanes[2][i]], "{lab:?}");
            }
        }
    }

    #[test]
    fn out_of_gamut_is_clamped() {
        // Far outside the gamut: red and blue overflow, green stays inside.
        let [r, g, b] = LabToSrgb::new().convert([100.0, 127.0, -128.0]);
        assert_eq!((r, b), (255.0, 255.0));
        assert!((0.0..255.0).contains(&g));
        assert_eq!(LabToSrgb::new().convert([0.0, 0.0, 0.0]), [0.0; 3]);
    }
}
