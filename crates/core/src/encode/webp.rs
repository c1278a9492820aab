//! WebP: lossless through the image crate, lossy through libwebp (its
//! fastest method, one thread, so the same pixels give the same bytes).
//! Both keep alpha; WebP's sizes are 14 bits.

use image::ImageEncoder;
use image::codecs::webp::WebPEncoder;

mod libwebp;

use super::{Codec, EncodeError, EncodeOptions, Frame, Info};
use crate::decode::profile::srgb_icc;
use crate::pixels::Channels;

const LOSSLESS: Info = Info {
    name: "WebP",
    content_type: "image/webp",
    extension: "webp",
    // WebP's 14-bit sizes.
    max_side: 16_383,
    encoder_bytes_per_pixel: 0,
};

const LOSSY: Info = Info {
    name: "lossy WebP",
    // YUV 4:2:0 planes, the analysis' and the alpha plane's copies.
    encoder_bytes_per_pixel: 8,
    ..LOSSLESS
};

pub(super) struct WebP;

impl Codec for WebP {
    fn info(&self) -> Info {
        LOSSLESS
    }
    fn encode(
        &self,
        frame: Frame<'_>,
        options: &EncodeOptions,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let Frame { pixels, width, height, channels } = frame;
        let failed = |error| EncodeError::new(LOSSLESS.name, error);
        let mut encoder = WebPEncoder::new_lossless(out);
        if options.srgb {
            encoder
                .set_icc_profile(srgb_icc().to_vec())
                .map_err(|e| failed(image::ImageError::Unsupported(e)))?;
        }
        let color = match channels {
            Channels::Rgb => image::ExtendedColorType::Rgb8,
            Channels::Rgba => image::ExtendedColorType::Rgba8,
        };
        encoder.write_image(pixels, width, height, color).map_err(failed)
    }
}

/// Lossy WebP through libwebp; tagged sRGB as lossless WebP is (an `ICCP`
/// chunk, which libwebp's encoder does not write: [`with_icc`]).
pub(super) struct WebPLossy {
    pub(super) quality: u8,
}

impl Codec for WebPLossy {
    fn info(&self) -> Info {
        LOSSY
    }
    fn encode(
        &self,
        frame: Frame<'_>,
        options: &EncodeOptions,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let Frame { pixels, width, height, channels } = frame;
        let failed = |reason: String| EncodeError::new(LOSSY.name, reason);
        let mut config = libwebp_sys::WebPConfig::new()
            .map_err(|()| failed("libwebp: cannot set up its encoder".into()))?;
        config.lossless = 0;
        config.quality = f32::from(self.quality.clamp(1, 100));
        config.alpha_compression = 1;
        config.thread_level = 0;
        // libwebp's fastest method: its default (4) makes files 18% smaller at
        // 3.6 times the encode time (docs/performance.md).
        config.method = 0;
        let encoded = libwebp::encode(&config, pixels, width, height, channels).map_err(failed)?;
        if options.srgb {
            let tagged = with_icc(&encoded, srgb_icc(), width, height)
                .ok_or_else(|| failed("libwebp's file is not a WebP RIFF".into()))?;
            out.extend_from_slice(&tagged);
        } else {
            out.extend_from_slice(&encoded);
        }
        Ok(())
    }
}

/// libwebp's file (`VP8 `, or `VP8X` then `ALPH` and `VP8 `) with `icc` in an
/// `ICCP` chunk right after the `VP8X` header, where the container wants it
/// (a `VP8X` made for a simple file, the canvas its size); `None` if `file`
/// is no WebP RIFF.
fn with_icc(file: &[u8], icc: &[u8], width: u32, height: u32) -> Option<Vec<u8>> {
    const ICC_FLAG: u8 = 0x20;
    if file.get(..4)? != b"RIFF" || file.get(8..12)? != b"WEBP" {
        return None;
    }
    let chunks = file.get(12..)?;
    let (mut header, rest) = match chunks.get(..4)? {
        b"VP8X" => (chunks.get(8..18)?.to_vec(), chunks.get(18..)?),
        _ => {
            // Flags, 3 reserved bytes, then the canvas less one, 24 bits each.
            let mut header = vec![0; 10];
            header[4..7].copy_from_slice(&width.checked_sub(1)?.to_le_bytes()[..3]);
            header[7..10].copy_from_slice(&height.checked_sub(1)?.to_le_bytes()[..3]);
            (header, chunks)
        }
    };
    header[0] |= ICC_FLAG;
    let mut out = Vec::with_capacity(file.len() + icc.len() + 32);
    out.extend_from_slice(b"RIFF\0\0\0\0WEBP");
    chunk(&mut out, b"VP8X", &header)?;
    chunk(&mut out, b"ICCP", icc)?;
    out.extend_from_slice(rest);
    let size = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&size.to_le_bytes());
    Some(out)
}

/// A RIFF chunk: its name, size and data, padded to an even length.
fn chunk(out: &mut Vec<u8>, name: &[u8; 4], data: &[u8]) -> Option<()> {
    out.extend_from_slice(name);
    out.extend_from_slice(&u32::try_from(data.len()).ok()?.to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    Some(())
}
