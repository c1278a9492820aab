//! Encoding finished pixels, one module per format behind one trait
//! ([`Codec`]: its [`Info`], name, content type, extension, largest side and
//! encoder memory, and `encode`), and the buffers that carry the result. A format's settings and
//! their ranges are in one table ([`FORMAT_SETTINGS`]) that the command
//! line's flags, the builder's checks and Python read alike.

mod avif;
pub(crate) mod banded_png;
mod jpeg;
mod png;
mod webp;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

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
    /// PNG with fast deflate (fdeflate) and adaptive filtering: many times
    /// faster than zlib's default level, for slightly larger files. Keeps
    /// alpha.
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
    /// (compressed losslessly).
    #[serde(rename = "webp-lossy")]
    WebPLossy {
        /// 1 (smallest) to 100 (best).
        quality: u8,
    },
    /// AVIF through rav1e: 8-bit, full-range YCbCr tagged sRGB (primaries
    /// and transfer), alpha kept at quality 100 whatever the colour's.
    Avif {
        /// 1 (smallest) to 100 (best), for the colour.
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

    /// The format's module, with its settings.
    fn with_codec<R>(self, f: impl FnOnce(&dyn Codec) -> R) -> R {
        match self {
            OutputFormat::Png => f(&png::Png),
            OutputFormat::Jpeg { quality } => f(&jpeg::Jpeg { quality }),
            OutputFormat::WebP => f(&webp::WebP),
            OutputFormat::WebPLossy { quality } => f(&webp::WebPLossy { quality }),
            OutputFormat::Avif { quality, speed } => f(&avif::Avif { quality, speed }),
        }
    }

    /// Its settings of [`FORMAT_SETTINGS`]: quality and speed, where it
    /// takes them.
    pub fn settings(self) -> (Option<u8>, Option<u8>) {
        match self {
            OutputFormat::Jpeg { quality } | OutputFormat::WebPLossy { quality } => (Some(quality), None),
            OutputFormat::Avif { quality, speed } => (Some(quality), Some(speed)),
            OutputFormat::Png | OutputFormat::WebP => (None, None),
        }
    }

    /// Whether its settings are within their ranges: why not, if not.
    pub fn check_settings(self) -> Result<(), String> {
        let (quality, speed) = self.settings();
        FormatSetting::QUALITY.check(self.name(), quality)?;
        FormatSetting::SPEED.check(self.name(), speed)
    }

    /// `PNG`, `JPEG`, `WebP`, `lossy WebP` or `AVIF`, for messages.
    pub fn name(self) -> &'static str {
        self.with_codec(|codec| codec.info().name)
    }
    /// The MIME type, e.g. `image/png`.
    pub fn content_type(self) -> &'static str {
        self.with_codec(|codec| codec.info().content_type)
    }
    /// The usual file extension, without the dot: `png`, `jpg`, `webp` or `avif`.
    pub fn extension(self) -> &'static str {
        self.with_codec(|codec| codec.info().extension)
    }
    /// The longest side the format can store: WebP's 14-bit sizes (16383),
    /// JPEG's 16-bit ones (65535), AV1's width less one in 16 bits (65536); PNG's
    /// 31 bits go beyond any image the pixel budget lets in.
    pub fn max_side(self) -> u32 {
        self.with_codec(|codec| codec.info().max_side)
    }
    /// Bytes a pixel the encoder holds while it works, beyond the frame it
    /// reads and the file it writes: an upper bound for the memory budget
    /// (measured, with margin, in docs/performance.md). 0 for the formats
    /// whose working memory the budget's frame already covers.
    pub fn encoder_bytes_per_pixel(self) -> u64 {
        self.with_codec(|codec| codec.info().encoder_bytes_per_pixel)
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
    ) -> Result<(), EncodeError> {
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
    ) -> Result<(), EncodeError> {
        let frame = Frame { pixels, width, height, channels };
        self.with_codec(|codec| codec.encode(frame, options, out))
    }
}

/// What one module of this folder knows of its format.
trait Codec {
    /// Its name, MIME type, extension, sides and encoder memory.
    fn info(&self) -> Info;
    fn encode(&self, frame: Frame<'_>, options: &EncodeOptions, out: &mut Vec<u8>)
    -> Result<(), EncodeError>;
}

/// A format's figures, one constant per module.
#[derive(Clone, Copy)]
struct Info {
    /// For messages: `PNG`, `lossy WebP`.
    name: &'static str,
    content_type: &'static str,
    /// Without the dot.
    extension: &'static str,
    /// The longest side it can store.
    max_side: u32,
    /// Bytes a pixel its encoder holds beyond the frame and the file.
    encoder_bytes_per_pixel: u64,
}

/// Pixels to encode: `width * height` of `channels`, rows top to bottom.
#[derive(Clone, Copy)]
struct Frame<'a> {
    pixels: &'a [u8],
    width: u32,
    height: u32,
    channels: Channels,
}

/// Why an encoder failed: the format, and what its encoder said.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct EncodeError {
    /// `PNG`, `JPEG`, `WebP`, `lossy WebP` or `AVIF`.
    pub format: &'static str,
    /// What the encoder said.
    pub reason: String,
}

impl EncodeError {
    fn new(format: &'static str, reason: impl std::fmt::Display) -> EncodeError {
        EncodeError { format, reason: reason.to_string() }
    }
}

/// A setting some formats take, named as the command line's flag and
/// Python's keyword, with its range: the one place the ranges are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatSetting {
    /// `quality`, `speed`.
    pub name: &'static str,
    /// The least value.
    pub min: u8,
    /// The most.
    pub max: u8,
}

impl FormatSetting {
    /// Quality of JPEG, lossy WebP and AVIF: 1 (smallest) to 100 (best).
    pub const QUALITY: FormatSetting = FormatSetting { name: "quality", min: 1, max: 100 };
    /// rav1e's speed for AVIF: 1 (slowest, smallest) to 10 (fastest).
    pub const SPEED: FormatSetting = FormatSetting { name: "speed", min: 1, max: 10 };

    /// Whether `value` of `format` (`JPEG`) is within the range.
    fn check(self, format: &str, value: Option<u8>) -> Result<(), String> {
        match value.filter(|value| !(self.min..=self.max).contains(value)) {
            Some(value) => {
                let FormatSetting { name, min, max } = self;
                Err(format!("{format} {name} must be between {min} and {max}, not {value}"))
            }
            None => Ok(()),
        }
    }
}

/// Every format setting with a range.
pub const FORMAT_SETTINGS: [FormatSetting; 2] = [FormatSetting::QUALITY, FormatSetting::SPEED];

/// How variations are written, beyond their format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Say the colours are sRGB, the one rule of colour tags: a variation of
    /// an image that had a colour profile (converted to sRGB) says sRGB in
    /// its format's own way: PNG an `sRGB` chunk, JPEG and WebP (lossless
    /// and lossy) an sRGB ICC profile; one of an untagged image carries no
    /// tag, as the image did. AVIF is the exception: its AV1 stream always
    /// describes its colours (sRGB transfer, BT.709 primaries, full range),
    /// tagged image or not (rav1e writes it; no `colr` box, whose values
    /// would be the ones readers assume without it). Default false.
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
