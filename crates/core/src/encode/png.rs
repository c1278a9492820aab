//! PNG: the png crate's fast settings (adaptive filter, fdeflate), written
//! in parallel bands of rows (`banded_png`). Keeps alpha; the `sRGB`
//! chunk where the colours are known to be sRGB.

use super::{Codec, EncodeError, EncodeOptions, Frame, Info};

pub(super) struct Png;

const INFO: Info = Info {
    name: "PNG",
    content_type: "image/png",
    extension: "png",
    // 31 bits: beyond any image the pixel budget lets in.
    max_side: i32::MAX as u32,
    // The bands' buffers are the frame's size, which the budget counts.
    encoder_bytes_per_pixel: 0,
};

impl Codec for Png {
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
        super::banded_png::encode(pixels, width, height, channels.count(), options.srgb, out)
            .map_err(|error| EncodeError::new(INFO.name, error))
    }
}
