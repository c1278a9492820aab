//! Looks: the ways a palette can recolour an image.
//!
//! A look works in two steps. [`Look::prepare`] runs once per image and does
//! everything that does not depend on a palette (clustering, colour
//! conversions, once per distinct colour). [`PreparedLook::recolour`] then
//! runs once per palette, in parallel, and should cost one pass over the
//! pixels.

mod gradient;
mod remap;
mod shift;

pub use gradient::GradientLook;
pub use remap::RemapLook;
pub use shift::{ShiftLook, ShiftOptions};

use rayon::prelude::*;

use crate::analysis::AnalysisOptions;
use crate::colour::srgb8_to_lab;
use crate::error::LookError;
use crate::indexed::IndexedImage;
use crate::palette::Palette;
use crate::source::SourceImage;

/// A way of recolouring an image with a palette.
pub trait Look: Send + Sync + std::fmt::Debug {
    /// A short name, e.g. `shift`; it starts the recipe part of stored keys.
    fn name(&self) -> &str;

    /// Every option that changes the look's output, as a JSON object, e.g.
    /// `{"dither": true}`. It goes into the [`Recipe`](crate::Recipe): two
    /// looks with the same name and options must give the same bytes.
    fn options(&self) -> serde_json::Value;

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
}

/// Each distinct colour's CIELAB, computed once per image and shared by
/// every palette.
pub(crate) fn colour_lab(indexed: &IndexedImage) -> Vec<[f32; 3]> {
    let mut lab = Vec::new();
    indexed.colours().par_iter().map(|&colour| srgb8_to_lab(colour)).collect_into_vec(&mut lab);
    lab
}
