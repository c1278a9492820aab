//! The index's painting in AVX2 intrinsics: eight pixels a step, the same
//! bytes as the portable loop (`super`).

use super::*;

/// [`paint_rgb`] for whole blocks of eight pixels: each block's colours
/// read with one gather (four bytes from each entry's start, which the
/// table's padding entry keeps inside) and written as 24 bytes. Returns
/// the pixels done.
#[target_feature(enable = "avx2")]
pub(super) fn paint_rgb(table: &ColourTable, indices: &[u32], out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;

    let bytes = table.entries.as_flattened();
    let Some(last) = table.entries.len().checked_sub(2) else { return 0 };
    // The last colour's read ends in the padding entry; an index past it
    // (there is none) would read the last colour, inside the table.
    let last = _mm256_set1_epi32(last as i32);
    // Per 128-bit half, four 4-byte reads to their first three bytes, then
    // the two halves' twelve bytes together.
    let compact = _mm256_setr_epi8(
        0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, 0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1,
        -1, -1, -1,
    );
    let together = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
    let blocks = indices.len().min(out.len() / 3) / 8;
    for (out, block) in out.as_chunks_mut::<24>().0.iter_mut().zip(indices.as_chunks::<8>().0).take(blocks) {
        // SAFETY: eight `u32`s, one unaligned load.
        let index = unsafe { _mm256_loadu_si256(block.as_ptr().cast()) };
        let index = _mm256_min_epu32(index, last);
        let offset = _mm256_add_epi32(index, _mm256_slli_epi32::<1>(index));
        // SAFETY: each read is 4 bytes from the start of an entry before
        // the padding one, so inside the table.
        let colours = unsafe { _mm256_i32gather_epi32::<1>(bytes.as_ptr().cast(), offset) };
        let rgb = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(colours, compact), together);
        let mut block_bytes = [0u8; 32];
        // SAFETY: 32 bytes, one unaligned store.
        unsafe { _mm256_storeu_si256(block_bytes.as_mut_ptr().cast(), rgb) };
        out.copy_from_slice(&block_bytes[..24]);
    }
    blocks * 8
}
