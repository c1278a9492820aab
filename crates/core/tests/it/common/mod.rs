//! Helpers shared by the integration tests: fixture paths and running an
//! engine to completion.
#![allow(dead_code)]

use variegate_core::{Engine, Palette, SourceImage, Variation};

pub use variegate_test_support::fixture;

pub fn palettes() -> Vec<Palette> {
    Palette::load_list(fixture("palettes.json")).expect("fixture palettes parse")
}

/// Runs every palette and returns the variations in palette order.
pub fn run_all(engine: &Engine, image: SourceImage, palettes: Vec<Palette>) -> Vec<Variation> {
    let job = engine.start(image, palettes).expect("start");
    let mut variations: Vec<Variation> = job.variations().iter().collect();
    job.wait();
    variations.sort_by_key(|v| v.index);
    variations
}

/// Decodes an encoded variation back to RGBA pixels.
pub fn decode_rgba(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes).expect("variation decodes").to_rgba8()
}

/// A small PNG file whose header declares the given size: signature, IHDR,
/// an IDAT with a few bytes of data and IEND. Enough for a decoder to read
/// the header; far too little for the pixels it claims.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &[0x78, 0x9C, 0x03, 0x00][..]), (b"IEND", &[][..])] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Mean CIEDE2000 between two images of the same size, alpha ignored.
pub fn mean_ciede2000(a: &image::RgbaImage, b: &image::RgbaImage) -> f64 {
    use palette::color_difference::Ciede2000;
    use palette::{IntoColor, Lab, Srgb};
    use rayon::prelude::*;
    assert_eq!(a.dimensions(), b.dimensions());
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
