//! Decoding a PNG while the pool's other threads mark its colours, band
//! by band as the rows arrive: the analysis's first pass, done during the
//! serial decode.

use std::io::Cursor;
use std::sync::{Mutex, PoisonError};

use crate::colour::marks;
use crate::large_buffer::LargeBuffer;
use crate::pixels::Channels;

/// Rows per band handed to the marking while a PNG decodes.
const MARK_ROWS: usize = 32;

/// Decodes an 8-bit RGB or RGBA PNG (of `channels`, as its header said),
/// not interlaced and without a transparency chunk, row by row, and marks
/// its colours ([`marks::mark_rows`]) band by band on the pool's other
/// threads as the rows arrive. Those rows are the bytes the image crate
/// gives for such a file. `None` for any other PNG and on any error: the
/// image crate then decodes it, and names what is wrong.
pub(super) fn decode_png_marking(
    bytes: &[u8],
    channels: Channels,
    max_alloc: u64,
) -> Option<(LargeBuffer<u8>, LargeBuffer<u64>)> {
    let limits = png::Limits { bytes: usize::try_from(max_alloc).unwrap_or(usize::MAX) };
    let mut reader = png::Decoder::new_with_limits(Cursor::new(bytes), limits).read_info().ok()?;
    let info = reader.info();
    let colour_type = match channels {
        Channels::Rgb => png::ColorType::Rgb,
        Channels::Rgba => png::ColorType::Rgba,
    };
    let simple = info.color_type == colour_type
        && info.bit_depth == png::BitDepth::Eight
        && !info.interlaced
        && info.trns.is_none();
    if !simple {
        return None;
    }
    let row_bytes = info.width as usize * channels.count();
    let mut pixels = LargeBuffer::zeroed(row_bytes.checked_mul(info.height as usize)?);
    let marks = Mutex::new(LargeBuffer::zeroed(marks::WORDS));
    let decoded = rayon::scope(|scope| {
        let mut rest = &mut pixels[..];
        while !rest.is_empty() {
            let (band, after) = rest.split_at_mut((MARK_ROWS * row_bytes).min(rest.len()));
            for row in band.chunks_exact_mut(row_bytes) {
                reader.read_row(row).ok()??;
            }
            let (band, marks): (&[u8], _) = (band, &marks);
            // Bands are marked one at a time, in any order: OR is.
            scope.spawn(move |_| {
                let mut marks = marks.lock().unwrap_or_else(PoisonError::into_inner);
                marks::mark_rows(band, channels.count(), &mut marks);
            });
            rest = after;
        }
        Some(())
    });
    decoded?;
    Some((pixels, marks.into_inner().unwrap_or_else(PoisonError::into_inner)))
}
