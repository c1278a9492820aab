//! Which vector instructions the kernels use, chosen in one place.
//!
//! The per-pixel and per-colour kernels come in a portable version and, on
//! x86-64, an AVX2 one: the portable code compiled a second time with
//! `#[target_feature]`, a few lines beside it, or, where the compiler does
//! not find the vector form itself, intrinsics in an `avx2.rs` beside the
//! portable code (`colour/opencv/`, `analyse/indexed/`, `look/shift/`,
//! `look/dither/`). Each call site asks here which to run. Both give the same bytes (each
//! kernel's tests compare them, and the CLI's tests whole runs), so the
//! choice is speed alone. `VARIEGATE_SIMD=portable` in the environment
//! makes every kernel portable: for comparing them, and a way out should a
//! CPU misreport what it has.

use std::sync::LazyLock;

/// What this CPU offers the kernels, as detected once.
#[derive(Clone, Copy, Debug, Default)]
struct Cpu {
    avx2: bool,
    bmi2: bool,
    popcnt: bool,
}

static CPU: LazyLock<Cpu> = LazyLock::new(|| {
    if std::env::var_os("VARIEGATE_SIMD").is_some_and(|value| value == "portable") {
        return Cpu::default();
    }
    #[cfg(target_arch = "x86_64")]
    return Cpu {
        avx2: std::arch::is_x86_feature_detected!("avx2"),
        bmi2: std::arch::is_x86_feature_detected!("bmi2"),
        popcnt: std::arch::is_x86_feature_detected!("popcnt"),
    };
    #[cfg(not(target_arch = "x86_64"))]
    Cpu::default()
});

/// Whether to run the AVX2 kernels.
pub(crate) fn avx2() -> bool {
    CPU.avx2
}

/// Whether to run the kernels that need AVX2 and BMI2 (dithering's).
pub(crate) fn avx2_bmi2() -> bool {
    CPU.avx2 && CPU.bmi2
}

/// Whether to run the index built with POPCNT.
pub(crate) fn popcnt() -> bool {
    CPU.popcnt
}
