//! PNG encoding in parallel bands of rows, with the `png` crate's fast
//! settings: the adaptive filter and `fdeflate`'s fixed-code compressor.
//!
//! One PNG encode of a 2048x2048 frame costs several times a palette's
//! recolour, and the `png` crate encodes one row after another. Here bands of
//! [`BAND_ROWS`] rows are filtered and compressed on their own, in parallel
//! (each band's first row still filtered against the row above it), and the
//! compressed bands are joined into the one zlib stream a PNG holds:
//!
//! - every band but the last becomes a non-final deflate block, followed by
//!   an empty stored block that brings the stream back to a byte boundary
//!   (what zlib's `Z_SYNC_FLUSH` writes);
//! - the Adler-32 of the whole is combined from the bands' own.
//!
//! Bands are fixed, so the bytes are the same at any thread count. Decoders
//! see an ordinary PNG; the tests decode every shape of image we write.

use std::io::Cursor;

use rayon::prelude::*;

use crate::analyse::indexed::RowPainter;
use crate::large_buffer::LargeBuffer;

mod filter;
use filter::adaptive_filter;

/// Rows per band: 16 bands for a 2048-row frame, enough for two threads
/// to share one image evenly, and few enough that the joins cost nothing.
const BAND_ROWS: usize = 128;

/// Encodes 8-bit RGB (`channels` 3) or RGBA (4) pixels as a PNG into `out`.
pub(crate) fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: usize,
    srgb: bool,
    out: &mut Vec<u8>,
) -> Result<(), png::EncodingError> {
    let row_bytes = width as usize * channels;
    if row_bytes == 0 || height == 0 || pixels.len() != row_bytes * height as usize {
        let message =
            format!("{} bytes are not a {width}x{height} image of {channels} channels", pixels.len());
        return Err(std::io::Error::other(message).into());
    }
    let bands = compress_bands(Rows::Frame(pixels), row_bytes, height, Some(channels))?;
    write_rgb(&bands, width, height, channels, srgb, out)
}

/// Encodes what `painter` paints as [`encode`] would encode its frame (the
/// same bytes): each band paints its rows one at a time into a row buffer,
/// where the filter reads them while they are in cache. The file is a
/// [`LargeBuffer`], as it is written once, whole, and then only read.
pub(crate) fn encode_painted(
    painter: &RowPainter,
    srgb: bool,
) -> Result<LargeBuffer<u8>, png::EncodingError> {
    let image = painter.image();
    let (width, height, channels) = (image.width(), image.height(), image.channels().count());
    let row_bytes = width as usize * channels;
    let bands = compress_bands(Rows::Painted(painter), row_bytes, height, Some(channels))?;
    let head = rgb_head(width, height, channels, srgb)?;
    let (length, zlib_length) = png_length(&head, &bands)?;
    let mut file = LargeBuffer::zeroed(length);
    let mut at = 0;
    write_png(&head, &bands, zlib_length, |piece| {
        file[at..at + piece.len()].copy_from_slice(piece);
        at += piece.len();
    });
    Ok(file)
}

/// Writes an RGB or RGBA PNG of the compressed `bands` into `out`.
fn write_rgb(
    bands: &[Band],
    width: u32,
    height: u32,
    channels: usize,
    srgb: bool,
    out: &mut Vec<u8>,
) -> Result<(), png::EncodingError> {
    write(&rgb_head(width, height, channels, srgb)?, bands, out)
}

/// The head of an RGB or RGBA PNG, as [`write_head`] writes it.
fn rgb_head(width: u32, height: u32, channels: usize, srgb: bool) -> Result<Vec<u8>, png::EncodingError> {
    let mut head = Vec::new();
    let mut encoder = png::Encoder::new(&mut head, width, height);
    encoder.set_color(if channels == 4 { png::ColorType::Rgba } else { png::ColorType::Rgb });
    encoder.set_depth(png::BitDepth::Eight);
    write_head(encoder, srgb)?;
    Ok(head)
}

/// Where a band's rows come from.
#[derive(Clone, Copy)]
enum Rows<'a> {
    /// A frame of rows, one after another.
    Frame(&'a [u8]),
    /// A painter, a row at a time.
    Painted(&'a RowPainter<'a>),
}

/// Encodes an image of palette indices (one byte a pixel, each below
/// `palette.len()`, at most 256 colours) as an indexed-colour PNG into
/// `out`: 1, 2, 4 or 8 bits a pixel, as few as the palette needs, and no
/// row filter (PNG's advice for indexed images, and the fastest). A
/// 5-colour palette's image takes half a byte a pixel, a sixth of its RGB
/// size, before compression.
pub(crate) fn encode_indexed(
    indices: &[u8],
    width: u32,
    height: u32,
    palette: &[[u8; 3]],
    srgb: bool,
    out: &mut Vec<u8>,
) -> Result<(), png::EncodingError> {
    let pixels = width as usize * height as usize;
    if width == 0 || height == 0 || indices.len() != pixels || palette.is_empty() || palette.len() > 256 {
        let message = format!(
            "{} indices are not a {width}x{height} image of a palette of {} colours",
            indices.len(),
            palette.len()
        );
        return Err(std::io::Error::other(message).into());
    }
    let (depth, bits) = match palette.len() {
        0..=2 => (png::BitDepth::One, 1),
        3..=4 => (png::BitDepth::Two, 2),
        5..=16 => (png::BitDepth::Four, 4),
        _ => (png::BitDepth::Eight, 8),
    };
    let row_bytes = (width as usize * bits).div_ceil(8);
    let packed: Vec<u8> = match bits {
        8 => indices.to_vec(),
        _ => {
            let mut packed = vec![0u8; row_bytes * height as usize];
            packed.par_chunks_mut(row_bytes).zip(indices.par_chunks(width as usize)).for_each(
                |(out, row)| {
                    let per_byte = 8 / bits;
                    for (byte, pixels) in out.iter_mut().zip(row.chunks(per_byte)) {
                        // The first pixel in the highest bits; unused low bits 0.
                        *byte = pixels.iter().enumerate().fold(0u8, |byte, (i, &index)| {
                            byte | (index & ((1 << bits) - 1)) << (8 - bits * (i + 1))
                        });
                    }
                },
            );
            packed
        }
    };
    let bands = compress_bands(Rows::Frame(&packed), row_bytes, height, Some(1))?;
    let mut head = Vec::new();
    let mut encoder = png::Encoder::new(&mut head, width, height);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(depth);
    encoder.set_palette(palette.concat());
    write_head(encoder, srgb)?;
    write(&head, &bands, out)
}

/// Filters and compresses every band of rows, in parallel: with the
/// adaptive filter for pixels of `bpp` bytes, or with none.
fn compress_bands(
    rows: Rows,
    row_bytes: usize,
    height: u32,
    bpp: Option<usize>,
) -> Result<Vec<Band>, std::io::Error> {
    (0..height as usize)
        .step_by(BAND_ROWS)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|first_row| compress_band(rows, row_bytes, first_row, bpp))
        .collect()
}

/// Writes a PNG with no image data: the header the encoder was set up
/// with, the sRGB chunk where the colours are known to be sRGB, and IEND.
fn write_head<W: std::io::Write>(mut encoder: png::Encoder<W>, srgb: bool) -> Result<(), png::EncodingError> {
    if srgb {
        encoder.set_source_srgb(png::SrgbRenderingIntent::Perceptual);
    }
    encoder.write_header()?.finish()
}

/// A chunk's length, type and CRC around its data: all of an IEND chunk.
const CHUNK_FRAMING: usize = 12;

/// Writes the PNG `head` (from [`write_head`]) with the bands joined into
/// one IDAT chunk before its IEND, into `out`: sized once, and the bands
/// copied once, straight from their own buffers.
fn write(head: &[u8], bands: &[Band], out: &mut Vec<u8>) -> Result<(), png::EncodingError> {
    let (length, zlib_length) = png_length(head, bands)?;
    let needed = out.len() + length;
    if out.is_empty() && out.capacity() < needed {
        // A fresh allocation: growing would copy the whole of the old one.
        *out = Vec::with_capacity(needed);
    }
    out.reserve_exact(needed - out.len());
    write_png(head, bands, zlib_length, |piece| out.extend_from_slice(piece));
    Ok(())
}

/// The length of the PNG that [`write_png`] writes, and of its IDAT data;
/// an error if the data does not fit one chunk.
fn png_length(head: &[u8], bands: &[Band]) -> Result<(usize, u32), png::EncodingError> {
    let mut zlib_len = 0;
    join_zlib(bands, |piece| zlib_len += piece.len());
    let zlib_length =
        u32::try_from(zlib_len).ok().filter(|&length| length <= i32::MAX as u32).ok_or_else(|| {
            std::io::Error::other(format!("{zlib_len} bytes of image data do not fit a PNG chunk"))
        })?;
    Ok((head.len() + CHUNK_FRAMING + zlib_len, zlib_length))
}

/// Hands `emit` the PNG `head` with the bands (`zlib_length` bytes once
/// joined, from [`png_length`]) as one IDAT chunk before its IEND, piece by
/// piece in order.
fn write_png(head: &[u8], bands: &[Band], zlib_length: u32, mut emit: impl FnMut(&[u8])) {
    let (head, iend) = head.split_at(head.len().saturating_sub(CHUNK_FRAMING));
    emit(head);
    emit(&zlib_length.to_be_bytes());
    emit(b"IDAT");
    let mut crc = crc32fast::Hasher::new();
    crc.update(b"IDAT");
    join_zlib(bands, |piece| {
        crc.update(piece);
        emit(piece);
    });
    emit(&crc.finalize().to_be_bytes());
    emit(iend);
}

/// A band of rows, filtered and compressed on its own.
struct Band {
    /// A 2-byte zlib header, one deflate block padded with zero bits to a
    /// byte, and the Adler-32 of the filtered rows.
    zlib: Vec<u8>,
    /// Bytes of filtered rows (a filter byte, then the row) it holds.
    filtered_len: usize,
}

/// Band buffers of files already written, kept for the next bands: a band's
/// buffer is sized for the worst case and written in part, and one taken
/// afresh for every band faults its pages in again (twice the faults of a
/// 2048x1365 run where the allocator returns freed memory at once). At most
/// this many bytes of them are kept, a lane's bands at 2048 pixels wide,
/// which the memory budget counts with the program.
pub(crate) const SPARE_BAND_BYTES: usize = 16 << 20;

static SPARE_BANDS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// An empty buffer of at least `capacity` bytes: a spare one if there is
/// one no more than twice as large, else a new one.
fn band_buffer(capacity: usize) -> Vec<u8> {
    let mut spare = SPARE_BANDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let fits = |buffer: &Vec<u8>| (capacity..=capacity.saturating_mul(2)).contains(&buffer.capacity());
    match spare.iter().position(fits) {
        Some(index) => spare.swap_remove(index),
        None => Vec::with_capacity(capacity),
    }
}

impl Drop for Band {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.zlib);
        buffer.clear();
        let mut spare = SPARE_BANDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept: usize = spare.iter().map(Vec::capacity).sum();
        if kept + buffer.capacity() <= SPARE_BAND_BYTES {
            spare.push(buffer);
        }
    }
}

/// Filters and compresses the rows `first_row..first_row + BAND_ROWS` (or
/// fewer, at the bottom) into a zlib stream of their own: adaptively for
/// pixels of `bpp` bytes, or with no filter.
fn compress_band(
    rows: Rows,
    row_bytes: usize,
    first_row: usize,
    bpp: Option<usize>,
) -> Result<Band, std::io::Error> {
    // Room for the worst case (fixed codes take up to 9 bits a byte), so
    // that a colour-rich band never reallocates; pages never written are
    // never touched.
    let filtered_bytes = BAND_ROWS * (row_bytes + 1);
    let mut compressor =
        fdeflate::Compressor::new(Cursor::new(band_buffer(filtered_bytes + filtered_bytes / 8 + 64)))?;
    let mut filtered = vec![0u8; row_bytes + 1];
    let mut filtered_len = 0;
    let mut write_row = |previous: &[u8], row: &[u8]| {
        filtered[0] = match bpp {
            Some(bpp) => adaptive_filter(bpp, previous, row, &mut filtered[1..]) as u8,
            None => {
                filtered[1..].copy_from_slice(row);
                0
            }
        };
        filtered_len += filtered.len();
        compressor.write_data(&filtered)
    };
    let zeros = vec![0u8; row_bytes];
    match rows {
        Rows::Frame(pixels) => {
            let mut previous = match first_row {
                0 => &zeros[..],
                row => &pixels[(row - 1) * row_bytes..row * row_bytes],
            };
            for row in pixels.chunks_exact(row_bytes).skip(first_row).take(BAND_ROWS) {
                write_row(previous, row)?;
                previous = row;
            }
        }
        Rows::Painted(painter) => {
            // The row above the band (painted again: one row in BAND_ROWS),
            // then each row of the band, into two row buffers in turn.
            let (mut previous, mut row) = (zeros.clone(), zeros.clone());
            if first_row > 0 {
                painter.paint_row(first_row - 1, &mut previous);
            }
            let height = painter.image().height() as usize;
            for y in first_row..(first_row + BAND_ROWS).min(height) {
                painter.paint_row(y, &mut row);
                write_row(&previous, &row)?;
                std::mem::swap(&mut previous, &mut row);
            }
        }
    }
    Ok(Band { zlib: compressor.finish()?.into_inner(), filtered_len })
}

/// Joins the bands' zlib streams into one (see the module docs), handing
/// `emit` its pieces in order.
fn join_zlib(bands: &[Band], mut emit: impl FnMut(&[u8])) {
    emit(&[0x78, 0x01]);
    let mut adler = 1;
    for (index, band) in bands.iter().enumerate() {
        let (block, checksum) = band.zlib[2..].split_at(band.zlib.len() - 6);
        match block.split_first() {
            // Not the final block any more: clear BFINAL, its first bit.
            Some((&first, rest)) if index + 1 < bands.len() => {
                emit(&[first & !1]);
                emit(rest);
                // fdeflate's end-of-block code ends in a 1 bit, so the zero
                // bits above the highest set bit of the last byte are padding.
                let padding = block.last().map_or(0, |byte| byte.leading_zeros());
                // An empty stored block: 3 header bits of 0, in the padding
                // if there is room and else in a byte of their own, then
                // LEN, NLEN.
                if padding < 3 {
                    emit(&[0]);
                }
                emit(&[0x00, 0x00, 0xff, 0xff]);
            }
            _ => emit(block),
        }
        let band_adler = u32::from_be_bytes([checksum[0], checksum[1], checksum[2], checksum[3]]);
        adler = adler32_combine(adler, band_adler, band.filtered_len);
    }
    emit(&adler.to_be_bytes());
}

const ADLER_BASE: u64 = 65_521;

/// The Adler-32 of `a ++ b` from those of `a` and of `b` (`b_len` bytes),
/// as zlib's `adler32_combine`.
fn adler32_combine(a: u32, b: u32, b_len: usize) -> u32 {
    let remainder = b_len as u64 % ADLER_BASE;
    let (a_low, a_high) = (u64::from(a & 0xffff), u64::from(a >> 16));
    let (b_low, b_high) = (u64::from(b & 0xffff), u64::from(b >> 16));
    let low = (a_low + b_low + ADLER_BASE - 1) % ADLER_BASE;
    let high = (remainder * a_low + a_high + b_high + ADLER_BASE - remainder) % ADLER_BASE;
    ((high << 16) | low) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic, photo-like test image: smooth ramps, flat areas
    /// (runs of zero after filtering) and some noise.
    fn image(width: u32, height: u32, channels: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        (0..height as usize)
            .flat_map(|y| (0..width as usize).map(move |x| (x, y)))
            .flat_map(|(x, y)| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let noise = if (x / 16 + y / 16) % 3 == 0 { (state % 7) as usize } else { 0 };
                let flat = x < width as usize / 4;
                (0..channels).map(move |c| match (flat, c) {
                    (_, 3) => (x * 7 + y) as u8,
                    (true, _) => 40 + c as u8,
                    _ => ((x * (c + 1) + y * 2 + noise) % 256) as u8,
                })
            })
            .collect()
    }

    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoded = image::load_from_memory_with_format(png, image::ImageFormat::Png).unwrap();
        let (width, height) = (decoded.width(), decoded.height());
        let pixels = if decoded.color().has_alpha() {
            decoded.into_rgba8().into_raw()
        } else {
            decoded.into_rgb8().into_raw()
        };
        (width, height, pixels)
    }

    /// A look's rows painted as the bands take them give the same file as
    /// the frame they make: RGB and RGBA (alpha from the source), over
    /// several bands, the first row of each filtered against the row above.
    #[test]
    fn painted_rows_encode_as_their_frame() {
        use crate::analyse::indexed::{IndexedImage, colour_table};
        use crate::decode::SourceImage;
        use crate::pixels::Channels;

        let (width, height) = (61, 2 * BAND_ROWS as u32 + 7);
        for channels in [Channels::Rgb, Channels::Rgba] {
            let pixels = image(width, height, channels.count());
            let source = SourceImage::from_pixels("t", width, height, channels, pixels).unwrap();
            let indexed = IndexedImage::new(&source);
            let table = || {
                colour_table(indexed.colours(), |_, colours, table| {
                    for (entry, colour) in table.iter_mut().zip(colours) {
                        *entry = [colour[1], colour[2] ^ 0x33, colour[0]];
                    }
                })
            };
            let mut frame = vec![0; source.pixels().len()];
            indexed.paint(&table(), &source, &mut frame);
            let mut expected = Vec::new();
            encode(&frame, width, height, channels.count(), true, &mut expected).unwrap();

            let painted = encode_painted(&RowPainter::new(&indexed, table(), &source), true).unwrap();
            assert!(painted[..] == expected[..], "{channels:?}");
            assert_eq!(decode(&painted).2, frame);
        }
    }

    #[test]
    fn every_shape_decodes_to_its_pixels() {
        // Fewer rows than a band, exactly one band, bands and a partial one;
        // one pixel wide; RGB and RGBA.
        for (width, height) in [(1, 1), (3, 2), (64, 128), (33, 129), (1, 300), (200, 385), (517, 1000)] {
            for channels in [3, 4] {
                let pixels = image(width, height, channels);
                let mut png = Vec::new();
                encode(&pixels, width, height, channels, false, &mut png).unwrap();
                assert_eq!(decode(&png), (width, height, pixels), "{width}x{height}x{channels}");
            }
        }
    }

    #[test]
    fn indexed_images_decode_to_their_palette_colours() {
        // Every bit depth, widths that leave part of a byte, several bands.
        let colours: Vec<[u8; 3]> = (0..=255u8).map(|i| [i, 255 - i, i.wrapping_mul(7)]).collect();
        for palette_size in [1, 2, 3, 4, 5, 16, 17, 256] {
            for (width, height) in [(1, 1), (7, 3), (9, 300), (130, 129)] {
                let indices: Vec<u8> =
                    (0..width * height).map(|i| ((i * 31 + i / width * 7) % palette_size) as u8).collect();
                let palette = &colours[..palette_size as usize];
                let mut png = Vec::new();
                encode_indexed(&indices, width, height, palette, true, &mut png).unwrap();
                let rgb: Vec<u8> = indices.iter().flat_map(|&i| palette[usize::from(i)]).collect();
                assert_eq!(decode(&png), (width, height, rgb), "{palette_size} colours, {width}x{height}");
            }
        }
        let mut png = Vec::new();
        assert!(encode_indexed(&[0; 6], 2, 2, &colours[..2], false, &mut png).is_err());
        assert!(encode_indexed(&[0; 4], 2, 2, &[], false, &mut png).is_err());
    }

    #[test]
    fn a_size_that_does_not_match_the_pixels_is_an_error() {
        let mut png = Vec::new();
        assert!(encode(&[0; 12], 2, 2, 3, false, &mut png).is_ok());
        for (width, height) in [(0, 2), (2, 0), (3, 2)] {
            assert!(encode(&[0; 12], width, height, 3, false, &mut png).is_err(), "{width}x{height}");
        }
    }

    #[test]
    fn the_same_bytes_at_any_thread_count() {
        let pixels = image(300, 700, 3);
        let encode_on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut png = Vec::new();
            pool.install(|| encode(&pixels, 300, 700, 3, false, &mut png)).unwrap();
            png
        };
        assert_eq!(encode_on(1), encode_on(4));
    }

    /// The zlib stream of a PNG's IDAT chunks, inflated: the filtered rows.
    fn filtered_rows(png: &[u8]) -> Vec<u8> {
        let mut zlib = Vec::new();
        let mut at = 8;
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            if &png[at + 4..at + 8] == b"IDAT" {
                zlib.extend_from_slice(&png[at + 8..at + 8 + len]);
            }
            at += 12 + len;
        }
        fdeflate::decompress_to_vec(&zlib).unwrap()
    }

    #[test]
    fn filters_and_compresses_as_the_png_crate_does() {
        // The png crate's own encoder with the same settings filters every
        // row the same way; the streams differ only at the band joins
        // (a block header and an empty stored block each, about 60 bytes).
        let (width, height) = (257, 300);
        let pixels = image(width, height, 3);
        let mut ours = Vec::new();
        encode(&pixels, width, height, 3, false, &mut ours).unwrap();
        let mut theirs = Vec::new();
        let mut encoder = png::Encoder::new(&mut theirs, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        encoder.set_filter(png::Filter::Adaptive);
        encoder.write_header().unwrap().write_image_data(&pixels).unwrap();
        assert!(filtered_rows(&ours) == filtered_rows(&theirs));
        let joins = height as usize / BAND_ROWS;
        assert!(ours.len() <= theirs.len() + 64 * joins, "{} vs {} bytes", ours.len(), theirs.len());
    }

    #[test]
    fn adler32_combines() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let adler = |bytes: &[u8]| {
            let (mut a, mut b) = (1u64, 0u64);
            for &byte in bytes {
                a = (a + u64::from(byte)) % ADLER_BASE;
                b = (b + a) % ADLER_BASE;
            }
            ((b << 16) | a) as u32
        };
        for split in [0, 1, 5552, 65_521, 99_999] {
            let (left, right) = data.split_at(split);
            assert_eq!(adler32_combine(adler(left), adler(right), right.len()), adler(&data), "{split}");
        }
    }
}
