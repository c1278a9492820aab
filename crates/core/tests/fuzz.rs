//! Fuzzing on the stable toolchain: real PNG, JPEG and WebP files and
//! palette JSON, mutated (bits flipped, lengths and sizes overwritten,
//! slices cut, repeated or spliced from another file), through the decoder
//! and the palette parser. Every input must give a value or a typed error:
//! no panic, no hang, and no allocation beyond what the pixel budget allows.
//!
//! `cargo test` runs it for VARIEGATE_FUZZ_SECONDS (default 10; CI 60);
//! a long run: `VARIEGATE_FUZZ_SECONDS=3600 cargo test --release -p
//! variegate-core --test fuzz -- --nocapture`. An input that fails is saved
//! under `target/fuzz-failures/` and named in the failure.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::fixture;
use variegate_core::{DecodeOptions, Palette, SourceImage};

/// Counts the bytes live, and the most at once since `PEAK` was last set.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The pixel budget the decoder is given: 4 megapixels.
const MAX_PIXELS: u64 = 4 << 20;
/// What decoding within that budget may allocate at most: the decoded
/// image and its conversions (16 bytes a pixel covers 16-bit RGBA, then
/// 8-bit RGBA, then a turned or converted copy), plus decoders' own tables.
const MAX_BYTES: usize = 16 * MAX_PIXELS as usize + (64 << 20);
/// Longer than any input here may take, even unoptimised.
const SLOW: Duration = Duration::from_secs(10);

/// xorshift64*: a deterministic stream of numbers for the mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four mutations of `input`; `other` is a second seed to splice from.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if data.is_empty() {
            break;
        }
        let at = rng.below(data.len());
        match rng.below(6) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = [0x00, 0xFF, 0x7F, 0x80, 0x01][rng.below(5)],
            // Sizes and lengths (big-endian in PNG, little-endian in WebP):
            // nothing, huge, and 2048 and 2000, just within the budget.
            2 => {
                let value: [u8; 4] = [0u32, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, 0xFFFF, 0x4000, 0x0800, 0x07D0]
                    [rng.below(8)]
                .to_be_bytes();
                let value = if rng.below(2) == 0 { value } else { [value[3], value[2], value[1], value[0]] };
                let end = (at + 4).min(data.len());
                data[at..end].copy_from_slice(&value[..end - at]);
            }
            3 => data.truncate(at),
            4 => {
                let len = rng.below(64.min(data.len() - at) + 1);
                let slice = data[at..at + len].to_vec();
                let to = rng.below(data.len());
                data.splice(to..to, slice);
            }
            _ => {
                let from = rng.below(other.len());
                let len = rng.below(256.min(other.len() - from) + 1);
                let end = (at + len).min(data.len());
                data.splice(at..end, other[from..from + len].iter().copied());
            }
        }
    }
    data
}

fn seeds(names: &[&str]) -> Vec<(String, Vec<u8>)> {
    names.iter().map(|name| (name.to_string(), std::fs::read(fixture(name)).expect("seed"))).collect()
}

/// Saves a failing input and says where.
fn keep(kind: &str, iteration: u64, input: &[u8]) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{iteration}.bin"));
    let _ = std::fs::write(&path, input);
    path.display().to_string()
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
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let options = DecodeOptions { max_pixels: MAX_PIXELS, lenient, ..DecodeOptions::default() };
            SourceImage::decode_with(&input, "fuzz", &options).map(|image| image.pixels().len())
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
