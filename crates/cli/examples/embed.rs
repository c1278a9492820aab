//! A batch job embedding variegate as a library: no async, no CLI.
//!
//! `cargo run --release -p variegate-cli --example embed -- IMAGE PALETTES OUT`

use variegate_core::{Engine, Palette};
use variegate_store::{Store, Uploader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [image, palettes, out] = args.as_slice() else {
        return Err("usage: embed IMAGE PALETTES OUT".into());
    };

    let engine = Engine::builder().threads(2).build()?;
    let uploader = Uploader::new(Store::from_location(out)?)?;
    uploader.check()?; // the store takes objects, before any pixel work
    let job = engine.start(engine.open(image)?, Palette::load_list(palettes)?)?;
    // Each variation is stored while the pool makes the next ones; then the manifest.
    let report = uploader.store_job(job);
    let manifest = &report.manifest;
    println!("{} of {} stored in {}", manifest.stored, manifest.variations.len(), manifest.folder);
    Ok(())
}
