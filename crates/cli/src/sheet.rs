//! The contact sheet: the original and every variation side by side, each
//! with its palette beneath. Its previews are gathered by an observer of
//! their own as the variations go by, before their bytes are stored.

use std::path::Path;

use variegate_core::{Preview, SheetTile, SourceImage, Variation, contact_sheet_png};
use variegate_store::{Manifest, Observer, Outcome};

use crate::setup::write_file;

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
