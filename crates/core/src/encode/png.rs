//! PNG: the png crate's fast settings (adaptive filter, fdeflate), written
//! in parallel bands of rows (`banded_png`). Keeps alpha; the `sRGB`
//! chunk where the colours are known to be sRGB.

use super::{Codec, EncodeError, EncodeOptions, Frame};

pub(super) struct Png;

impl Codec for Png {
    fn name(&self) -> &'static str {
        "PNG"
    }
    fn content_type(&self) -> &'static str {
        "image/png"
    }
    fn extension(&self) -> &'static str {
        "png"
    }
    /// PNG's 31 bits go beyond any image the pixel budget lets in.
    fn max_side(&self) -> u32 {
        i32::MAX as u32
    }
    /// The bands' buffers are the frame's size, which the budget counts.
    fn encoder_bytes_per_pixel(&self) -> u64 {
        0
    }
    fn encode(
        &self,
        frame: Frame<'_>,
        options: &EncodeOptions,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let Frame { pixels, width, height, channels } = frame;
        super::banded_png::encode(pixels, width, height, channels.count(), options.srgb, out)
            .map_err(|error| EncodeError::new("PNG", error))
    }
}
