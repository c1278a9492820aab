//! Inputs shared by the benchmarks: the photos in `testdata/`, the
//! 2048x2048 frame the service this engine replaces worked on, and the
//! colour-rich images it is mostly fed (generated or resized with a good
//! filter: 10-30% as many distinct colours as pixels, where the frame has 4%).

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
    png_file(&frame_2048())
}

/// `coffee.png` (600x400) resized with Lanczos to `width` wide, 3:2: at 2048
/// (2048x1365) 294 936 distinct colours, at 1024 (1024x683)
/// 163 324 (23% of its pixels).
pub fn coffee_rich(width: u32) -> SourceImage {
    let photo = image::open(fixture("coffee.png")).expect("testdata/coffee.png decodes").to_rgb8();
    let height = ((u64::from(width) * 400 + 300) / 600) as u32;
    let resized = image::imageops::resize(&photo, width, height, FilterType::Lanczos3);
    SourceImage::from_pixels(&format!("coffee-{width}"), width, height, Channels::Rgb, resized.into_raw())
        .expect("an RGB image")
}

/// The benchmarks' workloads, by name: the retina frame (`frame-2048`) and
/// the colour-rich coffee at 2048 and 1024 wide (`coffee-2048`,
/// `coffee-1024`).
pub fn workloads() -> Vec<(&'static str, SourceImage)> {
    vec![("frame-2048", frame_2048()), ("coffee-2048", coffee_rich(2048)), ("coffee-1024", coffee_rich(1024))]
}

/// The named workload ([`workloads`]), or `None`.
pub fn workload(name: &str) -> Option<SourceImage> {
    match name {
        "frame-2048" => Some(frame_2048()),
        "coffee-2048" => Some(coffee_rich(2048)),
        "coffee-1024" => Some(coffee_rich(1024)),
        _ => None,
    }
}

/// `image` encoded as a PNG file (the image crate's default settings), as a
/// job would receive it.
pub fn png_file(image: &SourceImage) -> Vec<u8> {
    let mut png = Vec::new();
    let channels = match image.channels() {
        Channels::Rgb => image::ExtendedColorType::Rgb8,
        Channels::Rgba => image::ExtendedColorType::Rgba8,
    };
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(image.pixels(), image.width(), image.height(), channels)
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
