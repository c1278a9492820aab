//! The shift look reproduces the original service: every variation of
//! coffee.png lands within mean CIEDE2000 1.0 of the reference made by an
//! independent rebuild of the original algorithm.

mod common;

use common::{decode_rgba, fixture, palettes, run_all};
use palette::color_difference::Ciede2000;
use palette::{IntoColor, Lab, Srgb};
use variegate_core::Engine;

fn mean_ciede2000(a: &image::RgbaImage, b: &image::RgbaImage) -> f32 {
    assert_eq!(a.dimensions(), b.dimensions());
    let lab = |p: &image::Rgba<u8>| -> Lab { Srgb::new(p[0], p[1], p[2]).into_format::<f32>().into_color() };
    let total: f64 = a.pixels().zip(b.pixels()).map(|(p, q)| f64::from(lab(p).difference(lab(q)))).sum();
    (total / f64::from(a.width() * a.height())) as f32
}

#[test]
fn coffee_matches_reference_within_one_ciede2000() {
    let engine = Engine::builder().build().unwrap();
    let image = engine.open(fixture("coffee.png")).unwrap();
    let variations = run_all(&engine, image, palettes());
    assert_eq!(variations.len(), 7);
    let mut report = Vec::new();
    for variation in &variations {
        let ours = decode_rgba(variation.result.as_ref().unwrap().bytes());
        let reference_path = fixture(&format!("reference/coffee/{:02}.png", variation.index));
        let reference = image::open(&reference_path).unwrap().to_rgba8();
        let difference = mean_ciede2000(&ours, &reference);
        report.push(format!("{:02} {:<14} {difference:.3}", variation.index, variation.palette.name));
        eprintln!("{}", report.last().unwrap());
    }
    for (variation, line) in variations.iter().zip(&report) {
        let ours = decode_rgba(variation.result.as_ref().unwrap().bytes());
        let reference =
            image::open(fixture(&format!("reference/coffee/{:02}.png", variation.index))).unwrap().to_rgba8();
        assert!(mean_ciede2000(&ours, &reference) <= 1.0, "over 1.0: {line}");
    }
}
