//! A batch job embedding variegate as a library: no async, no CLI.
//!
//! `cargo run --release -p variegate-cli --example batch -- IMAGE PALETTES OUT`

use bytes::Bytes;
use variegate_core::{Engine, Palette};
use variegate_uploader::{EncodedFile, PaletteInfo, SourceInfo, Store, Upload, Uploader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [image, palettes, out] = args.as_slice() else {
        return Err("usage: batch IMAGE PALETTES OUT".into());
    };

    let engine = Engine::builder().threads(2).build()?;
    let image = engine.open(image)?;
    let palettes = Palette::load_list(palettes)?;
    let source = SourceInfo {
        path: image.name().into(),
        stem: image.stem().into(),
        sha256: image.sha256_hex(),
        width: image.width(),
        height: image.height(),
        format: image.format_name().into(),
    };
    let total = palettes.len();

    let uploader = Uploader::new(Store::from_location(out)?, 8)?;
    let job = engine.start(image, palettes)?;
    // Each variation is stored while the pool makes the next ones.
    let uploads = job.variations().iter().map(|variation| Upload {
        index: variation.index,
        palette: PaletteInfo {
            name: variation.palette.name.clone(),
            colors: variation.palette.colors.iter().map(|c| c.to_string()).collect(),
            description: variation.palette.description.clone(),
        },
        file: variation
            .result
            .map(|encoded| EncodedFile {
                content_type: encoded.content_type().into(),
                extension: encoded.format().extension().into(),
                bytes: Bytes::from_owner(encoded),
            })
            .map_err(|error| error.to_string()),
        thumbnail: None,
        timings_ms: Default::default(),
    });
    let mut report = uploader.store_all(&source, total, uploads, |_outcome| {});
    uploader.write_manifest(&mut report);
    job.wait()?;

    println!(
        "{} stored, {} failed, in {}",
        report.manifest.stored, report.manifest.failed, report.manifest.folder
    );
    Ok(())
}
