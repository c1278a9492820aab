//! Colour as the original service stored it: OpenCV's 8-bit CIELAB and HSV.
//!
//! The shift look reproduces a Python/OpenCV service that kept every
//! intermediate image in `uint8`: CIELAB with L* scaled to 0..=255 and a*, b*
//! offset by 128; HSV with the hue halved to 0..=179. Each of those roundings
//! moves colours by up to half a level, and together they shift the whole
//! image by about 0.6 CIEDE2000 against the same steps in floating point,
//! which is most of the distance from a float rebuild to the original's
//! outputs. So the shift look does its steps in these types, once per
//! distinct colour.
//!
//! The conversions use OpenCV's documented constants (the `cvtColor`
//! reference: its sRGB matrix, white point and 8-bit scalings). sRGB to
//! CIELAB and to HSV follow its integer arithmetic, HSV to sRGB its `f32`
//! arithmetic, because their roundings differ from exact ones on a quarter
//! of all colours; CIELAB to sRGB is the formula in `f32`, its encoding
//! rounded to the nearest level exactly (OpenCV uses 14-bit tables there).
//! Against OpenCV 5.0 over all 2^24 inputs of each (the `dump_for_opencv`
//! test and `scripts/compare-opencv-colour.py`): sRGB to CIELAB
//! 99.99% identical, HSV both ways 100% and 99.99%, CIELAB to sRGB 91.8%,
//! never more than 1, 1, 1 and 3 levels apart (docs/looks.md).

use std::sync::LazyLock;

use crate::colour::srgb_to_linear;

/// OpenCV's sRGB to XYZ matrix (D65).
const RGB_TO_XYZ: [[f64; 3]; 3] =
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]];

/// OpenCV's XYZ to sRGB matrix.
const XYZ_TO_RGB: [[f64; 3]; 3] =
    [[3.240479, -1.53715, -0.498535], [-0.969256, 1.875991, 0.041556], [0.055648, -0.204043, 1.057311]];

/// OpenCV's D65 white, X and Z (Y is 1).
const WHITE: [f64; 3] = [0.950456, 1.0, 1.088754];

/// Below this, CIELAB's f(t) is linear.
const THRESHOLD: f64 = 0.008856;

fn lab_f(t: f64) -> f64 {
    if t > THRESHOLD { t.cbrt() } else { 7.787 * t + 16.0 / 116.0 }
}

/// Fixed-point scale of the sRGB to XYZ matrix: 12 bits.
const XYZ_SHIFT: u32 = 12;
/// Linear light is kept in 0..=255 x 2^3 (11 bits).
const GAMMA_SHIFT: u32 = 3;
/// Fixed-point scale of f(t): 15 bits.
const LAB_SHIFT: u32 = XYZ_SHIFT + GAMMA_SHIFT;

/// The tables of [`srgb_to_lab8`], built once.
struct ToLab8 {
    /// Per 8-bit level, its linear light times 255 x 2^3, rounded.
    linear: [i32; 256],
    /// The sRGB to XYZ matrix with each row divided by its white, x 2^12.
    matrix: [[i32; 3]; 3],
    /// Per X, Y or Z (linear units of 1 / (255 x 2^3), up to 1.5), f(t) x 2^15.
    f: Vec<i32>,
}

static TO_LAB8: LazyLock<ToLab8> = LazyLock::new(|| {
    let scale = 255.0 * f64::from(1 << GAMMA_SHIFT);
    let linear =
        std::array::from_fn(|i| (f64::from(srgb_to_linear(i as f32 / 255.0)) * scale).round() as i32);
    let matrix = std::array::from_fn(|row| {
        std::array::from_fn(|col| {
            (f64::from(1 << XYZ_SHIFT) * RGB_TO_XYZ[row][col] / WHITE[row]).round() as i32
        })
    });
    let f = (0..(scale * 1.5) as usize)
        .map(|i| (f64::from(1 << LAB_SHIFT) * lab_f(i as f64 / scale)).round() as i32)
        .collect();
    ToLab8 { linear, matrix, f }
});

/// `x / 2^shift`, rounded half up.
#[inline(always)]
fn descale_by(x: i32, shift: u32) -> i32 {
    (x + (1 << (shift - 1))) >> shift
}

/// 8-bit sRGB to 8-bit CIELAB: `[L* x 255/100, a* + 128, b* + 128]`, in
/// the integer arithmetic OpenCV uses for 8-bit images (linear light in 11
/// bits, the matrix in 12, f(t) in 15, each step rounded), which decides
/// the last bit of about a quarter of all colours against exact rounding.
pub fn srgb_to_lab8(rgb: [u8; 3]) -> [u8; 3] {
    let tables = &*TO_LAB8;
    let linear = rgb.map(|c| tables.linear[usize::from(c)]);
    let [fx, fy, fz] = tables.matrix.map(|row| {
        let t = descale_by(row[0] * linear[0] + row[1] * linear[1] + row[2] * linear[2], XYZ_SHIFT);
        tables.f[t as usize]
    });
    let l = descale_by(L_SCALE * fy - L_OFFSET, LAB_SHIFT);
    let a = descale_by(500 * (fx - fy) + (128 << LAB_SHIFT), LAB_SHIFT);
    let b = descale_by(200 * (fy - fz) + (128 << LAB_SHIFT), LAB_SHIFT);
    [l, a, b].map(|c| c.clamp(0, 255) as u8)
}

/// 116 x 255 / 100 and 16 x 255 / 100 (in [`LAB_SHIFT`] fixed point),
/// rounded as integers: L* in 8 bits from f(Y).
const L_SCALE: i32 = (116 * 255 + 50) / 100;
const L_OFFSET: i32 = (16 * 255 * (1 << LAB_SHIFT) + 50) / 100;

/// Linear light in 0..=1 to the 8-bit sRGB level nearest on the curve.
///
/// A table indexed by the linear value, fine enough that one step holds at
/// most one level boundary, gives the level at the step's start; one
/// comparison with the exact boundary finishes it. Exact, a few times faster
/// than `powf`, and without branches, so that eight colours go through it
/// side by side.
struct Encoder {
    /// Per table step, the level of its lower edge; three bytes more (255),
    /// so that a 4-byte gather at any step stays inside.
    levels: [u8; ENCODER_STEPS + 4],
    /// Per table step, the linear value at which the level after its
    /// `levels` entry starts (above 1 for level 255, so never reached).
    /// Indexed by the step, not by the level, so that both reads of a
    /// conversion can start at once.
    next_level_at: [f32; ENCODER_STEPS + 1],
}

/// Steps of the encoder's table. The curve is steepest at black (12.92 x
/// 255 levels per unit of linear light), so boundaries are at least 1/3295
/// apart and a step of 1/4096 holds at most one; 4 KiB stays in L1.
const ENCODER_STEPS: usize = 1 << 12;

/// For each level, the linear value at which the next level starts (above
/// 1 for level 255).
fn level_boundaries() -> [f32; 256] {
    std::array::from_fn(|level| {
        let encoded = (level as f64 + 0.5) / 255.0;
        // The inverse of the encoding curve at the midpoint between levels.
        (if encoded <= 0.04045 { encoded / 12.92 } else { ((encoded + 0.055) / 1.055).powf(2.4) }) as f32
    })
}

static ENCODER: LazyLock<Encoder> = LazyLock::new(|| {
    let boundaries = level_boundaries();
    let mut level = 0;
    let levels: [u8; ENCODER_STEPS + 4] = std::array::from_fn(|step| {
        let linear = step.min(ENCODER_STEPS) as f32 / ENCODER_STEPS as f32;
        while level < 255 && boundaries[level] <= linear {
            level += 1;
        }
        level as u8
    });
    let next_level_at = std::array::from_fn(|step| boundaries[usize::from(levels[step])]);
    Encoder { levels, next_level_at }
});

impl Encoder {
    #[inline(always)]
    fn encode(&self, linear: f32) -> u8 {
        let linear = linear.clamp(0.0, 1.0);
        // Exact: the scale is a power of two. `min` lets the compiler drop
        // the bounds check (the step already is in bounds).
        let step = (linear * ENCODER_STEPS as f32) as usize;
        let step = step.min(ENCODER_STEPS);
        self.levels[step] + u8::from(linear >= self.next_level_at[step])
    }
}

/// `N` colours, channel-major: `[[r; N], [g; N], [b; N]]` (or L, a, b; H,
/// S, V). The lane functions below are loops over the lanes, which the
/// compiler turns into SIMD; the one-colour functions (for the tests and the
/// comparison with OpenCV) are their 1-lane case, so both give the same
/// results.
pub type Lanes<T, const N: usize> = [[T; N]; 3];

/// One colour as [`Lanes`] of 1, and back.
#[cfg(test)]
fn one<T: Copy, U>(colour: [T; 3], f: impl FnOnce(Lanes<T, 1>) -> Lanes<U, 1>) -> [U; 3] {
    f(colour.map(|c| [c])).map(|[c]| c)
}

/// 8-bit CIELAB (as [`srgb_to_lab8`] makes it) to 8-bit sRGB, out-of-gamut
/// colours clamped; `f32` arithmetic, the encoding rounded exactly.
#[cfg(test)]
pub fn lab8_to_srgb(lab: [u8; 3]) -> [u8; 3] {
    one(lab.map(f32::from), lab8_to_srgb_lanes::<1>)
}

/// [`lab8_to_srgb`] for `N` colours, components given as `f32`.
#[inline(always)]
pub fn lab8_to_srgb_lanes<const N: usize>(lab: Lanes<f32, N>) -> Lanes<u8, N> {
    let f_inverse = |f: f32| {
        let cube = f * f * f;
        if cube > THRESHOLD as f32 { cube } else { (f - 16.0 / 116.0) * (1.0 / 7.787) }
    };
    let mut xyz = [[0f32; N]; 3];
    for i in 0..N {
        let l = lab[0][i] * (100.0 / 255.0);
        let fy = (l + 16.0) * (1.0 / 116.0);
        xyz[0][i] = f_inverse(fy + (lab[1][i] - 128.0) * (1.0 / 500.0)) * WHITE[0] as f32;
        xyz[1][i] = if l > 8.0 { fy * fy * fy } else { l * (1.0 / 903.3) };
        xyz[2][i] = f_inverse(fy - (lab[2][i] - 128.0) * (1.0 / 200.0)) * WHITE[2] as f32;
    }
    let encoder = &*ENCODER;
    let mut rgb = [[0u8; N]; 3];
    for (row, out) in XYZ_TO_RGB_F32.iter().zip(&mut rgb) {
        for i in 0..N {
            out[i] = encoder.encode(row[0] * xyz[0][i] + row[1] * xyz[1][i] + row[2] * xyz[2][i]);
        }
    }
    rgb
}

const XYZ_TO_RGB_F32: [[f32; 3]; 3] = [
    [XYZ_TO_RGB[0][0] as f32, XYZ_TO_RGB[0][1] as f32, XYZ_TO_RGB[0][2] as f32],
    [XYZ_TO_RGB[1][0] as f32, XYZ_TO_RGB[1][1] as f32, XYZ_TO_RGB[1][2] as f32],
    [XYZ_TO_RGB[2][0] as f32, XYZ_TO_RGB[2][1] as f32, XYZ_TO_RGB[2][2] as f32],
];

/// Fixed-point scale of the 8-bit HSV divisions: 12 bits.
const HSV_SHIFT: u32 = 12;

/// 255 in [`HSV_SHIFT`] fixed point: divided by the value, the saturation's divisor.
const SATURATION_NUMERATOR: f32 = (255 << HSV_SHIFT) as f32;
/// 30 (180 hue steps over 6 sectors) in [`HSV_SHIFT`] fixed point:
/// divided by the chroma, the hue's divisor.
const HUE_NUMERATOR: f32 = (30 << HSV_SHIFT) as f32;

/// Per value (0..=255), 255 / value in [`HSV_SHIFT`] fixed point, rounded.
static SATURATION_DIVISORS: LazyLock<[i32; 256]> = LazyLock::new(|| divisors(SATURATION_NUMERATOR));

/// Per chroma (0..=255), 30 / chroma (180 hue steps over 6 sectors) in
/// [`HSV_SHIFT`] fixed point, rounded.
static HUE_DIVISORS: LazyLock<[i32; 256]> = LazyLock::new(|| divisors(HUE_NUMERATOR));

/// `numerator / d` rounded, for each `d` in 0..=255 (0 for 0).
fn divisors(numerator: f32) -> [i32; 256] {
    std::array::from_fn(|d| if d == 0 { 0 } else { (f64::from(numerator) / d as f64).round() as i32 })
}

/// `(x * divisor) / 2^12`, rounded half up (an arithmetic shift floors).
#[inline(always)]
fn descale(x: i32, divisor: i32) -> i32 {
    (x * divisor + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT
}

/// 8-bit sRGB to 8-bit HSV: hue in degrees halved (0..=179), saturation
/// scaled to 0..=255, value the largest channel. OpenCV divides in 12-bit
/// fixed point through two 256-entry tables; so does this, because the
/// rounding it gives differs from exact division on a few percent of colours.
#[cfg(test)]
pub fn srgb_to_hsv8(rgb: [u8; 3]) -> [u8; 3] {
    one(rgb.map(i32::from), srgb_to_hsv8_lanes::<1>).map(|c| c as u8)
}

/// [`srgb_to_hsv8`] for `N` colours, components given and returned as `i32`.
#[inline(always)]
pub fn srgb_to_hsv8_lanes<const N: usize>(rgb: Lanes<i32, N>) -> Lanes<i32, N> {
    let (saturation_divisors, hue_divisors) = (&*SATURATION_DIVISORS, &*HUE_DIVISORS);
    let [r, g, b] = rgb;
    let mut hsv = [[0i32; N]; 3];
    for i in 0..N {
        let max = r[i].max(g[i]).max(b[i]);
        let chroma = max - r[i].min(g[i]).min(b[i]);
        // Hue in sixths of the circle times the chroma, before dividing by it.
        let sixths = if max == r[i] {
            g[i] - b[i]
        } else if max == g[i] {
            b[i] - r[i] + 2 * chroma
        } else {
            r[i] - g[i] + 4 * chroma
        };
        // `& 255` keeps the index in bounds without a check (it already is).
        let hue = descale(sixths, hue_divisors[(chroma & 255) as usize]);
        hsv[0][i] = if hue < 0 { hue + 180 } else { hue };
        hsv[1][i] = descale(chroma, saturation_divisors[(max & 255) as usize]);
        hsv[2][i] = max;
    }
    hsv
}

/// 8-bit HSV (as [`srgb_to_hsv8`] makes it) to 8-bit sRGB, the way OpenCV
/// converts whole images: `f32` arithmetic and the result truncated, not
/// rounded (its one-pixel path rounds; images go through the vector path,
/// and the original's outputs show it).
#[cfg(test)]
pub fn hsv8_to_srgb(hsv: [u8; 3]) -> [u8; 3] {
    one(hsv.map(f32::from), hsv8_to_srgb_lanes::<1>)
}

/// [`hsv8_to_srgb`] for `N` colours, components given as `f32`.
#[inline(always)]
pub fn hsv8_to_srgb_lanes<const N: usize>(hsv: Lanes<f32, N>) -> Lanes<u8, N> {
    let mut rgb = [[0u8; N]; 3];
    for i in 0..N {
        let h = hsv[0][i] * (6.0 / 180.0);
        let s = hsv[1][i] * (1.0 / 255.0);
        let v = hsv[2][i] * (1.0 / 255.0);
        // In 0..6: truncation is the floor, and `as` is the SSE2 instruction.
        let sector = h as i32;
        let fraction = h - sector as f32;
        let p = v * (1.0 - s);
        let q = v * (1.0 - s * fraction);
        let t = v * (1.0 - s * (1.0 - fraction));
        // By sector: [v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v],
        // then [v, p, q] (5 and, for hues past 179, beyond). As selects, not
        // a branch per colour, so that lanes run side by side.
        let (first, last) = (sector == 0, sector >= 5);
        let pick = |is_v: bool, is_t: bool, is_q: bool| {
            if is_v {
                v
            } else if is_t {
                t
            } else if is_q {
                q
            } else {
                p
            }
        };
        let red = pick(first || last, sector == 4, sector == 1);
        let green = pick(sector == 1 || sector == 2, first, sector == 3);
        let blue = pick(sector == 3 || sector == 4, sector == 2, last);
        // `as` truncates toward zero and saturates at both ends.
        rgb[0][i] = (red * 255.0) as u8;
        rgb[1][i] = (green * 255.0) as u8;
        rgb[2][i] = (blue * 255.0) as u8;
    }
    rgb
}

/// The lane functions above for 8 colours in AVX2 registers (`opencv/avx2.rs`).
#[cfg(target_arch = "x86_64")]
pub mod avx2;

#[cfg(test)]
mod tests {
    use super::*;

    type Pairs = [([u8; 3], [u8; 3]); 12];

    // What OpenCV 5.0's `cvtColor` gives for 12 random colours in a row of
    // 64 (its vector path, as for whole images): `(input, output)`.
    const TO_LAB8: Pairs = [
        ([139, 74, 229], [120, 186, 60]),
        ([241, 169, 65], [190, 145, 190]),
        ([6, 160, 149], [151, 91, 124]),
        ([106, 38, 175], [84, 183, 68]),
        ([188, 205, 175], [205, 117, 141]),
        ([229, 98, 249], [162, 199, 75]),
        ([10, 148, 95], [138, 82, 147]),
        ([86, 147, 198], [150, 123, 96]),
        ([66, 39, 106], [57, 156, 93]),
        ([213, 171, 45], [183, 132, 194]),
        ([167, 57, 69], [103, 174, 146]),
        ([81, 55, 14], [65, 135, 157]),
    ];
    const TO_HSV8: Pairs = [
        ([139, 74, 229], [133, 173, 229]),
        ([241, 169, 65], [18, 186, 241]),
        ([6, 160, 149], [88, 245, 160]),
        ([106, 38, 175], [135, 200, 175]),
        ([188, 205, 175], [47, 37, 205]),
        ([229, 98, 249], [146, 155, 249]),
        ([10, 148, 95], [78, 238, 148]),
        ([86, 147, 198], [104, 144, 198]),
        ([66, 39, 106], [132, 161, 106]),
        ([213, 171, 45], [22, 201, 213]),
        ([167, 57, 69], [177, 168, 167]),
        ([81, 55, 14], [18, 211, 81]),
    ];
    const FROM_HSV8: Pairs = [
        ([139, 74, 229], [204, 162, 229]),
        ([61, 169, 65], [21, 65, 23]),
        ([6, 160, 149], [149, 74, 55]),
        ([106, 38, 175], [148, 161, 175]),
        ([8, 205, 175], [175, 71, 34]),
        ([49, 98, 249], [188, 249, 153]),
        ([10, 148, 95], [95, 58, 39]),
        ([86, 147, 198], [83, 198, 182]),
        ([66, 39, 106], [89, 106, 93]),
        ([33, 171, 45], [41, 45, 14]),
        ([167, 57, 69], [69, 53, 60]),
        ([81, 55, 14], [10, 14, 13]),
    ];
    const FROM_LAB8: Pairs = [
        ([139, 74, 229], [57, 150, 0]),
        ([241, 169, 65], [252, 217, 255]),
        ([6, 160, 149], [53, 0, 0]),
        ([106, 38, 175], [0, 124, 0]),
        ([188, 205, 175], [255, 105, 100]),
        ([229, 98, 249], [221, 238, 0]),
        ([10, 148, 95], [6, 4, 59]),
        ([86, 147, 198], [122, 66, 0]),
        ([66, 39, 106], [0, 84, 94]),
        ([213, 171, 45], [188, 188, 255]),
        ([167, 57, 69], [0, 193, 255]),
        ([81, 55, 14], [0, 110, 255]),
    ];

    fn check(pairs: &Pairs, convert: fn([u8; 3]) -> [u8; 3], tolerance: u8) {
        for (input, expected) in pairs {
            let got = convert(*input);
            let off = (0..3).map(|c| got[c].abs_diff(expected[c])).max().unwrap_or(0);
            assert!(off <= tolerance, "{input:?}: {got:?}, OpenCV {expected:?}");
        }
    }

    #[test]
    fn matches_opencv() {
        check(&TO_LAB8, srgb_to_lab8, 0);
        check(&TO_HSV8, srgb_to_hsv8, 0);
        check(&FROM_HSV8, hsv8_to_srgb, 0);
        // Exact rounding where OpenCV uses 14-bit tables: within 3 levels.
        check(&FROM_LAB8, lab8_to_srgb, 3);
    }

    /// Every 24-bit colour: the AVX2 HSV step, which divides where the
    /// portable one reads tables, gives the same bytes.
    #[test]
    fn hsv8_avx2_matches_portable_on_every_colour() {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            use std::arch::x86_64::*;
            for rg in 0..1u32 << 16 {
                let lanes = |c: u32| std::array::from_fn::<i32, 8, _>(|i| ((c + i as u32) & 255) as i32);
                for b in (0..256).step_by(8) {
                    let rgb = [lanes(rg >> 8), lanes(rg & 255), lanes(b)];
                    let portable = srgb_to_hsv8_lanes(rgb);
                    // SAFETY: the CPU has AVX2 (`simd`). eight
                    // `i32`s in and out of each register.
                    let avx2: [[i32; 8]; 3] = unsafe {
                        let hsv = avx2::srgb_to_hsv8(rgb.map(|c| _mm256_loadu_si256(c.as_ptr().cast())));
                        hsv.map(|c| std::mem::transmute::<__m256i, [i32; 8]>(c))
                    };
                    assert_eq!(avx2, portable, "{rgb:?}");
                }
            }
        }
    }

    #[test]
    fn encoder_rounds_like_the_curve() {
        for level in 0..=255u8 {
            let linear = srgb_to_linear(f32::from(level) / 255.0);
            assert_eq!(ENCODER.encode(linear), level);
        }
        assert_eq!(ENCODER.encode(-1.0), 0);
        assert_eq!(ENCODER.encode(2.0), 255);
        // The level is the number of boundaries at or below the value, for
        // values between and on the table's steps; which holds because no
        // step holds two boundaries.
        let boundaries = level_boundaries();
        assert!(boundaries.windows(2).all(|pair| pair[1] - pair[0] > 1.0 / ENCODER_STEPS as f32));
        assert!(boundaries[255] > 1.0);
        for i in 0..=1 << 20 {
            let linear = i as f32 / (1 << 20) as f32;
            let level = boundaries.iter().take_while(|&&b| b <= linear).count();
            assert_eq!(usize::from(ENCODER.encode(linear)), level, "{linear}");
        }
    }

    /// Writes each conversion over all of its 2^24 inputs, for comparing
    /// with OpenCV: `VARIEGATE_DUMP_COLOUR8=DIR cargo test -p variegate-core
    /// --lib dump_for_opencv`, then `scripts/compare-opencv-colour.py DIR`.
    #[test]
    fn dump_for_opencv() {
        let Some(dir) = std::env::var_os("VARIEGATE_DUMP_COLOUR8") else { return };
        let dir = std::path::PathBuf::from(dir);
        let all = || {
            (0..1u32 << 24).map(|i| {
                let [_, a, b, c] = i.to_be_bytes();
                [a, b, c]
            })
        };
        let write = |name: &str, f: &dyn Fn([u8; 3]) -> [u8; 3]| {
            let bytes: Vec<u8> = all().flat_map(f).collect();
            std::fs::write(dir.join(name), bytes).unwrap();
        };
        write("rgb2lab", &srgb_to_lab8);
        write("lab2rgb", &lab8_to_srgb);
        write("rgb2hsv", &srgb_to_hsv8);
        write("hsv2rgb", &|hsv| if hsv[0] < 180 { hsv8_to_srgb(hsv) } else { [0; 3] });
    }
}
