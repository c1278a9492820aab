//! Error diffusion's step in SSE4.1 and BMI2 intrinsics (compiled with
//! AVX2 and BMI2, as `super` asks): the portable step's integer
//! arithmetic in the same order, so the same bytes.

use super::*;

impl<const C: usize, const O: usize> BandRow<'_, C, O> {
    /// [`BandRow::diffuse`] in SSE4.1 and BMI2 instructions: the same integer
    /// steps in the same order, so the same bytes.
    #[target_feature(enable = "avx2,bmi2")]
    #[inline]
    pub(super) fn diffuse_simd(&mut self, x: usize, strength: i32, palette: Lookup) {
        use std::arch::x86_64::*;
        let as_vector = |lanes: Lanes| -> __m128i {
            // SAFETY: 16 bytes in, 16 bytes out; any bits are a valid `__m128i`.
            unsafe { std::mem::transmute::<Lanes, __m128i>(lanes) }
        };
        let as_lanes = |vector: __m128i| -> Lanes {
            // SAFETY: as above, the other way.
            unsafe { std::mem::transmute::<__m128i, Lanes>(vector) }
        };
        let src = &self.src[x];
        let src_bytes = u32::from(src[0]) | u32::from(src[1]) << 8 | u32::from(src[2]) << 16;
        let source = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(src_bytes as i32));
        let carried = _mm_add_epi32(as_vector(self.carried[x]), as_vector(self.right));
        let carried = _mm_srai_epi32::<12>(_mm_add_epi32(carried, _mm_set1_epi32(2048)));
        let wanted = _mm_add_epi32(source, carried);
        // The packs saturate to 0..=255: that is the clamp. Lane 3 stays 0:
        // the source's fourth byte is 0, and every error's lane 3 is.
        let packed = _mm_packus_epi16(_mm_packus_epi32(wanted, wanted), wanted);
        let wanted = _mm_cvtepu8_epi32(packed);
        let wanted_bytes = _mm_cvtsi128_si32(packed) as u32;
        let cell = _pext_u32(wanted_bytes, 0x00F8_F8F8) as usize;
        let index = palette.nearest[cell % CELLS];
        let chosen = palette.rgb[usize::from(index)];
        write_pixel(&mut self.out[x], index, palette, src);
        // (wanted - chosen) fits in the low 16 bits of each lane: `madd`
        // multiplies it by the strength, the high half by 0.
        let e = _mm_madd_epi16(_mm_sub_epi32(wanted, as_vector(chosen)), _mm_set1_epi32(strength));
        let e3 = _mm_add_epi32(_mm_slli_epi32::<1>(e), e);
        let e5 = _mm_add_epi32(_mm_slli_epi32::<2>(e), e);
        let e7 = _mm_sub_epi32(_mm_slli_epi32::<3>(e), e);
        self.below[x] = as_lanes(_mm_add_epi32(as_vector(self.below_previous), e3));
        self.right = as_lanes(e7);
        self.below_previous = as_lanes(_mm_add_epi32(as_vector(self.below_current), e5));
        self.below_current = as_lanes(e);
    }
}
