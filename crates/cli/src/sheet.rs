//! The contact sheet: the original and every variation side by side, each
//! with its palette beneath. Its previews are gathered by an observer of
//! their own as the variations go by, before their bytes are stored.

use std::path::Path;

use variegate_core::image::codecs::png::PngEncoder;
use variegate_core::image::{ExtendedColorType, ImageEncoder, ImageError, Rgba, RgbaImage};
use variegate_core::{Preview, Rgb8, SourceImage, Variation};
use variegate_store::{Manifest, Observer, Outcome};

use crate::output::write_file;

/// Side of the previews drawn on a contact sheet.
pub const SHEET_PREVIEW: u32 = 256;

/// The original's preview and each variation's, by palette.
pub struct SheetPreviews {
    original: Preview,
    variations: Vec<Option<Preview>>,
}

impl SheetPreviews {
    pub fn new(image: &SourceImage, palettes: usize) -> SheetPreviews {
        SheetPreviews { original: image.preview(SHEET_PREVIEW), variations: vec![None; palettes] }
    }

    /// Draws the sheet of what `manifest` records and writes it, whole or
    /// not at all, to `path`.
    pub fn write(&self, path: &Path, manifest: &Manifest) -> anyhow::Result<()> {
        let mut tiles = vec![SheetTile { picture: Some(&self.original), colors: &[] }];
        tiles.extend(manifest.variations.iter().zip(&self.variations).map(|(outcome, preview)| SheetTile {
            picture: preview.as_ref(),
            colors: &outcome.palette.colors,
        }));
        let sheet = contact_sheet_png(&tiles)?;
        Ok(write_file(path, &sheet)?)
    }
}

impl Observer for SheetPreviews {
    fn made(&mut self, variation: &mut Variation) {
        if let Some(slot) = self.variations.get_mut(variation.index) {
            *slot = variation.preview.take();
        }
    }
    fn finished(&mut self, _outcome: &Outcome) {}
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
pub fn contact_sheet_png(tiles: &[SheetTile<'_>]) -> Result<Vec<u8>, ImageError> {
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
                let fitted = picture.resized(width, height);
                // Centred, resting on its swatches, alpha blended over the background.
                let (dx, dy) = (left + (CELL - fitted.width) / 2, top + CELL - fitted.height);
                for y in 0..fitted.height {
                    for x in 0..fitted.width {
                        let px = rgba_at(&fitted, x, y);
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

/// The pixel at (`x`, `y`) of `picture` as RGBA.
fn rgba_at(picture: &Preview, x: u32, y: u32) -> Rgba<u8> {
    let n = picture.channels.count();
    let at = (y as usize * picture.width as usize + x as usize) * n;
    match picture.pixels.get(at..at + n) {
        Some([r, g, b]) => Rgba([*r, *g, *b, 255]),
        Some([r, g, b, a]) => Rgba([*r, *g, *b, *a]),
        _ => Rgba([0, 0, 0, 0]),
    }
}
