//! libwebp's lossy encoder, called directly: the pixels are imported
//! straight into the YUV planes the encoder works on (`use_argb = 0`).
//! Through an ARGB picture, as the `webp` crate imports them, each encode
//! first packed every pixel into 32 bits (4 bytes a pixel more, and 8% of
//! the encode) and converted that to YUV afterwards: the same YUV, the same
//! bytes.

use std::ffi::c_void;

use libwebp_sys as sys;

use crate::pixels::Channels;

/// `pixels` (`width` x `height`, RGB or RGBA) as a WebP file, as `config` says.
pub(super) fn encode(
    config: &sys::WebPConfig,
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: Channels,
) -> Result<Vec<u8>, String> {
    let stride = width as usize * channels.count();
    let (Ok(w), Ok(h), Ok(stride_i32)) = (i32::try_from(width), i32::try_from(height), i32::try_from(stride))
    else {
        return Err(format!("{width}x{height} is too large for libwebp"));
    };
    if pixels.len() < stride * height as usize {
        return Err("fewer pixels than the size says".into());
    }
    // SAFETY: the picture and the writer live on this stack frame and are
    // freed on every path below; `pixels` holds `stride * height` bytes
    // (checked above) and is only read; the writer's memory is copied out
    // before it is cleared.
    unsafe {
        let mut picture: sys::WebPPicture = std::mem::zeroed();
        if !sys::WebPPictureInit(&mut picture) {
            return Err("libwebp: cannot set up a picture".into());
        }
        picture.use_argb = 0;
        picture.width = w;
        picture.height = h;
        let mut writer: sys::WebPMemoryWriter = std::mem::zeroed();
        sys::WebPMemoryWriterInit(&mut writer);
        picture.writer = Some(sys::WebPMemoryWrite);
        picture.custom_ptr = (&raw mut writer).cast::<c_void>();
        let imported = match channels {
            Channels::Rgb => sys::WebPPictureImportRGB(&mut picture, pixels.as_ptr(), stride_i32),
            Channels::Rgba => sys::WebPPictureImportRGBA(&mut picture, pixels.as_ptr(), stride_i32),
        };
        let encoded = imported != 0 && sys::WebPEncode(config, &mut picture) != 0;
        let error = picture.error_code;
        sys::WebPPictureFree(&mut picture);
        let result = match encoded && !writer.mem.is_null() {
            true => Ok(std::slice::from_raw_parts(writer.mem, writer.size).to_vec()),
            false if imported == 0 => Err("libwebp: cannot import the pixels (out of memory?)".into()),
            false => Err(format!("libwebp: {error:?}")),
        };
        sys::WebPMemoryWriterClear(&mut writer);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_it_is_given_and_refuses_too_few_pixels() {
        let config = sys::WebPConfig::new().unwrap();
        let pixels: Vec<u8> = (0..64 * 48 * 4).map(|i| (i * 7 % 251) as u8).collect();
        let file = encode(&config, &pixels, 64, 48, Channels::Rgba).unwrap();
        let decoded = image::load_from_memory(&file).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (64, 48));
        let error = encode(&config, &pixels[..100], 64, 48, Channels::Rgb).unwrap_err();
        assert_eq!(error, "fewer pixels than the size says");
    }
}
