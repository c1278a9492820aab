//! Small pictures of an image and of its variations, made as they are
//! (for a contact sheet, which the command line draws).

use crate::pixels::Channels;
use crate::resize::{fit, resize};

/// Raw pixels of a small image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGB or RGBA, as the image it was made from.
    pub channels: Channels,
    /// Interleaved pixels, row after row.
    pub pixels: Vec<u8>,
}

impl Preview {
    /// `pixels` (of `size`) resized to fit `max_side`.
    pub(crate) fn fitting(pixels: &[u8], size: (u32, u32), channels: Channels, max_side: u32) -> Preview {
        let (width, height) = fit(size.0, size.1, max_side);
        let pixels = resize(pixels, size, channels, (width, height));
        Preview { width, height, channels, pixels }
    }

    /// A copy resized to `width` x `height`, up or down (Lanczos3,
    /// alpha-aware): to draw it at another size.
    pub fn resized(&self, width: u32, height: u32) -> Preview {
        let pixels = resize(&self.pixels, (self.width, self.height), self.channels, (width, height));
        Preview { width, height, channels: self.channels, pixels }
    }
}
