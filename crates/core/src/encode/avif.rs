//! AVIF through rav1e (pure Rust; its assembly is the `nasm` feature): 8-bit,
//! full-range YCbCr tagged sRGB (primaries and transfer), alpha kept at its
//! own quality, on one thread so that the same pixels give the same bytes.

use super::{Codec, EncodeError, EncodeOptions, Frame, Info};
use crate::pixels::Channels;

pub(super) struct Avif {
    pub(super) quality: u8,
    pub(super) speed: u8,
}

const INFO: Info = Info {
    name: "AVIF",
    content_type: "image/avif",
    extension: "avif",
    // AV1's width less one in 16 bits.
    max_side: 65_536,
    // rav1e's 4:4:4 source, reconstruction and reference frames at 16 bits
    // a sample, and the YCbCr planes handed to it.
    encoder_bytes_per_pixel: 48,
};

/// Alpha's quality, whatever the colour's: at the colour's 70 a cut-out's
/// opaque pixels dropped to 241 and its transparent ones rose to 16 (a grey
/// halo, a see-through body); at 100 they stay within 253-255 and 0-2, for
/// an alpha plane that is small anyway (mostly flat).
const ALPHA_QUALITY: f32 = 100.0;

impl Codec for Avif {
    fn info(&self) -> Info {
        INFO
    }
    fn encode(&self, frame: Frame<'_>, _: &EncodeOptions, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let Frame { pixels, width, height, channels } = frame;
        let quality = f32::from(self.quality.clamp(1, 100));
        let encoder = ravif::Encoder::new()
            .with_quality(quality)
            .with_alpha_quality(ALPHA_QUALITY)
            .with_speed(self.speed.clamp(1, 10))
            .with_bit_depth(ravif::BitDepth::Eight)
            // rav1e's threads change its bytes; the palettes run in parallel already.
            .with_num_threads(Some(1));
        let (width, height) = (width as usize, height as usize);
        let encoded = match channels {
            Channels::Rgb => {
                let rgb: Vec<ravif::RGB8> =
                    pixels.chunks_exact(3).map(|p| ravif::RGB8::new(p[0], p[1], p[2])).collect();
                encoder.encode_rgb(ravif::Img::new(&rgb[..], width, height))
            }
            Channels::Rgba => {
                let rgba: Vec<ravif::RGBA8> =
                    pixels.chunks_exact(4).map(|p| ravif::RGBA8::new(p[0], p[1], p[2], p[3])).collect();
                encoder.encode_rgba(ravif::Img::new(&rgba[..], width, height))
            }
        }
        .map_err(|error| EncodeError::new(INFO.name, format!("rav1e: {error}")))?;
        out.extend_from_slice(&encoded.avif_file);
        Ok(())
    }
}
