//! Small pictures: per-variation previews, and the contact sheet that
//! shows the original and every variation at a glance.

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgba, RgbaImage};

use crate::pixels::Channels;
use crate::pixels::Rgb8;
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

    fn rgba_at(&self, x: u32, y: u32) -> Rgba<u8> {
        let n = self.channels.count();
        let at = (y as usize * self.width as usize + x as usize) * n;
        match self.pixels.get(at..at + n) {
            Some([r, g, b]) => Rgba([*r, *g, *b, 255]),
            Some([r, g, b, a]) => Rgba([*r, *g, *b, *a]),
            _ => Rgba([0, 0, 0, 0]),
        }
    }
}

/// One cell of a contact sheet: a picture (none for a failed variation)
/// and the palette drawn beneath it.
#[derive(Clone, Copy, Debug)]
pub struct SheetTile<'a> {
    /// The picture; `None` draws an empty (failed) cell.
    pub picture: Option<&'a Preview>,
    /// The palette drawn beneath it; empty for the original.
    pub colors: &'a [Rgb8],
}

const CELL: u32 = 256;
const GAP: u32 = 12;
const SWATCH_HEIGHT: u32 = 28;
const COLUMNS: u32 = 4;
const BACKGROUND: Rgba<u8> = Rgba([32, 32, 36, 255]);
const EMPTY_CELL: Rgba<u8> = Rgba([64, 24, 24, 255]);

/// Memory [`contact_sheet_png`] takes for `tiles` tiles, at most: the
/// sheet's pixels and the PNG made of them (counted at their raw size).
pub fn contact_sheet_bytes(tiles: usize) -> u64 {
    let count = tiles.max(1) as u64;
    let (columns, rows) = (count.min(u64::from(COLUMNS)), count.div_ceil(u64::from(COLUMNS)));
    let width = columns * u64::from(CELL + GAP) + u64::from(GAP);
    let height = rows * u64::from(CELL + SWATCH_HEIGHT + 2 * GAP) + u64::from(GAP);
    2 * width * height * 4 + (1 << 20)
}

/// A PNG contact sheet: `tiles` in a grid of up to four columns, each
/// picture fitted into a 256-pixel cell with its palette as a strip of
/// equal swatches beneath. Pass the original first, with no colours.
pub fn contact_sheet_png(tiles: &[SheetTile<'_>]) -> Result<Vec<u8>, image::ImageError> {
    let count = tiles.len().max(1) as u32;
    let columns = count.min(COLUMNS);
    let rows = count.div_ceil(COLUMNS);
    let (cell_w, cell_h) = (CELL + GAP, CELL + SWATCH_HEIGHT + 2 * GAP);
    let mut sheet = RgbaImage::from_pixel(columns * cell_w + GAP, rows * cell_h + GAP, BACKGROUND);

    for (i, tile) in tiles.iter().enumerate() {
        let (left, top) = (GAP + (i as u32 % COLUMNS) * cell_w, GAP + (i as u32 / COLUMNS) * cell_h);
        match tile.picture {
            Some(picture) => {
                // Scaled up or down to fill the cell on its longest side.
                let longest = picture.width.max(picture.height).max(1);
                let [width, height] =
                    [picture.width, picture.height].map(|s| (s * CELL / longest).clamp(1, CELL));
                let pixels = resize(
                    &picture.pixels,
                    (picture.width, picture.height),
                    picture.channels,
                    (width, height),
                );
                let fitted = Preview { width, height, channels: picture.channels, pixels };
                // Centred, resting on its swatches, alpha blended over the background.
                let (dx, dy) = (left + (CELL - fitted.width) / 2, top + CELL - fitted.height);
                for y in 0..fitted.height {
                    for x in 0..fitted.width {
                        let px = fitted.rgba_at(x, y);
                        sheet.put_pixel(dx + x, dy + y, over(px, BACKGROUND));
                    }
                }
            }
            None => fill(&mut sheet, left, top, CELL, CELL, EMPTY_CELL),
        }
        let n = tile.colors.len() as u32;
        for (j, colour) in tile.colors.iter().enumerate() {
            let j = j as u32;
            let (x0, x1) = (left + j * CELL / n, left + (j + 1) * CELL / n);
            let [r, g, b] = colour.0;
            fill(&mut sheet, x0, top + CELL + GAP / 2, x1 - x0, SWATCH_HEIGHT, Rgba([r, g, b, 255]));
        }
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png).write_image(
        sheet.as_raw(),
        sheet.width(),
        sheet.height(),
        ExtendedColorType::Rgba8,
    )?;
    Ok(png)
}

fn fill(sheet: &mut RgbaImage, x: u32, y: u32, width: u32, height: u32, colour: Rgba<u8>) {
    for yy in y..y + height {
        for xx in x..x + width {
            sheet.put_pixel(xx, yy, colour);
        }
    }
}

fn over(px: Rgba<u8>, background: Rgba<u8>) -> Rgba<u8> {
    let a = u32::from(px[3]);
    let mix = |c: usize| ((u32::from(px[c]) * a + u32::from(background[c]) * (255 - a) + 127) / 255) as u8;
    Rgba([mix(0), mix(1), mix(2), 255])
}
