//! JPEG decoding with libjpeg-turbo's decoder (through `mozjpeg`, built from
//! C without assembly), the decoder OpenCV and Pillow use.
//!
//! JPEG leaves the decoder free in its rounding: the image crate's decoder
//! differs from libjpeg-turbo by up to 4 levels on a tenth of the pixels of
//! a 4:2:0 photo (its chroma upsampling and IDCT round differently). The
//! shift look reproduces a service that decoded with OpenCV, and those
//! differences alone moved retina.jpg a mean CIEDE2000 of 0.15 from the
//! original's outputs, more than the original's own spread there. Decoded
//! here, JPEGs come out bit for bit as `cv2.imread` and Pillow give them.
//!
//! Colour spaces libjpeg cannot convert to RGB (CMYK, YCCK) return `None`
//! and go through the image crate as before.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Decodes a JPEG to 8-bit RGB, or `None` if libjpeg refuses it (corrupt
/// data, a colour space it cannot convert). The caller has already checked
/// the header's size against the pixel budget.
pub(crate) fn decode_rgb(bytes: &[u8], width: u32, height: u32) -> Option<Vec<u8>> {
    // libjpeg reports fatal errors by unwinding (`resume_unwind`, which does
    // not run the panic hook), so they are caught here and become `None`.
    let decoded = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let mut started = mozjpeg::Decompress::new_mem(bytes)?.rgb()?;
        let pixels = started.read_scanlines::<u8>()?;
        started.finish()?;
        Ok(pixels)
    }));
    let pixels = decoded.ok()?.ok()?;
    (pixels.len() == width as usize * height as usize * 3).then_some(pixels)
}
