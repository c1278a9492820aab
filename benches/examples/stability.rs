//! The look's stability under noise: each photo, and the same photo with
//! +-1 level on a fifth of its pixels (what a re-encode or a colour-profile
//! round trip does), recoloured with the seven bundled palettes; for each
//! palette the mean CIEDE2000 between the two variations, then their mean
//! over the palettes. Two kinds of noise: each channel up or down on its
//! own, and the three channels the same way (a pixel a level lighter or
//! darker), which moves clusters more. The original's own
//! clustering, run twice with the same seed, moves its variations about
//! 0.18; issue 40 asks for at most 0.35 on each photo. Then the colour
//! profile photos of testdata/profiles/ (Display P3, Adobe RGB) converted
//! by the engine against the same values converted by littleCMS: at most
//! 1.5.
//!
//! ```text
//! cargo run --release -p variegate-benches --example stability [-- LOOK [PHOTO ...]]
//! ```
//!
//! LOOK is shift (the default) or soft; the photos default to coffee.png,
//! rocket.jpg and retina.jpg of testdata/ (a porcelain still life, a launch
//! in haze, an eye: three kinds of colour). The noise is the same on every
//! run (a fixed xorshift sequence).

use palette::color_difference::Ciede2000;
use palette::{IntoColor, Lab, Srgb};
use rayon::prelude::*;
use variegate_benches::{fixture, palettes};
use variegate_core::looks::LookSpec;
use variegate_core::{Engine, SourceImage};

fn main() {
    let mut args = std::env::args().skip(1);
    let look = args.next().unwrap_or_else(|| "shift".into());
    let mut photos: Vec<String> = args.collect();
    if photos.is_empty() {
        photos = ["coffee.png", "rocket.jpg", "retina.jpg"].map(String::from).to_vec();
    }
    let spec = LookSpec::named(&look).expect("shift, soft, remap or gradient");
    let engine = Engine::builder().look_spec(&spec).expect("a look").build().expect("an engine");
    println!("photo\tagainst\tmean CIEDE2000 ({look}; per palette)");
    for photo in photos {
        let path = if std::path::Path::new(&photo).exists() { photo.clone().into() } else { fixture(&photo) };
        let clean = engine.open(&path).expect("the photo decodes");
        let made = variations(&engine, clean.clone());
        for (kind, together) in [("noise per channel", false), ("noise all channels", true)] {
            let noisy = variations(&engine, with_noise(&clean, together));
            println!("{photo}\t{kind}\t{}", distances(&made, &noisy));
        }
    }
    // The engine's conversion of a tagged photo against littleCMS's of
    // the same values (testdata/profiles/, 300x200).
    for (tagged, stem) in [("p3.png", "p3"), ("adobe-rgb.jpg", "adobe-rgb")] {
        let ours =
            variations(&engine, engine.open(fixture(&format!("profiles/{tagged}"))).expect("it decodes"));
        let converted = engine.open(fixture(&format!("profiles/{stem}-in-srgb.png"))).expect("it decodes");
        let theirs = variations(&engine, converted);
        println!("profiles/{tagged}\tlittleCMS\t{}", distances(&ours, &theirs));
    }
}

/// Mean CIEDE2000 between two runs' variations: over the palettes, then
/// each palette's.
fn distances(a: &[image::RgbaImage], b: &[image::RgbaImage]) -> String {
    let each: Vec<f64> = a.iter().zip(b).map(|(a, b)| mean_ciede2000(a, b)).collect();
    let mean = each.iter().sum::<f64>() / each.len() as f64;
    let each: Vec<String> = each.iter().map(|d| format!("{d:.3}")).collect();
    format!("{mean:.3}\t({})", each.join(" "))
}

/// `image` with +-1 on the colour channels of one pixel in five, clamped:
/// each channel its own way, or all `together`.
fn with_noise(image: &SourceImage, together: bool) -> SourceImage {
    let channels = image.channels().count();
    let mut pixels = image.pixels().to_vec();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for pixel in pixels.chunks_exact_mut(channels) {
        let draw = next();
        if draw % 5 != 0 {
            continue;
        }
        // The colour channels only: alpha is copied by every look.
        for (channel, value) in pixel.iter_mut().take(3).enumerate() {
            let bit = if together { 8 } else { 8 + channel };
            let up = (draw >> bit) & 1 == 1;
            *value = if up { value.saturating_add(1) } else { value.saturating_sub(1) };
        }
    }
    SourceImage::from_pixels("noisy", image.width(), image.height(), image.channels(), pixels)
        .expect("the same size as the photo")
}

/// Each palette's variation, decoded, in palette order.
fn variations(engine: &Engine, image: SourceImage) -> Vec<image::RgbaImage> {
    let job = engine.start(image, palettes()).expect("a run starts");
    let mut made: Vec<_> = job.variations().iter().collect();
    job.wait();
    made.sort_by_key(|variation| variation.index);
    made.into_iter()
        .map(|variation| {
            let encoded = variation.result.expect("a variation");
            image::load_from_memory(encoded.bytes()).expect("it decodes").to_rgba8()
        })
        .collect()
}

/// Mean CIEDE2000 between two images of the same size, alpha ignored.
fn mean_ciede2000(a: &image::RgbaImage, b: &image::RgbaImage) -> f64 {
    let lab = |p: &[u8]| -> Lab { Srgb::new(p[0], p[1], p[2]).into_format::<f32>().into_color() };
    let total: f64 = a
        .as_raw()
        .par_chunks(4 * 4096)
        .zip(b.as_raw().par_chunks(4 * 4096))
        .map(|(a, b)| {
            let pairs = a.chunks_exact(4).zip(b.chunks_exact(4));
            pairs.map(|(p, q)| f64::from(lab(p).difference(lab(q)))).sum::<f64>()
        })
        .sum();
    total / f64::from(a.width() * a.height())
}
