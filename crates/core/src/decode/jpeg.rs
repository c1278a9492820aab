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
//! libjpeg only warns about a truncated file or damaged data, and fills
//! what it could not read with grey. Here a warning stops the decode
//! ([`Decoded::Damaged`]); the caller refuses the file, or, when lenient,
//! decodes it again with warnings silenced. Colour spaces libjpeg cannot
//! convert to RGB (CMYK, YCCK) and fatal errors give [`Decoded::Refused`]:
//! the image crate's decoder takes over and says what is wrong.

use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use mozjpeg_sys::{jpeg_common_struct, jpeg_error_mgr, jpeg_std_error};

/// What libjpeg made of a file.
pub(crate) enum Decoded {
    /// Every pixel, RGB.
    Pixels(Vec<u8>),
    /// Read only with a warning, e.g. "Premature end of JPEG file".
    Damaged(String),
    /// Not decoded (a fatal error, a colour space it does not convert).
    Refused,
}

/// Why a decode stopped: what the error manager's handlers unwind with.
enum Stop {
    Warning(String),
    Fatal,
}

/// Decodes a JPEG to 8-bit RGB. With `lenient`, warnings are ignored and a
/// damaged file comes out as far as libjpeg could read it. The caller has
/// already checked the header's size against the pixel budget.
pub(crate) fn decode_rgb(bytes: &[u8], width: u32, height: u32, lenient: bool) -> Decoded {
    let decoded = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let errors = error_manager(lenient);
        let mut started = mozjpeg::Decompress::builder().with_err(errors).from_mem(bytes)?.rgb()?;
        let pixels = started.read_scanlines::<u8>()?;
        started.finish()?;
        Ok(pixels)
    }));
    match decoded {
        Ok(Ok(pixels)) if pixels.len() == width as usize * height as usize * 3 => Decoded::Pixels(pixels),
        Ok(_) => Decoded::Refused,
        Err(stop) => match stop.downcast::<Stop>() {
            Ok(stop) => match *stop {
                Stop::Warning(message) => Decoded::Damaged(message),
                Stop::Fatal => Decoded::Refused,
            },
            // Not ours: a panic in mozjpeg's own code.
            Err(_) => Decoded::Refused,
        },
    }
}

/// libjpeg's standard error manager, but errors (and, unless `lenient`,
/// warnings) unwind to [`decode_rgb`] instead of exiting or printing.
fn error_manager(lenient: bool) -> jpeg_error_mgr {
    // SAFETY: jpeg_std_error sets every field of the manager it is given;
    // zeroed is a valid start for this plain C struct.
    let mut errors: jpeg_error_mgr = unsafe { std::mem::zeroed() };
    unsafe { jpeg_std_error(&mut errors) };
    errors.error_exit = Some(stop_on_error);
    errors.emit_message = Some(if lenient { ignore_warning } else { stop_on_warning });
    errors
}

unsafe extern "C-unwind" fn stop_on_error(_cinfo: &mut jpeg_common_struct) {
    resume_unwind(Box::new(Stop::Fatal));
}

/// `level` < 0 is a warning; others are trace messages.
unsafe extern "C-unwind" fn stop_on_warning(cinfo: &mut jpeg_common_struct, level: i32) {
    if level < 0 {
        resume_unwind(Box::new(Stop::Warning(message(cinfo))));
    }
}

unsafe extern "C-unwind" fn ignore_warning(_cinfo: &mut jpeg_common_struct, _level: i32) {}

/// The text of the message libjpeg is emitting, its printf parameters left
/// out: "Premature end of JPEG file", "Corrupt JPEG data".
fn message(cinfo: &jpeg_common_struct) -> String {
    // SAFETY: libjpeg calls emit_message with `err` set to our manager,
    // whose table (from jpeg_std_error) holds `last_jpeg_message + 1`
    // NUL-terminated strings.
    let text = unsafe {
        let errors = &*cinfo.err;
        let code = errors.msg_code;
        if errors.jpeg_message_table.is_null() || code < 0 || code > errors.last_jpeg_message {
            None
        } else {
            let entry = *errors.jpeg_message_table.add(code as usize);
            (!entry.is_null()).then(|| CStr::from_ptr(entry).to_string_lossy().into_owned())
        }
    };
    match text {
        Some(text) => text.split([':', '%']).next().unwrap_or_default().trim().to_string(),
        None => "damaged data".into(),
    }
}
