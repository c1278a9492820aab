//! The glue: the engine's variations become the uploader's uploads, drained
//! straight from the engine's bounded channel.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use variegate_core::{EncodedImage, Engine, LookError, Palette, Preview, SheetTile, SourceImage, Variation};
use variegate_uploader::{EncodedFile, PaletteInfo, SourceInfo, StoreReport, Upload, Uploader};

use crate::progress::Progress;

/// A finished run: the store report, and what a contact sheet needs.
pub struct Run {
    pub report: StoreReport,
    /// Per palette, in order: its colours and its thumbnail, if it has one.
    pub previews: Vec<(Palette, Option<Preview>)>,
}

impl Run {
    /// The original first, then every variation with its palette.
    pub fn sheet_tiles<'a>(&'a self, original: &'a Preview) -> Vec<SheetTile<'a>> {
        let mut tiles = vec![SheetTile { picture: Some(original), colors: &[] }];
        tiles.extend(
            self.previews
                .iter()
                .map(|(palette, preview)| SheetTile { picture: preview.as_ref(), colors: &palette.colors }),
        );
        tiles
    }
}

/// Recolours `image` with every palette and stores each variation as it is
/// finished, then the manifest with the run's timings. Fails only if the
/// run stopped before any variation was made.
pub fn run(
    engine: &Engine,
    uploader: &Uploader,
    image: SourceImage,
    palettes: Vec<Palette>,
    store_thumbnails: bool,
    progress: &mut Progress,
) -> Result<Run, LookError> {
    let started = Instant::now();
    let source = SourceInfo {
        path: image.name().to_string(),
        stem: image.stem().to_string(),
        sha256: image.sha256_hex(),
        width: image.width(),
        height: image.height(),
        format: image.format_name().to_string(),
    };
    let decode = image.decode_time();
    let mut previews: Vec<(Palette, Option<Preview>)> = palettes.iter().map(|p| (p.clone(), None)).collect();
    let total = palettes.len();
    let job = engine.start(image, palettes).map_err(|e| LookError(format!("cannot start the run: {e}")))?;
    let uploads = job.variations().iter().map(|mut variation| {
        // The pixels stay for the contact sheet; the encoded bytes move on to the store.
        let (preview, encoded) = match variation.thumbnail.take() {
            Some(thumbnail) => (Some(thumbnail.preview), Some(thumbnail.encoded)),
            None => (None, None),
        };
        let encoded_thumbnail = encoded.filter(|_| store_thumbnails).map(|bytes| EncodedFile {
            bytes: Bytes::from(bytes),
            content_type: engine.format().content_type().into(),
            extension: engine.format().extension().into(),
        });
        if let Some(slot) = previews.get_mut(variation.index) {
            slot.1 = preview;
        }
        upload(variation, encoded_thumbnail)
    });
    let mut report = uploader.store_all(&source, total, uploads, |outcome| progress.outcome(outcome));
    let summary = job.wait()?;
    report.manifest.timings_ms = BTreeMap::from([
        ("decode".to_string(), millis(decode)),
        ("analyse".to_string(), millis(summary.analyse)),
        ("total".to_string(), millis(decode + started.elapsed())),
    ]);
    uploader.write_manifest(&mut report);
    Ok(Run { report, previews })
}

fn upload(variation: Variation, thumbnail: Option<EncodedFile>) -> Upload {
    let timings_ms = BTreeMap::from([
        ("recolour".to_string(), millis(variation.timings.recolour)),
        ("encode".to_string(), millis(variation.timings.encode)),
    ]);
    let palette = variation.palette;
    Upload {
        index: variation.index,
        palette: PaletteInfo {
            name: palette.name,
            colors: palette.colors.iter().map(|c| c.to_string()).collect(),
            description: palette.description,
        },
        file: variation.result.map(encoded_file).map_err(|error| error.to_string()),
        thumbnail,
        timings_ms,
    }
}

fn encoded_file(encoded: EncodedImage) -> EncodedFile {
    EncodedFile {
        content_type: encoded.content_type().to_string(),
        extension: encoded.format().extension().to_string(),
        // Zero-copy, and the engine's buffer gauge keeps counting the
        // buffer until the put is done with it.
        bytes: Bytes::from_owner(encoded),
    }
}

fn millis(duration: Duration) -> f64 {
    // Microsecond resolution: enough, and readable in the manifest.
    (duration.as_secs_f64() * 1e6).round() / 1e3
}
