//! Encoding finished pixels, and the buffers that carry the result.

pub(crate) mod banded_png;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder};
use serde::{Deserialize, Serialize};

use crate::decode::profile::srgb_icc;
/// The indexed-colour PNG encoder, for [`OutputFormat::takes_indices`].
pub(crate) use crate::encode::banded_png::encode_indexed;
use crate::large_buffer::LargeBuffer;
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
    /// Lossy WebP through libwebp at the given quality (1-100), alpha kept
    /// (compressed losslessly). No ICC profile: browsers and decoders take
    /// an untagged WebP as sRGB.
    #[serde(rename = "webp-lossy")]
    WebPLossy {
        /// 1 (smallest) to 100 (best).
        quality: u8,
    },
    /// AVIF through rav1e: 8-bit, full-range YCbCr tagged sRGB (primaries
    /// and transfer), alpha kept.
    Avif {
        /// 1 (smallest) to 100 (best), for colour and alpha alike.
        quality: u8,
        /// rav1e's speed, 1 (slowest, smallest) to 10 (fastest).
        speed: u8,
    },
}

/// JPEG's quality when none is given.
pub const DEFAULT_JPEG_QUALITY: u8 = 90;
/// Lossy WebP's quality when none is given: files a tenth of the PNG's,
/// within 1.2-2.0 CIEDE2000 of it on photos (docs/performance.md).
pub const DEFAULT_WEBP_QUALITY: u8 = 90;
/// AVIF's quality when none is given: files a twelfth of the PNG's, within
/// 1.3 CIEDE2000 of it.
pub const DEFAULT_AVIF_QUALITY: u8 = 70;
/// rav1e's speed when none is given: 9 of 1-10, 2.6 times as fast as 8
/// for files 10% larger; 10 is 22% faster again for files 14% larger
/// (docs/performance.md).
pub const DEFAULT_AVIF_SPEED: u8 = 9;

impl OutputFormat {
    /// A format by name (`png`, `jpeg` or `jpg`, `webp`, `avif`) and its
    /// settings, each at its default when not given: the one reading of
    /// the command line's `--format`, `--quality`, `--lossless` and
    /// `--speed` and Python's `format=`, `quality=`, `lossless=`, `speed=`.
    /// `webp` is lossy unless `lossless`. A setting the format does not
    /// take is an error naming it; ranges are checked when an engine is
    /// built.
    pub fn from_settings(
        name: &str,
        quality: Option<u8>,
        lossless: bool,
        speed: Option<u8>,
    ) -> Result<OutputFormat, String> {
        let takes = |setting: &str, given: bool, format: &str| match given {
            true => Err(format!("{setting} goes with {format}")),
            false => Ok(()),
        };
        let format = match name {
            "png" => {
                takes("quality", quality.is_some(), "format jpeg, webp or avif")?;
                OutputFormat::Png
            }
            "jpeg" | "jpg" => OutputFormat::Jpeg { quality: quality.unwrap_or(DEFAULT_JPEG_QUALITY) },
            "webp" if lossless => {
                takes("quality", quality.is_some(), "lossy WebP (without lossless)")?;
                OutputFormat::WebP
            }
            "webp" => OutputFormat::WebPLossy { quality: quality.unwrap_or(DEFAULT_WEBP_QUALITY) },
            "avif" => OutputFormat::Avif {
                quality: quality.unwrap_or(DEFAULT_AVIF_QUALITY),
                speed: speed.unwrap_or(DEFAULT_AVIF_SPEED),
            },
            other => return Err(format!("format must be png, jpeg, webp or avif, not {other:?}")),
        };
        takes("lossless", lossless && !matches!(format, OutputFormat::WebP), "format webp")?;
        takes("speed", speed.is_some() && !matches!(format, OutputFormat::Avif { .. }), "format avif")?;
        Ok(format)
    }

    /// `PNG`, `JPEG`, `WebP`, `lossy WebP` or `AVIF`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Png => "PNG",
            OutputFormat::Jpeg { .. } => "JPEG",
            OutputFormat::WebP => "WebP",
            OutputFormat::WebPLossy { .. } => "lossy WebP",
            OutputFormat::Avif { .. } => "AVIF",
        }
    }
    /// The MIME type, e.g. `image/png`.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Jpeg { .. } => "image/jpeg",
            OutputFormat::WebP | OutputFormat::WebPLossy { .. } => "image/webp",
            OutputFormat::Avif { .. } => "image/avif",
        }
    }
    /// The usual file extension, without the dot: `png`, `jpg`, `webp` or `avif`.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Png => "png",
            OutputFormat::Jpeg { .. } => "jpg",
            OutputFormat::WebP | OutputFormat::WebPLossy { .. } => "webp",
            OutputFormat::Avif { .. } => "avif",
        }
    }
    /// The longest side the format can store: WebP's 14-bit sizes (16383),
    /// JPEG's 16-bit ones (65535), AV1's width less one in 16 bits (65536); PNG's
    /// 31 bits go beyond any image the pixel budget lets in.
    pub fn max_side(self) -> u32 {
        match self {
            OutputFormat::Png => i32::MAX as u32,
            OutputFormat::Jpeg { .. } => 65_535,
            OutputFormat::WebP | OutputFormat::WebPLossy { .. } => 16_383,
            OutputFormat::Avif { .. } => 65_536,
        }
    }
    /// Bytes a pixel the encoder holds while it works, beyond the frame it
    /// reads and the file it writes: an upper bound for the memory budget
    /// (measured, with margin, in docs/performance.md). 0 for the formats
    /// whose working memory the budget's frame already covers.
    pub fn encoder_bytes_per_pixel(self) -> u64 {
        match self {
            OutputFormat::Png | OutputFormat::Jpeg { .. } | OutputFormat::WebP => 0,
            // YUV 4:2:0 planes, the analysis' and the alpha plane's copies.
            OutputFormat::WebPLossy { .. } => 8,
            // rav1e's 4:4:4 source, reconstruction and reference frames at
            // 16 bits a sample, and the YCbCr planes handed to it.
            OutputFormat::Avif { .. } => 48,
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

    /// Whether variations of an image of `channels` are best recoloured
    /// into palette indices (where the look can give them) and written by
    /// [`encode_indexed`]: PNG of an image without alpha, a third of the
    /// data or less.
    pub(crate) fn takes_indices(self, channels: Channels) -> bool {
        matches!(self, OutputFormat::Png) && channels == Channels::Rgb
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
                crate::encode::banded_png::encode(pixels, width, height, channels.count(), srgb, out)
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
            OutputFormat::WebPLossy { quality } => {
                encode_lossy_webp(pixels, width, height, channels, quality, out).map_err(encoder_error)
            }
            OutputFormat::Avif { quality, speed } => {
                encode_avif(pixels, width, height, channels, (quality, speed), out).map_err(encoder_error)
            }
        }
    }
}

/// An encoder's failure as the image crate's error, as the others report.
fn encoder_error(reason: String) -> image::ImageError {
    image::ImageError::IoError(std::io::Error::other(reason))
}

/// Lossy WebP through libwebp: its fastest method, one thread, so the same
/// pixels give the same bytes.
fn encode_lossy_webp(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: Channels,
    quality: u8,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let layout = match channels {
        Channels::Rgb => webp::PixelLayout::Rgb,
        Channels::Rgba => webp::PixelLayout::Rgba,
    };
    let mut config =
        webp::WebPConfig::new().map_err(|()| "libwebp: cannot set up its encoder".to_string())?;
    config.lossless = 0;
    config.quality = f32::from(quality.clamp(1, 100));
    config.alpha_compression = 1;
    config.thread_level = 0;
    // libwebp's fastest method: its default (4) makes files 18% smaller at
    // 3.6 times the encode time (docs/performance.md).
    config.method = 0;
    let encoded = webp::Encoder::new(pixels, layout, width, height)
        .encode_advanced(&config)
        .map_err(|error| format!("libwebp: {error:?}"))?;
    out.extend_from_slice(&encoded);
    Ok(())
}

/// AVIF through rav1e, at 8 bits, on one thread so that the same pixels
/// give the same bytes.
fn encode_avif(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: Channels,
    (quality, speed): (u8, u8),
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let quality = f32::from(quality.clamp(1, 100));
    let encoder = ravif::Encoder::new()
        .with_quality(quality)
        .with_alpha_quality(quality)
        .with_speed(speed.clamp(1, 10))
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
    .map_err(|error| format!("rav1e: {error}"))?;
    out.extend_from_slice(&encoded.avif_file);
    Ok(())
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
    bytes: LargeBuffer<u8>,
    format: OutputFormat,
    width: u32,
    height: u32,
    _alive: LiveBuffer,
}

impl EncodedImage {
    pub(crate) fn new(
        bytes: impl Into<LargeBuffer<u8>>,
        format: OutputFormat,
        width: u32,
        height: u32,
        gauge: &BufferGauge,
    ) -> Self {
        EncodedImage { bytes: bytes.into(), format, width, height, _alive: gauge.track() }
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
    /// Takes the bytes out (a copy, if they are in huge pages); the buffer
    /// stops being counted.
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes.into_vec()
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
