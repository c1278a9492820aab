//! An image file read within its limits, and what its first bytes say:
//! the format, whether its chunks fit, whether it is animated.

use std::path::Path;

use image::ImageFormat;

use crate::error::DecodeError;

/// The most bytes an image file may have before it is read: what bounds a
/// read, so that a huge file or an endless stream (`/dev/zero`, a FIFO) is
/// refused before it fills memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLimit {
    /// The pixel budget: no PNG, JPEG or WebP of at most this many pixels
    /// is larger than [`FileLimit::for_pixels`] of it.
    pub max_pixels: u64,
    /// The memory budget of the run the file is read for: the file is held
    /// whole while it decodes.
    pub budget: u64,
}

impl FileLimit {
    /// The largest file an image of `max_pixels` can be: its pixels at
    /// 16-bit RGBA stored uncompressed (8 bytes a pixel), plus 64 MiB of
    /// metadata (profiles, EXIF, text). The decoders' allocation limit too.
    pub fn for_pixels(max_pixels: u64) -> u64 {
        crate::limits::largest_file(max_pixels)
    }

    /// The bytes a file may have: the smaller of the two limits.
    pub fn bytes(&self) -> u64 {
        FileLimit::for_pixels(self.max_pixels).min(self.budget)
    }

    /// Why `bytes` (`None`: a stream, more than the limit) is too many.
    pub fn refuse(&self, origin: &str, bytes: Option<u64>) -> DecodeError {
        let origin = origin.to_string();
        match self.budget < FileLimit::for_pixels(self.max_pixels) {
            true => DecodeError::FileOverMemory { origin, bytes, budget: self.budget },
            false => DecodeError::FileTooLarge { origin, bytes, max_pixels: self.max_pixels },
        }
    }
}

/// Reads an image file whole, within `limit`: the format is told from its
/// first bytes before anything more is read, a file's size is compared
/// with the limit before it is read, and a stream (FIFO, device) is read
/// no further than the limit. Garbage, an empty file, or too many bytes
/// are refused naming `origin`.
pub fn read_image_file(path: &Path, origin: &str, limit: FileLimit) -> Result<Vec<u8>, DecodeError> {
    use std::io::Read;
    let read_error = |source| DecodeError::Read { origin: origin.to_string(), source };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    // Enough for every signature `image::guess_format` knows.
    const SIGNATURE: u64 = 16;
    let mut bytes = Vec::new();
    (&mut file).take(SIGNATURE).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.is_empty() {
        return Err(DecodeError::Empty { origin: origin.to_string() });
    }
    if bytes.len() as u64 == SIGNATURE && format_of(&bytes).is_none() {
        return Err(DecodeError::UnknownFormat { origin: origin.to_string() });
    }
    let max = limit.bytes();
    let size = file.metadata().ok().filter(std::fs::Metadata::is_file).map(|m| m.len());
    if let Some(size) = size.filter(|&size| size > max) {
        return Err(limit.refuse(origin, Some(size)));
    }
    bytes.reserve(size.map_or(0, |size| size.saturating_sub(SIGNATURE)) as usize);
    (&mut file)
        .take(max.saturating_add(1).saturating_sub(SIGNATURE))
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    match bytes.len() as u64 > max {
        true => Err(limit.refuse(origin, None)),
        false => Ok(bytes),
    }
}

/// How messages name the file at `path`: its path, or, where that is empty,
/// so ("an empty path: cannot read file: ...", not ": cannot read ...").
pub(crate) fn origin_of(path: &Path) -> String {
    match path.as_os_str().is_empty() {
        true => "an empty path".into(),
        false => path.display().to_string(),
    }
}

/// The format of a file the engine reads, from its first bytes.
pub(super) fn format_of(bytes: &[u8]) -> Option<ImageFormat> {
    image::guess_format(bytes)
        .ok()
        .filter(|f| matches!(f, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP))
}

pub(crate) fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::WebP => "WebP",
        _ => "image",
    }
}

/// Whether every chunk of a WebP fits in the file. The WebP decoder
/// allocates a metadata chunk's declared size before reading it, so a lying
/// `EXIF` or `ICCP` length would allocate up to 4 GiB whatever the pixel
/// budget; such a file's metadata is not read (and its pixels, if they
/// decode at all, are taken upright and sRGB). PNG and JPEG read metadata
/// in bounded pieces.
pub(super) fn chunks_fit(format: ImageFormat, bytes: &[u8]) -> bool {
    if format != ImageFormat::WebP {
        return true;
    }
    let mut at = 12;
    while let Some(header) = bytes.get(at..at + 8) {
        let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        // Chunks are padded to an even length.
        at = match at.checked_add(8 + length + (length & 1)) {
            Some(next) if next <= bytes.len() + (length & 1) => next,
            _ => return false,
        };
    }
    true
}

/// Whether a PNG holds an animation (an `acTL` chunk before its first
/// `IDAT`: APNG) or a WebP does (the animation flag of its `VP8X` chunk).
/// Decoders give the first frame, or the default image, of either.
pub(super) fn is_animated(format: ImageFormat, bytes: &[u8]) -> bool {
    match format {
        ImageFormat::Png => {
            let mut at = 8;
            while let Some(header) = bytes.get(at..at + 8) {
                let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
                match &header[4..8] {
                    b"acTL" => return true,
                    b"IDAT" => return false,
                    _ => at = at.saturating_add(length).saturating_add(12),
                }
            }
            false
        }
        ImageFormat::WebP => {
            bytes.get(12..16) == Some(b"VP8X") && bytes.get(20).is_some_and(|flags| flags & 0x02 != 0)
        }
        _ => false,
    }
}
