//! Baseline JPEG through the image crate. No alpha: an RGBA image is
//! composited over the background colour first.

use image::ImageEncoder;
use image::codecs::jpeg::JpegEncoder;

use super::{Codec, EncodeError, EncodeOptions, Frame, Info};
use crate::decode::profile::srgb_icc;
use crate::pixels::{Channels, Rgb8};

pub(super) struct Jpeg {
    pub(super) quality: u8,
}

const INFO: Info = Info {
    name: "JPEG",
    content_type: "image/jpeg",
    extension: "jpg",
    // JPEG's 16-bit sizes.
    max_side: 65_535,
    encoder_bytes_per_pixel: 0,
};

impl Codec for Jpeg {
    fn info(&self) -> Info {
        INFO
    }
    fn encode(
        &self,
        frame: Frame<'_>,
        options: &EncodeOptions,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let Frame { pixels, width, height, channels } = frame;
        let failed = |error| EncodeError::new(INFO.name, error);
        let mut encoder = JpegEncoder::new_with_quality(out, self.quality.clamp(1, 100));
        if options.srgb {
            encoder
                .set_icc_profile(srgb_icc().to_vec())
                .map_err(|e| failed(image::ImageError::Unsupported(e)))?;
        }
        let rgb = image::ExtendedColorType::Rgb8;
        match channels {
            Channels::Rgb => encoder.write_image(pixels, width, height, rgb),
            Channels::Rgba => {
                encoder.write_image(&over_background(pixels, options.background), width, height, rgb)
            }
        }
        .map_err(failed)
    }
}

/// RGBA pixels composited over an opaque colour, rounded: RGB.
fn over_background(rgba: &[u8], background: Rgb8) -> Vec<u8> {
    let blend = |colour: u8, alpha: u8, under: u8| {
        let (colour, alpha, under) = (u32::from(colour), u32::from(alpha), u32::from(under));
        ((colour * alpha + under * (255 - alpha) + 127) / 255) as u8
    };
    let Rgb8([r, g, b]) = background;
    rgba.chunks_exact(4)
        .flat_map(|px| [blend(px[0], px[3], r), blend(px[1], px[3], g), blend(px[2], px[3], b)])
        .collect()
}
