//! Inputs shared by the benchmarks: the photos in `testdata/`, and the
//! 2048x2048 frame the service this engine replaces worked on.

use std::path::PathBuf;

use image::imageops::FilterType;
use variegate_core::{Channels, Palette, SourceImage};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata").join(name)
}

/// The seven palettes of the original service.
pub fn palettes() -> Vec<Palette> {
    Palette::load_list(fixture("palettes.json")).expect("testdata/palettes.json parses")
}

/// `retina.jpg` (a 1411x1411 photo) upscaled to 2048x2048 RGB: the size of
/// the generated images the original service recoloured.
pub fn frame_2048() -> SourceImage {
    let photo = image::open(fixture("retina.jpg")).expect("testdata/retina.jpg decodes").to_rgb8();
    let frame = image::imageops::resize(&photo, 2048, 2048, FilterType::CatmullRom);
    SourceImage::from_pixels("retina-2048", 2048, 2048, Channels::Rgb, frame.into_raw())
        .expect("2048x2048 RGB")
}

/// The frame encoded as a PNG file, as a job would receive it.
pub fn frame_2048_png() -> Vec<u8> {
    let frame = frame_2048();
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(frame.pixels(), 2048, 2048, image::ExtendedColorType::Rgb8)
        .expect("PNG encodes");
    png
}

/// One PNG encode as the codec floor does it: the image crate's fast
/// deflate and adaptive filter, the engine's settings, on one thread.
pub fn encode_png(frame: &SourceImage) -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut out = Vec::with_capacity(frame.pixels().len() / 2);
    let channels = match frame.channels() {
        Channels::Rgb => image::ExtendedColorType::Rgb8,
        Channels::Rgba => image::ExtendedColorType::Rgba8,
    };
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(frame.pixels(), frame.width(), frame.height(), channels)
        .expect("PNG encodes");
    out
}

use image::ImageEncoder;
