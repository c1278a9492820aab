//! WebP: lossless through the image crate, lossy through libwebp (its
//! fastest method, one thread, so the same pixels give the same bytes).
//! Both keep alpha; WebP's sizes are 14 bits.

use image::ImageEncoder;
use image::codecs::webp::WebPEncoder;

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

/// No ICC profile: browsers and decoders take an untagged WebP as sRGB.
pub(super) struct WebPLossy {
    pub(super) quality: u8,
}

impl Codec for WebPLossy {
    fn info(&self) -> Info {
        LOSSY
    }
    fn encode(&self, frame: Frame<'_>, _: &EncodeOptions, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let Frame { pixels, width, height, channels } = frame;
        let failed = |reason: String| EncodeError::new(LOSSY.name, reason);
        let layout = match channels {
            Channels::Rgb => webp::PixelLayout::Rgb,
            Channels::Rgba => webp::PixelLayout::Rgba,
        };
        let mut config =
            webp::WebPConfig::new().map_err(|()| failed("libwebp: cannot set up its encoder".into()))?;
        config.lossless = 0;
        config.quality = f32::from(self.quality.clamp(1, 100));
        config.alpha_compression = 1;
        config.thread_level = 0;
        // libwebp's fastest method: its default (4) makes files 18% smaller at
        // 3.6 times the encode time (docs/performance.md).
        config.method = 0;
        let encoded = webp::Encoder::new(pixels, layout, width, height)
            .encode_advanced(&config)
            .map_err(|error| failed(format!("libwebp: {error:?}")))?;
        out.extend_from_slice(&encoded);
        Ok(())
    }
}
