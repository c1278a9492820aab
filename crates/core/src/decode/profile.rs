//! Embedded ICC profiles (PNG `iCCP`, JPEG APP2, WebP `ICCP`): the pixels
//! are converted to sRGB on decode, with moxcms, so that everything after
//! decoding (analysis, looks, encoders) works in sRGB, as it does for
//! untagged images, which are taken to be sRGB and left byte for byte as
//! they are.
//!
//! A profile that changes no colour (an embedded sRGB profile) is not
//! applied. One that cannot be used (it does not parse, or describes CMYK
//! or grey data while the pixels are RGB) is ignored with a warning, the
//! pixels taken as sRGB, as browsers do: a bad tag should not sink a run.

use std::sync::{Arc, OnceLock};

use moxcms::{ColorProfile, DataColorSpace, Layout, Transform8BitExecutor, TransformOptions};
use rayon::prelude::*;

use crate::large_buffer::LargeBuffer;
use crate::pixels::Channels;

/// Rows converted per task: fixed, so that the work splits the same way at
/// any thread count (moxcms's vector loops end each call with a short tail).
const ROWS_PER_TASK: usize = 32;

/// What became of an image's profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    /// None embedded: sRGB assumed.
    Untagged,
    /// Embedded and honoured: the pixels are now sRGB (converted, or
    /// already so).
    Srgb,
    /// Embedded but unusable: ignored with a warning.
    Ignored,
}

/// Converts `pixels` (`width` pixels a row) from the colours `icc`
/// describes to sRGB, in the current rayon pool.
pub(crate) fn into_srgb(
    icc: Option<&[u8]>,
    channels: Channels,
    width: u32,
    pixels: &mut LargeBuffer<u8>,
    origin: &str,
) -> Profile {
    let Some(icc) = icc else {
        return Profile::Untagged;
    };
    let transform = match transform_to_srgb(icc, channels) {
        Ok(transform) => transform,
        Err(reason) => {
            tracing::warn!("{origin}: colour profile ignored, colours taken as sRGB: {reason}");
            return Profile::Ignored;
        }
    };
    if changes_nothing(&*transform, channels) {
        return Profile::Srgb;
    }
    let row = width as usize * channels.count();
    let mut converted = LargeBuffer::zeroed(pixels.len());
    let failed = converted
        .par_chunks_mut(row * ROWS_PER_TASK)
        .zip(pixels.par_chunks(row * ROWS_PER_TASK))
        .map(|(out, rows)| transform.transform(rows, out))
        .find_any(Result::is_err);
    if let Some(Err(error)) = failed {
        tracing::warn!("{origin}: colour profile ignored, colours taken as sRGB: {error}");
        return Profile::Ignored;
    }
    *pixels = converted;
    tracing::debug!("converted to sRGB");
    Profile::Srgb
}

fn transform_to_srgb(icc: &[u8], channels: Channels) -> Result<Arc<Transform8BitExecutor>, String> {
    let profile = ColorProfile::new_from_slice(icc).map_err(|error| format!("it does not parse: {error}"))?;
    if profile.color_space != DataColorSpace::Rgb {
        return Err(format!("it is for {:?} data, and the pixels are RGB", profile.color_space));
    }
    let layout = match channels {
        Channels::Rgb => Layout::Rgb,
        Channels::Rgba => Layout::Rgba,
    };
    profile
        .create_transform_8bit(layout, &ColorProfile::new_srgb(), layout, TransformOptions::default())
        .map_err(|error| format!("it cannot be applied: {error}"))
}

/// Whether `transform` maps every colour of a 17-level grid (and alpha) to
/// itself: an sRGB profile, which is then not applied at all.
fn changes_nothing(transform: &Transform8BitExecutor, channels: Channels) -> bool {
    let levels = (0..=16).map(|i| (i * 16).min(255) as u8);
    let mut grid = Vec::new();
    for r in levels.clone() {
        for g in levels.clone() {
            for b in levels.clone() {
                grid.extend_from_slice(&[r, g, b, 255][..channels.count()]);
            }
        }
    }
    let mut out = vec![0; grid.len()];
    transform.transform(&grid, &mut out).is_ok() && out == grid
}

/// An sRGB ICC profile, for encoders that take a profile but no sRGB flag.
pub(crate) fn srgb_icc() -> &'static [u8] {
    static SRGB: OnceLock<Vec<u8>> = OnceLock::new();
    SRGB.get_or_init(|| {
        let mut icc = ColorProfile::new_srgb().encode().unwrap_or_default();
        // moxcms stamps the header with the time of encoding; a variation's
        // bytes must not depend on the second it was made in.
        if let Some(created) = icc.get_mut(ICC_CREATED) {
            created.copy_from_slice(&PROFILE_CREATED);
        }
        icc
    })
}

/// Where an ICC header keeps its creation time (six big-endian u16s).
const ICC_CREATED: std::ops::Range<usize> = 24..36;
/// 2026-01-01 00:00:00, the fixed creation time of the sRGB profile written.
const PROFILE_CREATED: [u8; 12] = [0x07, 0xEA, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_srgb_profile_written_does_not_carry_the_time_it_was_made() {
        let icc = srgb_icc();
        assert_eq!(&icc[ICC_CREATED], &PROFILE_CREATED);
        assert_eq!(&icc[36..40], b"acsp", "an ICC header");
        assert!(ColorProfile::new_from_slice(icc).is_ok());
    }
}
