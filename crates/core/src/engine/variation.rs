//! Making one variation: recolour into the lane's frame, encode (indexed
//! PNG where the look gives palette indices) at full size or at each size
//! asked for, and the thumbnail and preview asked for. Every failure, a
//! panic included, becomes that palette's error.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Engine, panic_message};
use crate::decode::SourceImage;
use crate::encode::banded_png::encode_painted;
use crate::encode::{EncodeOptions, EncodedImage, OutputFormat, encode_indexed};
use crate::error::{LookError, VariationError};
use crate::look::{PreparedLook, RowPainter};
use crate::palette::Palette;
use crate::pixels::Channels;
use crate::preview::Preview;
use crate::resize::{fit, resize, shrink_in_place};

/// One palette's result, sent down the channel the moment it is done.
#[derive(Debug)]
pub struct Variation {
    /// Position of the palette in the list the run was given, from 0.
    pub index: usize,
    /// The palette it was made with.
    pub palette: Palette,
    /// The encoded image, or why there is none. With sizes
    /// ([`EngineBuilder::sizes`](super::EngineBuilder::sizes)), the largest.
    pub result: Result<EncodedImage, VariationError>,
    /// With sizes, the smaller ones, ascending (`result` is the largest).
    pub sizes: Vec<EncodedImage>,
    /// A small copy encoded like the variation, when the engine was asked
    /// for thumbnails ([`EngineBuilder::thumbnail`](super::EngineBuilder::thumbnail)).
    pub thumbnail: Option<EncodedImage>,
    /// A small copy's pixels, when the engine was asked for previews
    /// ([`EngineBuilder::previews`](super::EngineBuilder::previews)), e.g. for a contact sheet.
    pub preview: Option<Preview>,
    /// Time spent on it, per stage.
    pub timings: VariationTimings,
}

/// Time spent on one variation, per stage. Serialised in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariationTimings {
    /// Recolouring the pixels. Where a PNG's rows are painted as the
    /// encoder takes them (the default shift look's PNG, say), the look's
    /// per-palette table alone: the painting is in `encode`.
    #[serde(with = "crate::millis")]
    pub recolour: Duration,
    /// Encoding the file (and its thumbnail), and painting rows the
    /// encoder paints.
    #[serde(with = "crate::millis")]
    pub encode: Duration,
}

impl Engine {
    /// A variation that was not attempted.
    pub(super) fn unmade(&self, index: usize, palette: &Palette, error: VariationError) -> Variation {
        Variation {
            index,
            palette: palette.clone(),
            result: Err(error),
            sizes: Vec::new(),
            thumbnail: None,
            preview: None,
            timings: VariationTimings::default(),
        }
    }

    pub(super) fn variation(
        &self,
        image: &SourceImage,
        look: &dyn PreparedLook,
        index: usize,
        palette: &Palette,
        frame: &mut Vec<u8>,
    ) -> Variation {
        let mut timings = VariationTimings::default();
        let made = catch_unwind(AssertUnwindSafe(|| self.make(image, look, palette, &mut timings, frame)))
            .unwrap_or_else(|payload| {
                Err(VariationError::Panicked { name: palette.name.clone(), reason: panic_message(&*payload) })
            });
        let (result, sizes, thumbnail, preview) = match made {
            Ok(Made { encoded, smaller, thumbnail, preview }) => (Ok(encoded), smaller, thumbnail, preview),
            Err(error) => (Err(error), Vec::new(), None, None),
        };
        Variation { index, palette: palette.clone(), result, sizes, thumbnail, preview, timings }
    }

    /// Recolours into `frame`: palette indices where the look can give them
    /// and the file can hold them (a PNG of an image without alpha); else,
    /// for a PNG with nothing else made from its pixels, the look's painter
    /// where it has one, which paints no frame; and otherwise pixels.
    fn recolour<'a>(
        &self,
        image: &'a SourceImage,
        look: &'a dyn PreparedLook,
        palette: &Palette,
        frame: &mut Vec<u8>,
    ) -> Result<Recoloured<'a>, LookError> {
        // A look writes every byte of its frame, so a lane's frame is not
        // cleared between palettes: zeroing it cost a pass over memory each.
        let pixels = image.width() as usize * image.height() as usize;
        if self.inner.config.format.takes_indices(image.channels()) {
            if frame.len() < pixels {
                frame.resize(pixels, 0);
            }
            if let Some(result) = look.palette_indices(image, palette, &mut frame[..pixels]) {
                frame.truncate(pixels);
                return result.map(|()| Recoloured::Indices);
            }
        }
        let config = &self.inner.config;
        let pixels_only = config.thumbnail.is_none() && config.previews.is_none() && config.sizes.is_empty();
        if config.format == OutputFormat::Png
            && pixels_only
            && let Some(painter) = look.painter(image, palette)
        {
            return painter.map(Recoloured::Painted);
        }
        frame.resize(image.pixels().len(), 0);
        look.recolour(image, palette, frame).map(|()| Recoloured::Pixels)
    }

    /// Recolours into `frame`, encodes, and makes the thumbnail and preview
    /// asked for.
    fn make(
        &self,
        image: &SourceImage,
        look: &dyn PreparedLook,
        palette: &Palette,
        timings: &mut VariationTimings,
        frame: &mut Vec<u8>,
    ) -> Result<Made, VariationError> {
        let name = || palette.name.clone();
        if palette.colors.is_empty() {
            return Err(VariationError::EmptyPalette { name: name() });
        }
        let (config, gauge) = (&self.inner.config, &self.inner.gauge);
        let (size, channels) = ((image.width(), image.height()), image.channels());
        let started = Instant::now();
        let recoloured = {
            let _span = tracing::info_span!("recolour", palette = %palette.name).entered();
            self.recolour(image, look, palette, frame)
        }
        .map_err(|LookError(reason)| VariationError::Look { name: name(), reason })?;
        timings.recolour = started.elapsed();

        let started = Instant::now();
        let _span = tracing::info_span!("encode", palette = %palette.name).entered();
        let encode_error = |error: &dyn std::fmt::Display| VariationError::Encode {
            name: name(),
            format: config.format.name(),
            reason: error.to_string(),
        };
        let encode = |pixels: &[u8], width, height, channels| {
            let mut bytes = Vec::with_capacity(pixels.len() / 2);
            let options = EncodeOptions { srgb: image.is_srgb_tagged(), background: config.background };
            match config.format.encode_with(pixels, width, height, channels, &options, &mut bytes) {
                Ok(()) => Ok(EncodedImage::new(bytes, config.format, width, height, gauge)),
                Err(error) => Err(encode_error(&error)),
            }
        };
        let (encoded, smaller, (thumbnail, preview)) = if !config.sizes.is_empty() {
            if let Recoloured::Indices = recoloured {
                // Sizes are resized from pixels (a PNG of them is RGB).
                *frame = indices_to_pixels(frame, palette);
            }
            // From the full-size pixels, before the sizes shrink them.
            let copies = self.small_copies(frame, size, channels, &encode)?;
            let mut smaller = self.sizes(frame, size, channels, &encode, &encode_error)?;
            let encoded = smaller.pop().ok_or_else(|| encode_error(&"no size asked for"))?;
            (encoded, smaller, copies)
        } else {
            let encoded = self.full_size(recoloured, image, palette, frame, &encode, &encode_error)?;
            (encoded, Vec::new(), self.small_copies(frame, size, channels, &encode)?)
        };
        timings.encode = started.elapsed();
        tracing::debug!(
            recolour_ms = timings.recolour.as_secs_f64() * 1e3,
            encode_ms = timings.encode.as_secs_f64() * 1e3,
            bytes = encoded.bytes().len(),
            "variation done"
        );
        Ok(Made { encoded, smaller, thumbnail, preview })
    }

    /// The variation at full size, as `recolour` left it: pixels, painted
    /// rows, or palette indices (then turned into pixels in `frame` where a
    /// thumbnail or preview is made from them).
    fn full_size(
        &self,
        recoloured: Recoloured<'_>,
        image: &SourceImage,
        palette: &Palette,
        frame: &mut Vec<u8>,
        encode: &Encode<'_>,
        encode_error: &EncodeErrorOf<'_>,
    ) -> Result<EncodedImage, VariationError> {
        let (config, gauge) = (&self.inner.config, &self.inner.gauge);
        let (size, channels) = ((image.width(), image.height()), image.channels());
        Ok(match recoloured {
            Recoloured::Pixels => encode(frame, size.0, size.1, channels)?,
            Recoloured::Painted(painter) => {
                let bytes =
                    encode_painted(&painter, image.is_srgb_tagged()).map_err(|error| encode_error(&error))?;
                EncodedImage::new(bytes, config.format, size.0, size.1, gauge)
            }
            Recoloured::Indices => {
                let colours: Vec<[u8; 3]> = palette.colors.iter().map(|c| c.0).collect();
                let mut bytes = Vec::with_capacity(frame.len() / 4);
                let srgb = image.is_srgb_tagged();
                encode_indexed(frame, size.0, size.1, &colours, srgb, &mut bytes)
                    .map_err(|error| encode_error(&error))?;
                let encoded = EncodedImage::new(bytes, config.format, size.0, size.1, gauge);
                if config.thumbnail.is_some() || config.previews.is_some() {
                    // Thumbnails and previews are made from the pixels.
                    *frame = indices_to_pixels(frame, palette);
                }
                encoded
            }
        })
    }

    /// The variation at each size asked for, ascending. Made largest first,
    /// each smaller one shrunk from the one above it (a smaller source, a
    /// cheaper resize), in the lane's frame itself where the shrink allows
    /// (a band at a time, over rows already read), so that a run with sizes
    /// holds no second image; a side at or above the image's is the image
    /// itself, made once. The frame holds the smallest size afterwards (the
    /// next palette's recolour writes the whole image again).
    fn sizes(
        &self,
        frame: &mut Vec<u8>,
        size: (u32, u32),
        channels: Channels,
        encode: &Encode<'_>,
        encode_error: &EncodeErrorOf<'_>,
    ) -> Result<Vec<EncodedImage>, VariationError> {
        let longest = size.0.max(size.1);
        let mut sides: Vec<u32> = self.inner.config.sizes.iter().map(|&side| side.min(longest)).collect();
        sides.dedup();
        let mut files = Vec::with_capacity(sides.len());
        let mut current = size;
        for &side in sides.iter().rev() {
            let to = fit(current.0, current.1, side);
            if to != current {
                // A band that cannot be resized would be a bug (whole images
                // of the stated size resize): this palette's error.
                let shrunk = shrink_in_place(frame, current, channels, to)
                    .map_err(|()| encode_error(&"a band of the image could not be resized"))?;
                if !shrunk {
                    *frame = resize(frame, current, channels, to);
                }
                current = to;
            }
            files.push(encode(frame, current.0, current.1, channels)?);
        }
        files.reverse();
        Ok(files)
    }

    /// The thumbnail and preview asked for, from the variation's pixels.
    fn small_copies(
        &self,
        frame: &[u8],
        size: (u32, u32),
        channels: Channels,
        encode: &Encode<'_>,
    ) -> Result<(Option<EncodedImage>, Option<Preview>), VariationError> {
        let config = &self.inner.config;
        let thumbnail_and_pixels = match config.thumbnail {
            Some(side) => {
                let small = Preview::fitting(frame, size, channels, side);
                Some((encode(&small.pixels, small.width, small.height, channels)?, small))
            }
            None => None,
        };
        Ok(match (thumbnail_and_pixels, config.previews) {
            // A preview the thumbnail's size is the thumbnail's pixels.
            (Some((thumbnail, small)), Some(side)) if config.thumbnail == Some(side) => {
                (Some(thumbnail), Some(small))
            }
            (thumbnail, side) => (
                thumbnail.map(|(thumbnail, _)| thumbnail),
                side.map(|side| Preview::fitting(frame, size, channels, side)),
            ),
        })
    }
}

/// What `Engine::recolour` wrote into the frame, or how the pixels will be painted.
enum Recoloured<'a> {
    /// The image's pixels, in its layout.
    Pixels,
    /// One palette index a pixel.
    Indices,
    /// Nothing yet: the encoder paints each row as it takes it.
    Painted(RowPainter<'a>),
}

/// A reason as this variation's encoding error.
type EncodeErrorOf<'a> = dyn Fn(&dyn std::fmt::Display) -> VariationError + 'a;

/// One palette index a pixel as the palette's RGB pixels. (The look gives
/// indices within the palette; were one not, the panic would be caught as
/// this palette's error.)
fn indices_to_pixels(indices: &[u8], palette: &Palette) -> Vec<u8> {
    let colours: Vec<[u8; 3]> = palette.colors.iter().map(|c| c.0).collect();
    indices.iter().flat_map(|&i| colours[usize::from(i)]).collect()
}

/// Encodes pixels (width, height, channels) as the variation's format.
type Encode<'a> = dyn Fn(&[u8], u32, u32, Channels) -> Result<EncodedImage, VariationError> + 'a;

/// What making one variation produced.
struct Made {
    encoded: EncodedImage,
    smaller: Vec<EncodedImage>,
    thumbnail: Option<EncodedImage>,
    preview: Option<Preview>,
}
