//! PNG's adaptive filter, chosen row by row as the png crate chooses it:
//! each filter costed, the cheapest written. AVX2 where the CPU has it (the
//! same code compiled for it: the same bytes).

/// PNG filter types, by their number in the format.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Filter {
    Sub = 1,
    Up = 2,
    Average = 3,
    Paeth = 4,
}

/// The `png` crate's adaptive choice: each filter in turn, keeping the one
/// whose output has the smallest sum of absolute values (as signed bytes),
/// the later on ties, stopping early at zero. The candidates are only
/// summed; the chosen filter alone writes `out`.
pub(super) fn adaptive_filter(bpp: usize, previous: &[u8], current: &[u8], out: &mut [u8]) -> Filter {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: the CPU has AVX2 (`simd`).
        return unsafe { adaptive_filter_avx2(bpp, previous, current, out) };
    }
    adaptive_filter_portable(bpp, previous, current, out)
}

/// [`adaptive_filter_portable`] compiled for AVX2: 32 bytes a step instead
/// of SSE2's 16, in integer arithmetic, so the same bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn adaptive_filter_avx2(bpp: usize, previous: &[u8], current: &[u8], out: &mut [u8]) -> Filter {
    adaptive_filter_portable(bpp, previous, current, out)
}

#[inline(always)]
pub(super) fn adaptive_filter_portable(
    bpp: usize,
    previous: &[u8],
    current: &[u8],
    out: &mut [u8],
) -> Filter {
    let mut best = (u64::MAX, Filter::Up);
    for filter in [Filter::Up, Filter::Sub, Filter::Average, Filter::Paeth] {
        let mut cost = Cost::default();
        apply(filter, bpp, previous, current, &mut cost);
        let cost = cost.total();
        if cost <= best.0 {
            best = (cost, filter);
            if cost == 0 {
                break;
            }
        }
    }
    apply(best.1, bpp, previous, current, &mut Row(out));
    best.1
}

/// Bytes per step of the loops below: 32 lets them compile to wide SIMD.
pub(super) const CHUNK: usize = 32;

/// Where filtered bytes go, `at` their offset in the row.
pub(super) trait Filtered {
    fn chunk(&mut self, at: usize, bytes: [u8; CHUNK]);
    fn byte(&mut self, at: usize, byte: u8);
}

/// Into a row.
pub(super) struct Row<'a>(&'a mut [u8]);

impl Filtered for Row<'_> {
    #[inline(always)]
    fn chunk(&mut self, at: usize, bytes: [u8; CHUNK]) {
        self.0[at..at + CHUNK].copy_from_slice(&bytes);
    }
    #[inline(always)]
    fn byte(&mut self, at: usize, byte: u8) {
        self.0[at] = byte;
    }
}

/// Into the sum of the bytes' absolute values as signed bytes: kept per
/// lane of a chunk, so that the sums stay in SIMD registers, and added up
/// at the end (or every [`Cost::FLUSH`] chunks, before a lane could overflow).
#[derive(Default)]
pub(super) struct Cost {
    lanes: [u32; CHUNK],
    chunks: u32,
    total: u64,
}

impl Cost {
    /// A lane grows by at most 128 a chunk.
    const FLUSH: u32 = 1 << 24;

    #[inline(always)]
    fn flush(&mut self) {
        self.total += self.lanes.iter().map(|&lane| u64::from(lane)).sum::<u64>();
        (self.lanes, self.chunks) = ([0; CHUNK], 0);
    }

    #[inline(always)]
    fn total(mut self) -> u64 {
        self.flush();
        self.total
    }
}

impl Filtered for Cost {
    #[inline(always)]
    fn chunk(&mut self, _: usize, bytes: [u8; CHUNK]) {
        for (lane, byte) in self.lanes.iter_mut().zip(bytes) {
            *lane += u32::from((byte as i8).unsigned_abs());
        }
        self.chunks += 1;
        if self.chunks == Cost::FLUSH {
            self.flush();
        }
    }
    #[inline(always)]
    fn byte(&mut self, _: usize, byte: u8) {
        self.total += u64::from((byte as i8).unsigned_abs());
    }
}

/// Filters `current` into `out`; `previous` is the row above (zeros for the
/// first). Gives `current[i] - predict(left, above, upper_left)` for every
/// byte, with left and upper-left zero in the first pixel.
#[inline(always)]
pub(super) fn apply(filter: Filter, bpp: usize, previous: &[u8], current: &[u8], out: &mut impl Filtered) {
    match filter {
        Filter::Up => predict(bpp, previous, current, out, |_, b, _| b),
        Filter::Sub => predict(bpp, previous, current, out, |a, _, _| a),
        // (a + b) / 2 without widening.
        Filter::Average => predict(bpp, previous, current, out, |a, b, _| (a & b) + ((a ^ b) >> 1)),
        Filter::Paeth => predict(bpp, previous, current, out, paeth),
    }
}

#[inline(always)]
pub(super) fn predict(
    bpp: usize,
    previous: &[u8],
    current: &[u8],
    out: &mut impl Filtered,
    predictor: impl Fn(u8, u8, u8) -> u8,
) {
    for (at, (&x, &b)) in current.iter().zip(previous).take(bpp).enumerate() {
        out.byte(at, x.wrapping_sub(predictor(0, b, 0)));
    }
    let (x, b) = (&current[bpp..], &previous[bpp..]);
    let (a, c) = (&current[..current.len() - bpp], &previous[..previous.len() - bpp]);
    let done = x.len() / CHUNK * CHUNK;
    let chunks = x.as_chunks::<CHUNK>().0.iter().zip(a.as_chunks::<CHUNK>().0);
    let chunks = chunks.zip(b.as_chunks::<CHUNK>().0.iter().zip(c.as_chunks::<CHUNK>().0));
    for (step, ((x, a), (b, c))) in chunks.enumerate() {
        let mut filtered = [0u8; CHUNK];
        for i in 0..CHUNK {
            filtered[i] = x[i].wrapping_sub(predictor(a[i], b[i], c[i]));
        }
        out.chunk(bpp + step * CHUNK, filtered);
    }
    for at in done..x.len() {
        out.byte(bpp + at, x[at].wrapping_sub(predictor(a[at], b[at], c[at])));
    }
}

/// The Paeth predictor: of left (a), above (b) and upper-left (c), the one
/// nearest to a + b - c, in that order on ties. In unsigned bytes only, as
/// FPNGE does it (and the `png` crate after it), so that it vectorises:
/// |p - a| = |b - c|, |p - b| = |a - c|, and |p - c| matters only when c
/// lies between a and b, where it is ||b - c| - |a - c||.
#[inline(always)]
pub(super) fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let pa = b.max(c) - b.min(c);
    let pb = a.max(c) - a.min(c);
    let pc = if (a < c) == (c < b) { pa.max(pb) - pa.min(pb) } else { 255 };
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}
