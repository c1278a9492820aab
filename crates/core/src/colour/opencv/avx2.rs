//! `opencv`'s lane functions for 8 colours in AVX2 registers: the same
//! operations in the same order, so the same results (no fused
//! multiply-adds, which round once where the portable code rounds twice).
//! Tables are read with gathers instead of one load a lane.

use std::arch::x86_64::*;

use super::XYZ_TO_RGB_F32;
use super::{ENCODER, ENCODER_STEPS, HSV_SHIFT, HUE_NUMERATOR, SATURATION_NUMERATOR, THRESHOLD, WHITE};
use super::{L_OFFSET, L_SCALE, LAB_SHIFT, TO_LAB8, XYZ_SHIFT};

/// [`super::lab8_to_srgb_lanes`]: components in 0..=255 as `f32`, out
/// as `i32` levels.
#[inline]
#[target_feature(enable = "avx2")]
pub fn lab8_to_srgb(lab: [__m256; 3]) -> [__m256i; 3] {
    let splat = _mm256_set1_ps;
    let f_inverse = |f: __m256| {
        let cube = _mm256_mul_ps(_mm256_mul_ps(f, f), f);
        let linear = _mm256_mul_ps(_mm256_sub_ps(f, splat(16.0 / 116.0)), splat(1.0 / 7.787));
        let above = _mm256_cmp_ps::<_CMP_GT_OQ>(cube, splat(THRESHOLD as f32));
        _mm256_blendv_ps(linear, cube, above)
    };
    let l = _mm256_mul_ps(lab[0], splat(100.0 / 255.0));
    let fy = _mm256_mul_ps(_mm256_add_ps(l, splat(16.0)), splat(1.0 / 116.0));
    let fx = _mm256_add_ps(fy, _mm256_mul_ps(_mm256_sub_ps(lab[1], splat(128.0)), splat(1.0 / 500.0)));
    let fz = _mm256_sub_ps(fy, _mm256_mul_ps(_mm256_sub_ps(lab[2], splat(128.0)), splat(1.0 / 200.0)));
    let x = _mm256_mul_ps(f_inverse(fx), splat(WHITE[0] as f32));
    let y_cube = _mm256_mul_ps(_mm256_mul_ps(fy, fy), fy);
    let y_linear = _mm256_mul_ps(l, splat(1.0 / 903.3));
    let y = _mm256_blendv_ps(y_linear, y_cube, _mm256_cmp_ps::<_CMP_GT_OQ>(l, splat(8.0)));
    let z = _mm256_mul_ps(f_inverse(fz), splat(WHITE[2] as f32));
    XYZ_TO_RGB_F32.map(|row| {
        let linear = _mm256_add_ps(
            _mm256_add_ps(_mm256_mul_ps(splat(row[0]), x), _mm256_mul_ps(splat(row[1]), y)),
            _mm256_mul_ps(splat(row[2]), z),
        );
        encode(linear)
    })
}

/// The encoder's table and one comparison, as `Encoder::encode`.
#[inline]
#[target_feature(enable = "avx2")]
fn encode(linear: __m256) -> __m256i {
    let encoder = &*ENCODER;
    let linear = _mm256_min_ps(_mm256_max_ps(linear, _mm256_setzero_ps()), _mm256_set1_ps(1.0));
    let step = _mm256_cvttps_epi32(_mm256_mul_ps(linear, _mm256_set1_ps(ENCODER_STEPS as f32)));
    // SAFETY: steps are in 0..=ENCODER_STEPS, inside `next_level_at`,
    // and `levels` has three bytes past the last, so each 4-byte read
    // is inside it.
    let (level, boundary) = unsafe {
        (
            _mm256_and_si256(
                _mm256_i32gather_epi32::<1>(encoder.levels.as_ptr().cast(), step),
                _mm256_set1_epi32(0xff),
            ),
            _mm256_i32gather_ps::<4>(encoder.next_level_at.as_ptr(), step),
        )
    };
    // All ones (-1) where the next level is reached.
    let next = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GE_OQ>(linear, boundary));
    _mm256_sub_epi32(level, next)
}

/// The eight bytes of `plane` from `at` as eight `i32` lanes: one
/// channel of a block of colours kept channel by channel.
#[inline]
#[target_feature(enable = "avx2")]
pub fn byte_lanes(plane: &[u8], at: usize) -> __m256i {
    let bytes: [u8; 8] = plane[at..at + 8].try_into().unwrap_or_default();
    _mm256_cvtepu8_epi32(_mm_set_epi64x(0, i64::from_le_bytes(bytes)))
}

/// [`super::srgb_to_lab8`] for 8 colours, channels in and out as `i32`
/// in 0..=255: the same integer steps, the tables read with gathers.
#[inline]
#[target_feature(enable = "avx2")]
pub fn srgb_to_lab8(rgb: [__m256i; 3]) -> [__m256i; 3] {
    let tables = &*TO_LAB8;
    let byte = _mm256_set1_epi32(0xff);
    // SAFETY: levels masked to 0..=255, inside the 256-entry table.
    let linear = rgb
        .map(|c| unsafe { _mm256_i32gather_epi32::<4>(tables.linear.as_ptr(), _mm256_and_si256(c, byte)) });
    let descale = |x: __m256i, shift: i32| {
        let half = _mm256_set1_epi32(1 << (shift - 1));
        _mm256_srav_epi32(_mm256_add_epi32(x, half), _mm256_set1_epi32(shift))
    };
    let last = _mm256_set1_epi32(tables.f.len() as i32 - 1);
    let [fx, fy, fz] = tables.matrix.map(|row| {
        let products =
            std::array::from_fn::<_, 3, _>(|c| _mm256_mullo_epi32(_mm256_set1_epi32(row[c]), linear[c]));
        let t = descale(
            _mm256_add_epi32(_mm256_add_epi32(products[0], products[1]), products[2]),
            XYZ_SHIFT as i32,
        );
        // In range already (linear light of at most 1.04 white); the
        // clamp only proves it to the gather.
        let t = _mm256_min_epi32(_mm256_max_epi32(t, _mm256_setzero_si256()), last);
        // SAFETY: `t` is clamped to the table's indices.
        unsafe { _mm256_i32gather_epi32::<4>(tables.f.as_ptr(), t) }
    });
    let shift = LAB_SHIFT as i32;
    let l = descale(
        _mm256_sub_epi32(_mm256_mullo_epi32(_mm256_set1_epi32(L_SCALE), fy), _mm256_set1_epi32(L_OFFSET)),
        shift,
    );
    let centre = _mm256_set1_epi32(128 << LAB_SHIFT);
    let a = descale(
        _mm256_add_epi32(_mm256_mullo_epi32(_mm256_set1_epi32(500), _mm256_sub_epi32(fx, fy)), centre),
        shift,
    );
    let b = descale(
        _mm256_add_epi32(_mm256_mullo_epi32(_mm256_set1_epi32(200), _mm256_sub_epi32(fy, fz)), centre),
        shift,
    );
    [l, a, b].map(|c| _mm256_min_epi32(_mm256_max_epi32(c, _mm256_setzero_si256()), byte))
}

/// [`super::srgb_to_hsv8_lanes`], in and out as `i32`.
#[inline]
#[target_feature(enable = "avx2")]
pub fn srgb_to_hsv8([r, g, b]: [__m256i; 3]) -> [__m256i; 3] {
    let max = _mm256_max_epi32(_mm256_max_epi32(r, g), b);
    let chroma = _mm256_sub_epi32(max, _mm256_min_epi32(_mm256_min_epi32(r, g), b));
    let from_red = _mm256_sub_epi32(g, b);
    let from_green = _mm256_add_epi32(_mm256_sub_epi32(b, r), _mm256_slli_epi32::<1>(chroma));
    let from_blue = _mm256_add_epi32(_mm256_sub_epi32(r, g), _mm256_slli_epi32::<2>(chroma));
    let sixths = _mm256_blendv_epi8(
        _mm256_blendv_epi8(from_blue, from_green, _mm256_cmpeq_epi32(max, g)),
        from_red,
        _mm256_cmpeq_epi32(max, r),
    );
    // The tables' entries as divisions, which start at once where a
    // gather waits on memory: the same integers for every divisor (a
    // test compares them). Zero divides as one; what it scales is zero.
    let divisor = |numerator: f32, by: __m256i| {
        let by = _mm256_cvtepi32_ps(_mm256_max_epi32(by, _mm256_set1_epi32(1)));
        _mm256_cvtps_epi32(_mm256_div_ps(_mm256_set1_ps(numerator), by))
    };
    let hue_divisor = divisor(HUE_NUMERATOR, chroma);
    let saturation_divisor = divisor(SATURATION_NUMERATOR, max);
    let half = _mm256_set1_epi32(1 << (HSV_SHIFT - 1));
    let descale = |x, divisor| {
        _mm256_srai_epi32::<{ HSV_SHIFT as i32 }>(_mm256_add_epi32(_mm256_mullo_epi32(x, divisor), half))
    };
    let hue = descale(sixths, hue_divisor);
    let negative = _mm256_cmpgt_epi32(_mm256_setzero_si256(), hue);
    let hue = _mm256_add_epi32(hue, _mm256_and_si256(negative, _mm256_set1_epi32(180)));
    [hue, descale(chroma, saturation_divisor), max]
}

/// [`super::hsv8_to_srgb_lanes`]: components as `f32`, out as `i32`
/// levels.
#[inline]
#[target_feature(enable = "avx2")]
pub fn hsv8_to_srgb(hsv: [__m256; 3]) -> [__m256i; 3] {
    let splat = _mm256_set1_ps;
    let h = _mm256_mul_ps(hsv[0], splat(6.0 / 180.0));
    let s = _mm256_mul_ps(hsv[1], splat(1.0 / 255.0));
    let v = _mm256_mul_ps(hsv[2], splat(1.0 / 255.0));
    let sector = _mm256_cvttps_epi32(h);
    let fraction = _mm256_sub_ps(h, _mm256_cvtepi32_ps(sector));
    let one = splat(1.0);
    let p = _mm256_mul_ps(v, _mm256_sub_ps(one, s));
    let q = _mm256_mul_ps(v, _mm256_sub_ps(one, _mm256_mul_ps(s, fraction)));
    let t = _mm256_mul_ps(v, _mm256_sub_ps(one, _mm256_mul_ps(s, _mm256_sub_ps(one, fraction))));
    let is = |n: i32| _mm256_castsi256_ps(_mm256_cmpeq_epi32(sector, _mm256_set1_epi32(n)));
    let (first, last) = (is(0), _mm256_castsi256_ps(_mm256_cmpgt_epi32(sector, _mm256_set1_epi32(4))));
    let pick = |is_v: __m256, is_t: __m256, is_q: __m256| {
        _mm256_blendv_ps(_mm256_blendv_ps(_mm256_blendv_ps(p, q, is_q), t, is_t), v, is_v)
    };
    let red = pick(_mm256_or_ps(first, last), is(4), is(1));
    let green = pick(_mm256_or_ps(is(1), is(2)), first, is(3));
    let blue = pick(_mm256_or_ps(is(3), is(4)), is(2), last);
    [red, green, blue].map(|c| {
        let level = _mm256_cvttps_epi32(_mm256_mul_ps(c, splat(255.0)));
        _mm256_min_epi32(_mm256_max_epi32(level, _mm256_setzero_si256()), _mm256_set1_epi32(255))
    })
}
