//! The glue: the engine's variations become the uploader's uploads, drained
//! straight from the engine's bounded channel.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use variegate_core::{Engine, LookError, Palette, SourceImage, Variation};
use variegate_uploader::{EncodedFile, PaletteInfo, SourceInfo, StoreReport, Upload, Uploader};

/// Recolours `image` with every palette and stores each variation as it is
/// finished. Returns the store report, or the error that stopped the run
/// before any variation was made.
pub fn run(
    engine: &Engine,
    uploader: &Uploader,
    image: SourceImage,
    palettes: Vec<Palette>,
) -> Result<StoreReport, LookError> {
    let source = SourceInfo {
        path: image.name().to_string(),
        stem: image.stem().to_string(),
        sha256: image.sha256_hex(),
        width: image.width(),
        height: image.height(),
        format: image.format_name().to_string(),
    };
    let total = palettes.len();
    let job = engine.start(image, palettes).map_err(|e| LookError(format!("cannot start the run: {e}")))?;
    let report = uploader.store_all(&source, total, job.variations().iter().map(upload));
    job.wait()?;
    Ok(report)
}

fn upload(variation: Variation) -> Upload {
    let timings_ms = BTreeMap::from([
        ("recolour".to_string(), millis(variation.timings.recolour)),
        ("encode".to_string(), millis(variation.timings.encode)),
    ]);
    let file = variation
        .result
        .map(|encoded| EncodedFile {
            content_type: encoded.content_type().to_string(),
            extension: encoded.format().extension().to_string(),
            // Zero-copy, and the engine's buffer gauge keeps counting the
            // buffer until the put is done with it.
            bytes: Bytes::from_owner(encoded),
        })
        .map_err(|error| error.to_string());
    let palette = variation.palette;
    Upload {
        index: variation.index,
        palette: PaletteInfo {
            name: palette.name,
            colors: palette.colors.iter().map(|c| c.to_string()).collect(),
            description: palette.description,
        },
        file,
        timings_ms,
    }
}

fn millis(duration: Duration) -> f64 {
    // Microsecond resolution: enough, and readable in the manifest.
    (duration.as_secs_f64() * 1e6).round() / 1e3
}
