//! Looks: the ways a palette can recolour an image.
//!
//! A look works in two steps. [`Look::prepare`] runs once per image and does
//! everything that does not depend on a palette (clustering, colour
//! conversions, once per distinct colour). [`PreparedLook::recolour`] then
//! runs once per palette, in parallel, and should cost one pass over the
//! pixels; a look that paints from a table of colours also offers that
//! pass a row at a time ([`PreparedLook::painter`]), for the PNG encoder.

mod dither;
mod gradient;
// The edge-preserving filter of the soft look.
mod guided;
mod remap;
mod shift;
mod soft;
mod spec;

pub use dither::DitherMethod;
pub use gradient::GradientLook;
pub use remap::{Dither, RemapLook};
pub use shift::{ShiftLook, ShiftOptions};
pub use soft::SoftLook;
pub(crate) use spec::ANALYSIS_SIZE;
pub use spec::{
    LOOK_OPTIONS, LookName, LookOption, LookSpec, LookSpecError, OptionKind, OptionValue, look_option,
};

use rayon::prelude::*;

use crate::analyse::AnalysisOptions;
use crate::analyse::indexed::IndexedImage;
pub use crate::analyse::indexed::RowPainter;
use crate::colour::srgb8_to_lab;
use crate::decode::SourceImage;
use crate::error::LookError;
use crate::palette::Palette;

/// A way of recolouring an image with a palette.
pub trait Look: Send + Sync + std::fmt::Debug {
    /// A short name, e.g. `shift`; it starts the recipe part of stored keys.
    fn name(&self) -> &str;

    /// Every option that changes the look's output, as a JSON object, e.g.
    /// `{"dither": true}`. It goes into the [`Recipe`](crate::Recipe): two
    /// looks with the same name and options must give the same bytes.
    fn options(&self) -> serde_json::Value;

    /// Bytes a pixel this look holds per image for `palettes`, beyond the
    /// colour index and per-colour tables every look may keep: an upper
    /// bound, for the memory budget. Default 0.
    fn memory_per_pixel(&self, palettes: &[Palette]) -> u64 {
        let _ = palettes;
        0
    }

    /// Whether [`Look::prepare`] indexes the image's colours (every look
    /// but dithering): the engine then marks a PNG's colours while it
    /// decodes, the first step of that index. Default true.
    fn indexes_colours(&self) -> bool {
        true
    }

    /// Whether the clustering's seed ([`crate::looks::AnalysisOptions::seed`])
    /// changes this look's output: an engine refuses a seed given for a
    /// look that ignores it, which would change its key and not its bytes.
    /// Default false.
    fn uses_seed(&self) -> bool {
        false
    }

    /// Whether `palette` can work with this look, before any image is
    /// read: why not, if it cannot (e.g. too many colours to dither).
    /// Palettes without colours are refused by the engine for every look.
    /// Default: every palette can.
    fn check_palette(&self, palette: &Palette) -> Result<(), String> {
        let _ = palette;
        Ok(())
    }

    /// Per-image work shared by every palette. `palettes` are all the
    /// palettes of the run (some may be empty), so that a look can prepare
    /// exactly what they need and no more.
    fn prepare(
        &self,
        image: &SourceImage,
        palettes: &[Palette],
        analysis: &AnalysisOptions,
    ) -> Result<Box<dyn PreparedLook>, LookError>;
}

/// A look prepared for one image.
pub trait PreparedLook: Send + Sync {
    /// Writes the image recoloured with `palette` into `out`, which has the
    /// source's size and layout. Alpha, where present, must be copied as is.
    /// `palette` has at least one colour. Runs inside the engine's pool, so
    /// rayon parallelism here shares its threads.
    fn recolour(&self, image: &SourceImage, palette: &Palette, out: &mut [u8]) -> Result<(), LookError>;

    /// For a look whose every pixel is a colour of the palette: writes each
    /// pixel's index in `palette` (at most 256 colours) into `out`, one byte
    /// a pixel, so that the engine can store an indexed-colour PNG, a third
    /// of the data or less. `None` (the default): the look cannot, and is
    /// recoloured with [`PreparedLook::recolour`].
    fn palette_indices(
        &self,
        image: &SourceImage,
        palette: &Palette,
        out: &mut [u8],
    ) -> Option<Result<(), LookError>> {
        let _ = (image, palette, out);
        None
    }

    /// For a look that paints every pixel from a table of the image's
    /// distinct colours: that table for `palette`, as a painter that the
    /// engine's PNG encoder asks for one row at a time, each while it is in
    /// cache, instead of a frame painted whole and read back. It must paint
    /// what [`PreparedLook::recolour`] writes. `None` (the default): the
    /// look cannot, and is recoloured into a frame.
    fn painter<'a>(
        &'a self,
        image: &'a SourceImage,
        palette: &Palette,
    ) -> Option<Result<RowPainter<'a>, LookError>> {
        let _ = (image, palette);
        None
    }
}

/// Each distinct colour's CIELAB, computed once per image and shared by
/// every palette.
pub(crate) fn colour_lab(indexed: &IndexedImage) -> Vec<[f32; 3]> {
    let mut lab = Vec::new();
    indexed.colours().par_iter().map(|&colour| srgb8_to_lab(colour)).collect_into_vec(&mut lab);
    lab
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every look with a painter paints, row by row, what it recolours
    /// into a frame: RGB (coffee.png) and RGBA (logo.png) photos, every
    /// bundled palette.
    #[test]
    fn painters_paint_what_looks_recolour() {
        let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let palettes = Palette::load_list(testdata.join("palettes.json")).unwrap();
        let looks: [Box<dyn Look>; 3] =
            [Box::new(ShiftLook::default()), Box::new(GradientLook), Box::new(RemapLook::new(false))];
        for name in ["coffee.png", "logo.png"] {
            let image = SourceImage::open(testdata.join(name), 1 << 26).unwrap();
            let row_bytes = image.width() as usize * image.channels().count();
            for look in &looks {
                let prepared = look.prepare(&image, &palettes, &AnalysisOptions::default()).unwrap();
                for palette in &palettes {
                    let mut frame = vec![0; image.pixels().len()];
                    prepared.recolour(&image, palette, &mut frame).unwrap();
                    let painter = prepared.painter(&image, palette).unwrap().unwrap();
                    let mut row = vec![0; row_bytes];
                    for (y, expected) in frame.chunks_exact(row_bytes).enumerate() {
                        painter.paint_row(y, &mut row);
                        assert!(row == expected, "{name}, {}, {}, row {y}", look.name(), palette.name);
                    }
                }
            }
        }
    }
}
