//! Fuzzing on the stable toolchain: real PNG, JPEG and WebP files and
//! palette JSON, mutated (bits flipped, lengths and sizes overwritten,
//! slices cut, repeated or spliced from another file), through the decoder
//! (alone, and as the engine runs it, marking a PNG's colours as its rows
//! arrive) and the palette parser. Every input must give a value or a typed error:
//! no panic, no hang, and no allocation beyond what the pixel budget allows.
//!
//! `cargo test` runs it for VARIEGATE_FUZZ_SECONDS (default 10; CI 60);
//! a long run: `VARIEGATE_FUZZ_SECONDS=3600 cargo test --release -p
//! variegate-core --test fuzz -- --nocapture`. An input that fails is saved
//! under `target/fuzz-failures/` and named in the failure.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use variegate_core::decoding::DecodeOptions;
use variegate_core::{Engine, Palette, SourceImage};
use variegate_test_support::fixture;
use variegate_test_support::fuzzing::{CountingAllocator, LIVE, PEAK, Rng, keep, mutate};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The pixel budget the decoder is given: 4 megapixels.
const MAX_PIXELS: u64 = 4 << 20;
/// What decoding within that budget may allocate at most: the decoded
/// image and its conversions (16 bytes a pixel covers 16-bit RGBA, then
/// 8-bit RGBA, then a turned or converted copy), plus decoders' own tables.
const MAX_BYTES: usize = 16 * MAX_PIXELS as usize + (64 << 20);
/// Longer than any input here may take, even unoptimised.
const SLOW: Duration = Duration::from_secs(10);

fn seeds(names: &[&str]) -> Vec<(String, Vec<u8>)> {
    names.iter().map(|name| (name.to_string(), std::fs::read(fixture(name)).expect("seed"))).collect()
}

#[test]
fn mutated_images_and_palettes_give_values_or_errors() {
    let seconds = std::env::var("VARIEGATE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let images = seeds(&[
        "oriented/upright.png",
        "oriented/exif6.jpg",
        "oriented/exif8.png",
        "oriented/exif3.webp",
        "profiles/p3.png",
        "profiles/adobe-rgb.jpg",
        "animated/animated.png",
        "animated/animated.webp",
        "logo.png",
    ]);
    let palettes = seeds(&["palettes.json", "palettes-as-written.json", "bad/bad-colour.json"]);

    let engines = [false, true].map(|lenient| {
        Engine::builder().threads(2).max_pixels(MAX_PIXELS).lenient(lenient).build().expect("engine")
    });

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut rng = Rng(0x5EED_F00D_CAFE_D00D);
    let (mut tried, mut decoded, mut refused, mut parsed) = (0u64, 0u64, 0u64, 0u64);
    let mut largest_peak = 0;
    while Instant::now() < deadline {
        tried += 1;
        let (name, seed) = &images[rng.below(images.len())];
        let other = &images[rng.below(images.len())].1;
        let input = mutate(&mut rng, seed, other);
        let lenient = rng.below(2) == 1;

        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let started = Instant::now();
        let through_engine = rng.below(2) == 1;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let options = DecodeOptions { max_pixels: MAX_PIXELS, lenient, ..DecodeOptions::default() };
            match through_engine {
                true => engines[usize::from(lenient)].decode(&input, "fuzz"),
                false => SourceImage::decode_with(&input, "fuzz", &options),
            }
            .map(|image| image.pixels().len())
        }));
        let (elapsed, peak) = (started.elapsed(), PEAK.load(Ordering::Relaxed).saturating_sub(before));
        largest_peak = largest_peak.max(peak);
        match outcome {
            Ok(Ok(_)) => decoded += 1,
            Ok(Err(error)) => {
                refused += 1;
                let message = error.to_string();
                assert!(!message.contains('\n') && message.starts_with("fuzz: "), "{message}");
            }
            Err(_) => panic!("decoding a mutation of {name} panicked: {}", keep("decode", tried, &input)),
        }
        assert!(elapsed < SLOW, "a mutation of {name} took {elapsed:?}: {}", keep("slow", tried, &input));
        assert!(
            peak <= MAX_BYTES,
            "a mutation of {name} allocated {peak} bytes at once: {}",
            keep("memory", tried, &input)
        );

        let (name, seed) = &palettes[rng.below(palettes.len())];
        let other = &palettes[rng.below(palettes.len())].1;
        let input = mutate(&mut rng, seed, other);
        let text = String::from_utf8_lossy(&input);
        match catch_unwind(|| Palette::parse_list(&text, "fuzz.json")) {
            Ok(Ok(_)) => parsed += 1,
            Ok(Err(error)) => assert!(!error.to_string().contains('\n'), "{error}"),
            Err(_) => panic!("parsing a mutation of {name} panicked: {}", keep("palette", tried, &input)),
        }
    }
    eprintln!(
        "fuzz: {tried} mutated images in {seconds} s ({decoded} decoded, {refused} refused), \
         {parsed} of {tried} mutated palette files parsed; largest allocation at once {:.1} MB",
        largest_peak as f64 / 1e6
    );
    assert!(decoded > 0 && refused > 0, "the mutations reach both outcomes");
}
