//! Decoding: bytes or a file into 8-bit RGB or RGBA pixels, refusing images
//! over the pixel budget before any pixel memory is allocated.

mod file;
pub(crate) mod jpeg;
mod marking;
pub(crate) mod profile;

pub use file::{FileLimit, read_image_file};
use file::{chunks_fit, format_of, is_animated};
pub(crate) use file::{format_name, origin_of};
use marking::decode_png_marking;

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer, ImageDecoder, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decode::jpeg::Decoded;
use crate::error::DecodeError;
use crate::large_buffer::LargeBuffer;
use crate::pixels::{Channels, hex};
use crate::preview::Preview;
use crate::resize::{fit, resize};
use profile::Profile;

/// The default pixel budget: 100 megapixels.
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// How files are decoded. The defaults are strict and colour-managed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Refuse images with more pixels than this, before allocating any.
    /// Default [`DEFAULT_MAX_PIXELS`].
    pub max_pixels: u64,
    /// Decode a truncated or damaged JPEG as far as it can be read (libjpeg
    /// fills the rest with grey), with a warning, instead of refusing it.
    /// PNG and WebP that do not decode whole are refused either way.
    /// Default false.
    pub lenient: bool,
    /// What to do with an embedded ICC profile. Default
    /// [`ColourProfiles::Convert`].
    pub colour_profiles: ColourProfiles,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_pixels: DEFAULT_MAX_PIXELS,
            lenient: false,
            colour_profiles: ColourProfiles::Convert,
        }
    }
}

/// What to do with an image's embedded ICC profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourProfiles {
    /// Convert the pixels to sRGB, and tag the variations sRGB.
    #[default]
    Convert,
    /// Take the stored values as sRGB, as OpenCV's `imread` (and so the
    /// service variegate replaces) does.
    Ignore,
}

/// What an image file's header says, read before any pixel is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    /// Width as stored (before any EXIF turn).
    pub width: u32,
    /// Height as stored.
    pub height: u32,
    /// RGBA if the file has alpha, else RGB.
    pub channels: Channels,
    /// Size of the encoded file.
    pub file_bytes: u64,
}

/// What a manifest records of the image a run recoloured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The path or name it was read from.
    pub path: String,
    /// File name without directories and extension: the start of the run folder.
    pub stem: String,
    /// SHA-256 of the encoded file (of the pixels, for images made from
    /// pixels), lower-case hex.
    pub sha256: String,
    /// Width of the image as read, before any downscaling.
    pub width: u32,
    /// Height of the image as read, before any downscaling.
    pub height: u32,
    /// `png`, `jpeg` or `webp`.
    pub format: String,
}

/// A decoded source image: interleaved 8-bit pixels, row after row, plus
/// what storage needs to name its variations (file stem and content hash).
#[derive(Clone)]
pub struct SourceImage {
    name: String,
    width: u32,
    height: u32,
    /// The size as read; differs from `width` x `height` once downscaled.
    original_size: (u32, u32),
    channels: Channels,
    pixels: LargeBuffer<u8>,
    format: ImageFormat,
    profile: Profile,
    sha256: [u8; 32],
    decode_time: Duration,
    /// The colours present, a bit each, where they were marked while the
    /// rows were decoded (see `decode_png_marking`): these pixels' own.
    colour_marks: Option<Arc<LargeBuffer<u64>>>,
}

impl std::fmt::Debug for SourceImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceImage")
            .field("name", &self.name)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("channels", &self.channels)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl SourceImage {
    /// Reads and decodes a PNG, JPEG or WebP file (the format is taken from
    /// the content), reading no more than an image of `max_pixels` can
    /// need (see [`read_image_file`]).
    pub fn open(path: impl AsRef<Path>, max_pixels: u64) -> Result<SourceImage, DecodeError> {
        let path = path.as_ref();
        let origin = origin_of(path);
        let bytes = read_image_file(path, &origin, FileLimit { max_pixels, budget: u64::MAX })?;
        SourceImage::decode(&bytes, &origin, max_pixels)
    }

    /// Decodes an encoded image held in memory; `origin` names it in errors
    /// and its file stem names the stored variations. A truncated or damaged
    /// file is an error, and a colour profile is applied: see
    /// [`SourceImage::decode_with`].
    pub fn decode(bytes: &[u8], origin: &str, max_pixels: u64) -> Result<SourceImage, DecodeError> {
        SourceImage::decode_with(bytes, origin, &DecodeOptions { max_pixels, ..DecodeOptions::default() })
    }

    /// [`SourceImage::decode`] with every [`DecodeOptions`].
    pub fn decode_with(
        bytes: &[u8],
        origin: &str,
        options: &DecodeOptions,
    ) -> Result<SourceImage, DecodeError> {
        SourceImage::decode_checked(bytes, origin, options, |_| Ok(()))
    }

    /// [`SourceImage::decode_with`], calling `check` with what the header
    /// says before any pixel is allocated; its error is returned as is.
    pub fn decode_checked(
        bytes: &[u8],
        origin: &str,
        options: &DecodeOptions,
        check: impl FnOnce(&ImageHeader) -> Result<(), DecodeError>,
    ) -> Result<SourceImage, DecodeError> {
        SourceImage::decode_marking(bytes, origin, options, check, false)
    }

    /// [`SourceImage::decode_checked`]; with `mark_colours`, an 8-bit RGB or
    /// RGBA PNG has its colours marked as its rows arrive, on the pool's
    /// other threads while this one decodes (the engine's first step of
    /// indexing its colours, done while it would otherwise wait).
    pub(crate) fn decode_marking(
        bytes: &[u8],
        origin: &str,
        options: &DecodeOptions,
        check: impl FnOnce(&ImageHeader) -> Result<(), DecodeError>,
        mark_colours: bool,
    ) -> Result<SourceImage, DecodeError> {
        let DecodeOptions { max_pixels, lenient, colour_profiles } = *options;
        let _span = tracing::info_span!("decode", origin).entered();
        let started = Instant::now();
        let origin_owned = || origin.to_string();
        if bytes.is_empty() {
            return Err(DecodeError::Empty { origin: origin_owned() });
        }
        let format = format_of(bytes).ok_or_else(|| DecodeError::UnknownFormat { origin: origin_owned() })?;
        let corrupt =
            |source| DecodeError::Corrupt { origin: origin_owned(), format: format_name(format), source };

        // Read the header alone first: the budget is checked before a single
        // pixel is allocated, whatever the header claims. The header also
        // says which way up the picture is meant to be seen (EXIF
        // orientation; a tag that cannot be read counts as upright, as
        // viewers take it) and carries the colour profile, if there is one.
        let (width, height, alpha, orientation, icc) = ImageReader::with_format(Cursor::new(bytes), format)
            .into_decoder()
            .map(|mut decoder| {
                let (width, height) = decoder.dimensions();
                let alpha = decoder.color_type().has_alpha();
                if !chunks_fit(format, bytes) {
                    return (width, height, alpha, Orientation::NoTransforms, None);
                }
                let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
                (width, height, alpha, orientation, decoder.icc_profile().ok().flatten())
            })
            .map_err(|source| zero_sized_or(corrupt(source), bytes, origin))?;
        if width == 0 || height == 0 {
            return Err(DecodeError::ZeroSized { origin: origin_owned(), width, height });
        }
        if u64::from(width) * u64::from(height) > max_pixels {
            return Err(DecodeError::TooLarge { origin: origin_owned(), width, height, max_pixels });
        }
        let channels = if alpha { Channels::Rgba } else { Channels::Rgb };
        check(&ImageHeader { width, height, channels, file_bytes: bytes.len() as u64 })?;

        if is_animated(format, bytes) {
            tracing::warn!("{origin}: animated {}: only its first frame is recoloured", format_name(format));
        }
        let libjpeg = match format {
            ImageFormat::Jpeg => match crate::decode::jpeg::decode_rgb(bytes, width, height, false) {
                Decoded::Damaged(reason) if lenient => {
                    tracing::warn!("{origin}: {reason}: decoded as far as it goes");
                    match crate::decode::jpeg::decode_rgb(bytes, width, height, true) {
                        Decoded::Pixels(pixels) => Some(pixels),
                        _ => None,
                    }
                }
                Decoded::Damaged(reason) => {
                    return Err(DecodeError::Damaged { origin: origin_owned(), format: "JPEG", reason });
                }
                Decoded::Pixels(pixels) => Some(pixels),
                Decoded::Refused => None,
            },
            _ => None,
        };
        // Room for the largest layout a decoder may use (16-bit RGBA) plus
        // its working buffers; the pixel budget above is the real limit.
        let max_alloc = FileLimit::for_pixels(max_pixels);
        let mut colour_marks = None;
        let marking = mark_colours && format == ImageFormat::Png && !is_animated(format, bytes);
        let (channels, pixels): (Channels, LargeBuffer<u8>) = match libjpeg {
            Some(pixels) => (Channels::Rgb, pixels.into()),
            None if let Some((pixels, marks)) =
                marking.then(|| decode_png_marking(bytes, channels, max_alloc)).flatten() =>
            {
                colour_marks = Some(Arc::new(marks));
                (channels, pixels)
            }
            None => {
                let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
                let mut limits = Limits::no_limits();
                limits.max_alloc = Some(max_alloc);
                reader.limits(limits);
                let (channels, pixels) = into_rgb_or_rgba(reader.decode().map_err(corrupt)?);
                (channels, pixels.into())
            }
        };

        let (width, height, mut pixels) = upright(orientation, width, height, channels, pixels);
        let icc = icc.filter(|_| colour_profiles == ColourProfiles::Convert);
        // A profile changes the colours; turning the picture upright does not.
        let colour_marks = colour_marks.filter(|_| icc.is_none());
        let profile = profile::into_srgb(icc.as_deref(), channels, width, &mut pixels, origin);
        let decode_time = started.elapsed();
        tracing::debug!(width, height, ?channels, ms = decode_time.as_secs_f64() * 1e3, "decoded");
        Ok(SourceImage {
            name: origin.to_string(),
            width,
            height,
            original_size: (width, height),
            channels,
            pixels,
            format,
            profile,
            sha256: Sha256::digest(bytes).into(),
            decode_time,
            colour_marks,
        })
    }

    /// Wraps pixels already in memory (`width * height * channels` bytes).
    /// `name` stands in for a file name; the hash is taken over the pixels.
    pub fn from_pixels(
        name: &str,
        width: u32,
        height: u32,
        channels: Channels,
        pixels: Vec<u8>,
    ) -> Result<SourceImage, DecodeError> {
        if width == 0 || height == 0 {
            return Err(DecodeError::ZeroSized { origin: name.into(), width, height });
        }
        let expected = width as usize * height as usize * channels.count();
        if pixels.len() != expected {
            return Err(DecodeError::Corrupt {
                origin: name.into(),
                format: "raw",
                source: image::ImageError::Parameter(image::error::ParameterError::from_kind(
                    image::error::ParameterErrorKind::DimensionMismatch,
                )),
            });
        }
        Ok(SourceImage {
            name: name.into(),
            width,
            height,
            original_size: (width, height),
            channels,
            sha256: Sha256::digest(&pixels).into(),
            pixels: pixels.into(),
            format: ImageFormat::Png,
            profile: Profile::Untagged,
            decode_time: Duration::ZERO,
            colour_marks: None,
        })
    }

    /// A copy whose longest side is at most `max_side`, resized with a
    /// Lanczos3 filter (alpha-aware); the image itself if it already fits.
    /// Name, format and hash stay those of the original file.
    pub fn downscaled(self, max_side: u32) -> SourceImage {
        match self.fitted(max_side) {
            Some(smaller) => smaller,
            None => self,
        }
    }

    /// A downscaled copy as [`SourceImage::downscaled`] makes it, or `None`
    /// if the image already fits.
    pub(crate) fn fitted(&self, max_side: u32) -> Option<SourceImage> {
        let (width, height) = fit(self.width, self.height, max_side);
        if (width, height) == (self.width, self.height) {
            return None;
        }
        let _span = tracing::info_span!("downscale", width, height).entered();
        let pixels = resize(&self.pixels, (self.width, self.height), self.channels, (width, height));
        Some(SourceImage {
            name: self.name.clone(),
            width,
            height,
            original_size: self.original_size,
            channels: self.channels,
            pixels: pixels.into(),
            format: self.format,
            profile: self.profile,
            sha256: self.sha256,
            decode_time: self.decode_time,
            colour_marks: None,
        })
    }

    /// What a manifest records of this image.
    pub fn info(&self) -> SourceInfo {
        SourceInfo {
            path: self.name.clone(),
            stem: self.stem().to_string(),
            sha256: self.sha256_hex(),
            width: self.original_size.0,
            height: self.original_size.1,
            format: self.format_name().to_string(),
        }
    }

    /// A small copy for looking at (a contact sheet), longest side `max_side`.
    pub fn preview(&self, max_side: u32) -> Preview {
        Preview::fitting(&self.pixels, (self.width, self.height), self.channels, max_side)
    }

    /// What the image was called: its path, or the name it was given.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The file name without directories and extension, e.g. `coffee`.
    pub fn stem(&self) -> &str {
        Path::new(&self.name).file_stem().and_then(|s| s.to_str()).unwrap_or("image")
    }
    /// Width of the pixels held, in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height of the pixels held, in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// RGB or RGBA.
    pub fn channels(&self) -> Channels {
        self.channels
    }
    /// Interleaved pixels, `width * channels` bytes a row.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }
    /// The format the image was decoded from.
    pub fn format(&self) -> ImageFormat {
        self.format
    }
    /// Whether the file carried a colour profile that was honoured: its
    /// pixels are now sRGB, and variations of it say so.
    pub fn is_srgb_tagged(&self) -> bool {
        self.profile == Profile::Srgb
    }
    /// That format's usual name in lower case: `png`, `jpeg` or `webp`.
    pub fn format_name(&self) -> &'static str {
        match self.format {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::WebP => "webp",
            _ => "png",
        }
    }
    /// SHA-256 of the encoded input (of the pixels for [`SourceImage::from_pixels`]).
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }
    /// The SHA-256 as lower-case hex.
    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }
    /// How long reading and decoding took.
    pub fn decode_time(&self) -> Duration {
        self.decode_time
    }
    /// The colours present, marked as the rows were decoded, if they were.
    pub(crate) fn colour_marks(&self) -> Option<&[u64]> {
        self.colour_marks.as_deref().map(|marks| &marks[..])
    }
}

/// The pixels turned as `orientation` says (outputs are then upright and
/// need no tag), with the new width and height.
fn upright(
    orientation: Orientation,
    width: u32,
    height: u32,
    channels: Channels,
    pixels: LargeBuffer<u8>,
) -> (u32, u32, LargeBuffer<u8>) {
    // Decoders return width x height pixels; anything else is left alone.
    let whole = pixels.len() == width as usize * height as usize * channels.count();
    if orientation == Orientation::NoTransforms || !whole {
        return (width, height, pixels);
    }
    // The image crate turns a `Vec`: the decoder's own, or a copy of huge pages.
    let pixels = pixels.into_vec();
    let mut image = match channels {
        Channels::Rgb => {
            DynamicImage::ImageRgb8(ImageBuffer::from_raw(width, height, pixels).unwrap_or_default())
        }
        Channels::Rgba => {
            DynamicImage::ImageRgba8(ImageBuffer::from_raw(width, height, pixels).unwrap_or_default())
        }
    };
    tracing::debug!(?orientation, "turned upright");
    image.apply_orientation(orientation);
    (image.width(), image.height(), into_rgb_or_rgba(image).1.into())
}

fn into_rgb_or_rgba(image: DynamicImage) -> (Channels, Vec<u8>) {
    match image {
        DynamicImage::ImageRgb8(rgb) => (Channels::Rgb, rgb.into_raw()),
        DynamicImage::ImageRgba8(rgba) => (Channels::Rgba, rgba.into_raw()),
        other if other.color().has_alpha() => (Channels::Rgba, other.to_rgba8().into_raw()),
        other => (Channels::Rgb, other.to_rgb8().into_raw()),
    }
}

/// PNG decoders reject a zero width or height in the header as corrupt; say
/// what is really wrong. IHDR is always the first chunk: width and height are
/// big-endian at bytes 16..24.
fn zero_sized_or(error: DecodeError, bytes: &[u8], origin: &str) -> DecodeError {
    if let (Some(w), Some(h)) = (bytes.get(16..20), bytes.get(20..24)) {
        let is_png_ihdr = bytes.get(12..16) == Some(b"IHDR".as_slice());
        let width = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
        let height = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        if is_png_ihdr && (width == 0 || height == 0) {
            return DecodeError::ZeroSized { origin: origin.into(), width, height };
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::indexed::IndexedImage;

    fn testdata(name: &str) -> Vec<u8> {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)).unwrap()
    }

    /// A PNG of `colour` and `depth` from the png crate, with a tRNS chunk
    /// and palette where given.
    fn png(
        colour: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
        extra: Option<(&[u8], &[u8])>,
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, 4, 2);
        encoder.set_color(colour);
        encoder.set_depth(depth);
        if let Some((palette, trns)) = extra {
            if !palette.is_empty() {
                encoder.set_palette(palette.to_vec());
            }
            encoder.set_trns(trns.to_vec());
        }
        encoder.write_header().unwrap().write_image_data(data).unwrap();
        bytes
    }

    /// Decoded in a pool of `threads`, asking for its colours to be marked.
    fn decode_marking(bytes: &[u8], threads: usize) -> SourceImage {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| SourceImage::decode_marking(bytes, "t", &DecodeOptions::default(), |_| Ok(()), true))
            .unwrap()
    }

    /// An 8-bit RGB or RGBA PNG has its colours marked as its rows arrive,
    /// at 1 and 2 threads: the same pixels as the image crate decodes, and
    /// the same colour index as marking them afterwards. Any other PNG (16
    /// bits, a transparency chunk, a palette, a colour profile) decodes as
    /// before, unmarked.
    #[test]
    fn simple_pngs_are_marked_as_they_decode() {
        for name in ["coffee.png", "logo.png"] {
            let bytes = testdata(name);
            let plain = SourceImage::decode(&bytes, name, u64::MAX).unwrap();
            assert!(plain.colour_marks().is_none());
            let expected = IndexedImage::new(&plain);
            for threads in [1, 2] {
                let marked = decode_marking(&bytes, threads);
                assert!(marked.colour_marks().is_some(), "{name}");
                assert!(marked.pixels() == plain.pixels(), "{name}");
                let indexed = IndexedImage::new(&marked);
                assert_eq!(indexed.colours(), expected.colours(), "{name}");
                assert_eq!(indexed.indices(), expected.indices(), "{name}");
            }
        }

        let rgb16: Vec<u8> = (0..4 * 2 * 6).map(|i| (i * 37) as u8).collect();
        let rgb8: Vec<u8> = (0..4 * 2 * 3).map(|i| (i * 37) as u8).collect();
        let others = [
            ("16-bit", png(png::ColorType::Rgb, png::BitDepth::Sixteen, &rgb16, None)),
            (
                "tRNS",
                png(png::ColorType::Rgb, png::BitDepth::Eight, &rgb8, Some((&[], &[0, 0, 0, 37, 0, 74]))),
            ),
            (
                "palette",
                png(
                    png::ColorType::Indexed,
                    png::BitDepth::Eight,
                    &[0, 1, 1, 0, 1, 0, 0, 1],
                    Some((&[9, 8, 7, 200, 100, 0], &[])),
                ),
            ),
            ("profile", testdata("profiles/p3.png")),
        ];
        for (what, bytes) in others {
            let plain = SourceImage::decode(&bytes, what, u64::MAX).unwrap();
            let marked = decode_marking(&bytes, 2);
            assert!(marked.colour_marks().is_none(), "{what}");
            assert!(marked.pixels() == plain.pixels(), "{what}");
        }
    }
}
