//! Real jobs for the uploader's tests: the engine on the bundled photos,
//! and an observer that keeps what it sees.

use std::collections::BTreeMap;
use std::path::Path;

use variegate_core::{Channels, Engine, Job, Palette, SourceImage, Variation};
use variegate_store::{Observer, Outcome};

pub use crate::fixture;

/// The seven palettes of the original service.
pub fn palettes() -> Vec<Palette> {
    Palette::load_list(fixture("palettes.json")).unwrap()
}

/// The bundled palettes' colours under names and descriptions that need
/// percent-encoding in headers.
pub fn named_palettes() -> Vec<Palette> {
    let names = [
        "Sunset Coral",
        "Deep Ocean",
        "Forest Floor",
        "Neon Arcade",
        "Desert Clay",
        "Mono Slate",
        "Café Crème",
    ];
    palettes()
        .into_iter()
        .zip(names)
        .map(|(palette, name)| Palette {
            name: name.into(),
            description: Some(format!("{name}, à la carte")),
            ..palette
        })
        .collect()
}

/// A job of `engine` on a bundled photo.
pub fn job(engine: &Engine, image: &str, palettes: Vec<Palette>) -> Job {
    engine.start(engine.open(fixture(image)).unwrap(), palettes).unwrap()
}

/// 2048x2048 of noise: its PNG does not compress, so it is over 8 MiB
/// and goes up in parts.
pub fn noise_2048() -> SourceImage {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let noise: Vec<u8> = (0..2048 * 2048 * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    SourceImage::from_pixels("noise", 2048, 2048, Channels::Rgb, noise).unwrap()
}

/// Keeps every variation's bytes as they go by, and counts outcomes.
#[derive(Default)]
pub struct Keep {
    pub bytes: BTreeMap<usize, Vec<u8>>,
    pub outcomes: Vec<Outcome>,
}

impl Observer for Keep {
    fn made(&mut self, variation: &mut Variation) {
        if let Ok(encoded) = &variation.result {
            self.bytes.insert(variation.index, encoded.bytes().to_vec());
        }
    }
    fn finished(&mut self, outcome: &Outcome) {
        self.outcomes.push(outcome.clone());
    }
}

/// Every file below `dir`, relative to it, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_str().unwrap().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
