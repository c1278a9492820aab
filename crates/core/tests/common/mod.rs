//! Helpers shared by the integration tests: fixture paths and running an
//! engine to completion.
#![allow(dead_code)]

use std::path::PathBuf;

use variegate_core::{Engine, Palette, SourceImage, Variation};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)
}

pub fn palettes() -> Vec<Palette> {
    Palette::load_list(fixture("palettes.json")).expect("fixture palettes parse")
}

/// Runs every palette and returns the variations in palette order.
pub fn run_all(engine: &Engine, image: SourceImage, palettes: Vec<Palette>) -> Vec<Variation> {
    let job = engine.start(image, palettes).expect("start");
    let mut variations: Vec<Variation> = job.variations().iter().collect();
    job.wait().expect("run");
    variations.sort_by_key(|v| v.index);
    variations
}

/// Decodes an encoded variation back to RGBA pixels.
pub fn decode_rgba(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes).expect("variation decodes").to_rgba8()
}
