//! Encoding finished pixels, and the buffers that carry the result.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder};
use serde::{Deserialize, Serialize};

use crate::colour_profile::srgb_icc;
use crate::pixels::{Channels, Rgb8};

/// The file format variations are written in. In a recipe it reads
/// `{"name": "jpeg", "quality": 90}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
#[non_exhaustive]
pub enum OutputFormat {
    /// PNG with fast deflate and adaptive filtering: about 30x faster than
    /// zlib's default level for files about 6% larger. Keeps alpha.
    #[default]
    Png,
    /// Baseline JPEG at the given quality (1-100). JPEG has no alpha: an
    /// RGBA image is written as its RGB channels.
    Jpeg {
        /// 1 (smallest) to 100 (best).
        quality: u8,
    },
    /// Lossless WebP. Keeps alpha.
    WebP,
}

impl OutputFormat {
    /// `PNG`, `JPEG` or `WebP`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Png => "PNG",
            OutputFormat::Jpeg { .. } => "JPEG",
            OutputFormat::WebP => "WebP",
        }
    }
    /// The MIME type, e.g. `image/png`.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Jpeg { .. } => "image/jpeg",
            OutputFormat::WebP => "image/webp",
        }
    }
    /// The usual file extension, without the dot: `png`, `jpg` or `webp`.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Png => "png",
            OutputFormat::Jpeg { .. } => "jpg",
            OutputFormat::WebP => "webp",
        }
    }

    /// Encodes `pixels` (`width * height` pixels of `channels`) into `out`.
    /// PNG is encoded in parallel bands of rows in the current rayon pool.
    pub fn encode(
        self,
        pixels: &[u8],
        width: u32,
        height: u32,
        channels: Channels,
        out: &mut Vec<u8>,
    ) -> Result<(), image::ImageError> {
        self.encode_with(pixels, width, height, channels, &EncodeOptions::default(), out)
    }

    /// [`OutputFormat::encode`] with [`EncodeOptions`].
    pub fn encode_with(
        self,
        pixels: &[u8],
        width: u32,
        height: u32,
        channels: Channels,
        options: &EncodeOptions,
        out: &mut Vec<u8>,
    ) -> Result<(), image::ImageError> {
        let EncodeOptions { srgb, background } = *options;
        let color = match channels {
            Channels::Rgb => ExtendedColorType::Rgb8,
            Channels::Rgba => ExtendedColorType::Rgba8,
        };
        match self {
            // The png crate's fast settings, in parallel bands of rows.
            OutputFormat::Png => {
                crate::banded_png::encode(pixels, width, height, channels.count(), srgb, out)
                    .map_err(|error| image::ImageError::IoError(std::io::Error::other(error)))
            }
            OutputFormat::Jpeg { quality } => {
                let mut encoder = JpegEncoder::new_with_quality(out, quality.clamp(1, 100));
                if srgb {
                    encoder.set_icc_profile(srgb_icc().to_vec()).map_err(image::ImageError::Unsupported)?;
                }
                match channels {
                    Channels::Rgb => encoder.write_image(pixels, width, height, color),
                    Channels::Rgba => {
                        let rgb = over_background(pixels, background);
                        encoder.write_image(&rgb, width, height, ExtendedColorType::Rgb8)
                    }
                }
            }
            OutputFormat::WebP => {
                let mut encoder = WebPEncoder::new_lossless(out);
                if srgb {
                    encoder.set_icc_profile(srgb_icc().to_vec()).map_err(image::ImageError::Unsupported)?;
                }
                encoder.write_image(pixels, width, height, color)
            }
        }
    }
}

/// How variations are written, beyond their format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Say the colours are sRGB: PNG's `sRGB` chunk, an sRGB ICC profile in
    /// JPEG and WebP. Images decoded from a file with a colour profile are
    /// tagged so; untagged ones stay untagged, byte for byte as before.
    /// Default false.
    pub srgb: bool,
    /// What JPEG, which has no alpha, shows through transparent pixels: each
    /// pixel is composited over it. Default white.
    pub background: Rgb8,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { srgb: false, background: Rgb8([255, 255, 255]) }
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

/// One encoded variation. Counted by the engine's [`BufferGauge`] from the
/// moment it is encoded until it is dropped.
#[derive(Debug)]
pub struct EncodedImage {
    bytes: Vec<u8>,
    format: OutputFormat,
    width: u32,
    height: u32,
    _alive: LiveBuffer,
}

impl EncodedImage {
    pub(crate) fn new(
        bytes: Vec<u8>,
        format: OutputFormat,
        width: u32,
        height: u32,
        gauge: &BufferGauge,
    ) -> Self {
        EncodedImage { bytes, format, width, height, _alive: gauge.track() }
    }
    /// The encoded file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The format it is encoded in.
    pub fn format(&self) -> OutputFormat {
        self.format
    }
    /// The MIME type of its format.
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }
    /// Width of the image, in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height of the image, in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Takes the bytes out; the buffer stops being counted.
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
    }
}

impl AsRef<[u8]> for EncodedImage {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Counts encoded buffers alive (made and not yet dropped) and the most
/// there ever were at once: the measure of the engine's backpressure.
#[derive(Clone, Debug, Default)]
pub struct BufferGauge {
    counts: Arc<GaugeCounts>,
}

#[derive(Debug, Default)]
struct GaugeCounts {
    alive: AtomicUsize,
    peak: AtomicUsize,
}

impl BufferGauge {
    /// Buffers alive now.
    pub fn alive(&self) -> usize {
        self.counts.alive.load(Ordering::SeqCst)
    }
    /// The most buffers ever alive at once.
    pub fn peak(&self) -> usize {
        self.counts.peak.load(Ordering::SeqCst)
    }
    fn track(&self) -> LiveBuffer {
        let alive = self.counts.alive.fetch_add(1, Ordering::SeqCst) + 1;
        self.counts.peak.fetch_max(alive, Ordering::SeqCst);
        LiveBuffer(self.counts.clone())
    }
}

#[derive(Debug)]
struct LiveBuffer(Arc<GaugeCounts>);

impl Drop for LiveBuffer {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::SeqCst);
    }
}
