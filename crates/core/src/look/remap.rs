//! The "remap" look, as ImageMagick's `-remap` or Pillow's
//! `quantize(palette=...)`: every pixel becomes its nearest palette colour in
//! CIELAB, optionally dithered ([`super::dither`]).
//!
//! Without dithering a pixel's colour decides its output, so the nearest
//! palette colour is found once per distinct colour ([`crate::analyse::indexed`]).
//! Dithering works on the pixels themselves and prepares nothing per image.

use rayon::prelude::*;

use super::dither::{DitherMethod, DitherOutput, MAX_DITHER_COLOURS, dither, nearest};
use super::spec::{OptionValue, check_value};
use super::{Look, PreparedLook, RowPainter, colour_lab};
use crate::analyse::AnalysisOptions;
use crate::analyse::indexed::{ColourTable, IndexedImage, colour_table};
use crate::colour::srgb_f32_to_lab;
use crate::decode::SourceImage;
use crate::error::{BuildError, LookError};
use crate::palette::Palette;
use crate::recipe::option_number;

/// Dithering: a method and how strongly it is applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dither {
    /// Error diffusion or an ordered pattern. Default Floyd–Steinberg.
    pub method: DitherMethod,
    /// From 0 (none: plain remap) to 1 (the method's full error or spread).
    /// Default 1.
    pub strength: f32,
}

impl Default for Dither {
    fn default() -> Self {
        Dither { method: DitherMethod::FloydSteinberg, strength: 1.0 }
    }
}

/// Maps every pixel to its nearest palette colour.
#[derive(Clone, Copy, Debug, Default)]
pub struct RemapLook {
    /// None also for a strength of 0, so that it shares plain remap's recipe.
    dither: Option<Dither>,
}

impl RemapLook {
    /// `dither`: Floyd–Steinberg at full strength, or none.
    pub fn new(dither: bool) -> RemapLook {
        RemapLook { dither: dither.then(Dither::default) }
    }

    /// Remap with `dither`; its strength must be between 0 and 1.
    pub fn dithered(dither: Dither) -> Result<RemapLook, BuildError> {
        check_value("dither_strength", &OptionValue::Number(dither.strength)).map_err(|reason| {
            BuildError::Option { option: "dither", reason: format!("strength {reason}") }
        })?;
        Ok(RemapLook { dither: (dither.strength > 0.0).then_some(dither) })
    }
}

impl Look for RemapLook {
    fn name(&self) -> &str {
        "remap"
    }

    fn check_palette(&self, palette: &Palette) -> Result<(), String> {
        match self.dither {
            Some(_) if palette.colors.len() > MAX_DITHER_COLOURS => Err(format!(
                "dithering takes palettes of at most {MAX_DITHER_COLOURS} colours, not {}",
                palette.colors.len()
            )),
            _ => Ok(()),
        }
    }

    fn options(&self) -> serde_json::Value {
        // "png": PNG files of images without alpha are indexed-colour
        // (palette) PNGs; it keeps their keys apart from the RGB ones of
        // versions before.
        match self.dither {
            None => serde_json::json!({ "dither": false, "png": "indexed" }),
            Some(Dither { method, strength }) => serde_json::json!({
                "dither": method.name(),
                "strength": option_number(strength),
                "png": "indexed",
            }),
        }
    }

    fn indexes_colours(&self) -> bool {
        self.dither.is_none()
    }

    fn prepare(
        &self,
        image: &SourceImage,
        _palettes: &[Palette],
        _analysis: &AnalysisOptions,
    ) -> Result<Box<dyn PreparedLook>, LookError> {
        if let Some(dither) = self.dither {
            return Ok(Box::new(PreparedDither(dither)));
        }
        let indexed = IndexedImage::new(image);
        let lab = colour_lab(&indexed);
        Ok(Box::new(PreparedRemap { indexed, lab }))
    }
}

/// The palette's colours in CIELAB, to compare with.
fn palette_lab(palette: &Palette) -> Vec<[f32; 3]> {
    palette.colors.iter().map(|c| srgb_f32_to_lab(c.0.map(f32::from))).collect()
}

struct PreparedRemap {
    indexed: IndexedImage,
    /// Per distinct colour, its CIELAB colour.
    lab: Vec<[f32; 3]>,
}

impl PreparedRemap {
    /// Per distinct colour, the index of the palette colour nearest to it.
    fn nearest_table(&self, palette: &Palette) -> Vec<usize> {
        let targets = palette_lab(palette);
        let mut table = Vec::new();
        self.lab.par_iter().map(|&lab| nearest(&targets, lab)).collect_into_vec(&mut table);
        table
    }

    /// Each distinct colour's nearest colour of `palette`.
    fn colour_table(&self, palette: &Palette) -> ColourTable {
        let nearest = self.nearest_table(palette);
        colour_table(self.indexed.colours(), |first, _, table| {
            for (entry, &index) in table.iter_mut().zip(&nearest[first..]) {
                *entry = palette.colors[index].0;
            }
        })
    }
}

impl PreparedLook for PreparedRemap {
    fn recolour(&self, image: &SourceImage, palette: &Palette, out: &mut [u8]) -> Result<(), LookError> {
        self.indexed.paint(&self.colour_table(palette), image, out);
        Ok(())
    }

    fn painter<'a>(
        &'a self,
        image: &'a SourceImage,
        palette: &Palette,
    ) -> Option<Result<RowPainter<'a>, LookError>> {
        Some(Ok(RowPainter::new(&self.indexed, self.colour_table(palette), image)))
    }

    fn palette_indices(
        &self,
        _image: &SourceImage,
        palette: &Palette,
        out: &mut [u8],
    ) -> Option<Result<(), LookError>> {
        if palette.colors.len() > 256 {
            return None;
        }
        let nearest: Vec<u8> = self.nearest_table(palette).into_iter().map(|i| i as u8).collect();
        self.indexed.paint_indices(&nearest, out);
        Some(Ok(()))
    }
}

struct PreparedDither(Dither);

impl PreparedLook for PreparedDither {
    fn recolour(&self, image: &SourceImage, palette: &Palette, out: &mut [u8]) -> Result<(), LookError> {
        let rgb: Vec<[u8; 3]> = palette.colors.iter().map(|c| c.0).collect();
        let Dither { method, strength } = self.0;
        let (width, channels) = (image.width() as usize, image.channels().count());
        dither(
            method,
            strength,
            (&rgb, &palette_lab(palette)),
            (image.pixels(), width, channels),
            (out, DitherOutput::Colours),
        )
    }

    fn palette_indices(
        &self,
        image: &SourceImage,
        palette: &Palette,
        out: &mut [u8],
    ) -> Option<Result<(), LookError>> {
        if palette.colors.len() > 256 {
            return None;
        }
        let rgb: Vec<[u8; 3]> = palette.colors.iter().map(|c| c.0).collect();
        let Dither { method, strength } = self.0;
        let (width, channels) = (image.width() as usize, image.channels().count());
        let (src, lab) = ((image.pixels(), width, channels), palette_lab(palette));
        Some(dither(method, strength, (&rgb, &lab), src, (out, DitherOutput::Indices)))
    }
}
