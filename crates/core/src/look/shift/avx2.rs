//! The shift look's per-colour kernels in AVX2 intrinsics: the portable
//! ones' operations in the same order (`super`), so the same bytes.

use super::*;

#[target_feature(enable = "avx2")]
pub(super) fn lab_band(src: &[Vec<u8>; 3], first: usize, out: [&mut [u8]; 3]) {
    use std::arch::x86_64::*;

    use crate::colour::opencv::avx2 as opencv;

    // Byte 0 of each 32-bit lane to the front of its 128-bit half, then the
    // two halves' first words together: eight lanes to eight bytes.
    let bytes = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1,
    );
    let halves = _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1);
    let [l, a, b] = out;
    for start in (0..l.len()).step_by(LANES) {
        let lanes = |plane: &Vec<u8>| opencv::byte_lanes(plane, first + start);
        let lab = opencv::srgb_to_lab8(src.each_ref().map(lanes));
        for (plane, channel) in [&mut *l, &mut *a, &mut *b].into_iter().zip(lab) {
            let packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(channel, bytes), halves);
            let eight = (_mm256_extract_epi64::<0>(packed) as u64).to_le_bytes();
            plane[start..start + LANES].copy_from_slice(&eight);
        }
    }
}

/// [`shift_colours`] with the arithmetic in AVX2 registers
/// ([`crate::colour::opencv::avx2`]): the same operations in the same order, so
/// the same bytes (a test compares them). Each channel of a block is one
/// 8-byte load, each cluster shift one gather, and the block's colours
/// leave as 24 bytes.
#[target_feature(enable = "avx2")]
pub(super) fn shift_colours(
    planes: &ColourPlanes,
    labels: &[u8],
    shifts: &ShiftTable,
    params: KernelParams,
    first: usize,
    out: &mut [[u8; 3]],
) {
    use std::arch::x86_64::*;

    use crate::colour::opencv::avx2 as opencv;

    let splat = _mm256_set1_ps;
    let (blend, keep) = (splat(params.blend), splat(1.0 - params.blend));
    // Per 128-bit half, four packed 0x00BBGGRR colours to 12 bytes of RGB.
    let compact = _mm256_setr_epi8(
        0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, 0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1,
        -1, -1, -1,
    );
    let few_clusters = shifts.clusters <= LANES;
    // SAFETY: eight of each channel's 256 entries.
    let first_eight = shifts.by_label.each_ref().map(|channel| unsafe { _mm256_loadu_ps(channel.as_ptr()) });
    for start in (0..out.len()).step_by(LANES) {
        // The planes and labels are padded to whole blocks, so every
        // block's eight are there.
        let lanes = |plane: &[u8]| opencv::byte_lanes(plane, first + start);
        let src_v = planes.src.each_ref().map(|plane| _mm256_cvtepi32_ps(lanes(plane)));
        let lab_v = planes.lab.each_ref().map(|plane| _mm256_cvtepi32_ps(lanes(plane)));
        let label = lanes(labels);
        let shift_v = if few_clusters {
            // A permutation within a register, where a gather would wait
            // on memory: labels are below 8.
            first_eight.map(|channel| _mm256_permutevar8x32_ps(channel, label))
        } else {
            // SAFETY: labels are bytes, inside the 256 entries of each channel.
            shifts
                .by_label
                .each_ref()
                .map(|channel| unsafe { _mm256_i32gather_ps::<4>(channel.as_ptr(), label) })
        };

        let truncate = |x: __m256| _mm256_cvtepi32_ps(_mm256_cvttps_epi32(x));
        let moved = std::array::from_fn(|c| {
            let moved = _mm256_add_ps(lab_v[c], shift_v[c]);
            truncate(_mm256_min_ps(_mm256_max_ps(moved, _mm256_setzero_ps()), splat(255.0)))
        });
        let recoloured = opencv::lab8_to_srgb(moved);
        // Rounded to nearest, ties to even: the default rounding mode.
        let mixed = std::array::from_fn(|c| {
            let recoloured = _mm256_mul_ps(blend, _mm256_cvtepi32_ps(recoloured[c]));
            _mm256_cvtps_epi32(_mm256_add_ps(recoloured, _mm256_mul_ps(keep, src_v[c])))
        });
        let [h, s, v] = opencv::srgb_to_hsv8(mixed);
        let s = _mm256_min_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(s), splat(params.saturation)), splat(255.0));
        let [r, g, b] = opencv::hsv8_to_srgb([_mm256_cvtepi32_ps(h), truncate(s), _mm256_cvtepi32_ps(v)]);

        // Levels are 0..=255: one byte each, packed and compacted to RGB.
        let packed =
            _mm256_or_si256(_mm256_or_si256(r, _mm256_slli_epi32::<8>(g)), _mm256_slli_epi32::<16>(b));
        let mut bytes = [0u8; 32];
        // SAFETY: 32 bytes, one unaligned 256-bit store.
        unsafe { _mm256_storeu_si256(bytes.as_mut_ptr().cast(), _mm256_shuffle_epi8(packed, compact)) };
        let count = LANES.min(out.len() - start);
        let rgb = out[start..start + count].as_flattened_mut();
        let (low, high) = (count.min(4) * 3, count.saturating_sub(4) * 3);
        rgb[..low].copy_from_slice(&bytes[..low]);
        rgb[low..].copy_from_slice(&bytes[16..16 + high]);
    }
}
