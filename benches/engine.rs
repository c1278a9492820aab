//! Throughput of the engine on photos, against the codec floor. The
//! workloads (`variegate_benches::workloads`): the 2048x2048 retina frame
//! (4% as many distinct colours as pixels), and the colour-rich coffee at
//! 2048 and 1024 wide (Lanczos-resized: 11% and 23%).
//!
//! - `pipeline/<workload>/floor`: what any engine must spend on the job:
//!   decode the PNG once, PNG-encode the image 7 times with the engine's fast
//!   settings, write each file to a local folder; on the default pool.
//! - `pipeline/<workload>/engine`: the whole job on the same pool: decode,
//!   analyse, recolour 7 palettes, encode, write each variation.
//! - `kernel/<look>`: one palette's recolour of the frame on one thread
//!   (Mpixel/s), for each look, the per-image preparation done beforehand;
//!   `kernel/shift/<workload>` and `kernel/png-encode/<workload>` the same
//!   for the colour-rich workloads.
//! - `analysis/dominant-colours`: k-means of the frame (k 5);
//!   `analysis/prepare-shift/<workload>`: all of the shift look's per-image
//!   work.
//! - `decode/<file>`: reading an input into sRGB pixels, on the default pool:
//!   `rocket.jpg` (640x427, tagged Adobe RGB, so converted), `retina.jpg`
//!   (1411x1411, untagged) and the 2048x2048 frame as PNG.
//! - `scaling/7-palettes/N-threads`: the engine's run for 7 palettes on an
//!   image in memory; `scaling/1-palette/N-threads`: one palette's recolour,
//!   split into bands.
//!
//! After the benches, the medians are printed side by side with their ratios:
//! engine / floor, and 1 thread / 2 threads; then the same from the fastest
//! samples, the steadier figure on a shared machine.
//!
//! `cargo bench -p variegate-benches --bench engine`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use criterion::{Bencher, Criterion, Throughput};
use rayon::prelude::*;
use variegate_benches::{encode_png, fixture, frame_2048, frame_2048_png, palettes, png_file, workloads};
use variegate_core::looks::{
    AnalysisOptions, Dither, DitherMethod, GradientLook, Look, RemapLook, ShiftLook, SoftLook,
    dominant_colours,
};
use variegate_core::{Engine, OutputFormat, SourceImage};

/// Per bench, the time of one iteration in every sample, for the summary.
static SAMPLES: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

/// Times `routine` like `Bencher::iter`, and keeps the per-iteration times
/// under `name` for the summary.
fn timed<R>(b: &mut Bencher, name: &str, mut routine: impl FnMut() -> R) {
    b.iter_custom(|iterations| {
        let started = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(routine());
        }
        let elapsed = started.elapsed();
        let per_iteration = elapsed.as_secs_f64() / iterations as f64;
        SAMPLES.lock().unwrap().entry(name.to_owned()).or_default().push(per_iteration);
        elapsed
    });
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

/// A fresh folder for one bench's files.
fn folder(name: &str) -> PathBuf {
    let folder = std::env::temp_dir().join(format!("variegate-bench-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    folder
}

fn write(folder: &Path, index: usize, bytes: &[u8]) {
    std::fs::write(folder.join(format!("{index:02}.png")), bytes).unwrap();
}

fn pipeline(c: &mut Criterion) {
    let palettes = palettes();
    let engine = Engine::builder().build().unwrap();
    let threads = engine.threads();
    let workers = pool(threads);
    let (floor_files, engine_files) = (folder("floor"), folder("engine"));

    let mut group = c.benchmark_group("pipeline");
    group.sample_size(20);
    for (workload, image) in workloads() {
        let png = png_file(&image);
        group.throughput(Throughput::Elements(7 * u64::from(image.width() * image.height())));
        let floor = format!("pipeline/{workload}/floor/{threads}-threads");
        group.bench_function(format!("{workload}/floor/{threads}-threads"), |b| {
            timed(b, &floor, || {
                let frame = SourceImage::decode(&png, "frame.png", u64::MAX).unwrap();
                workers.install(|| {
                    (0..palettes.len())
                        .into_par_iter()
                        .for_each(|index| write(&floor_files, index, &encode_png(&frame)))
                });
            })
        });
        let whole = format!("pipeline/{workload}/engine/{threads}-threads");
        group.bench_function(format!("{workload}/engine/{threads}-threads"), |b| {
            timed(b, &whole, || {
                let image = engine.decode(&png, "frame.png").unwrap();
                let job = engine.start(image, palettes.clone()).unwrap();
                for variation in job.variations() {
                    write(&engine_files, variation.index, variation.result.unwrap().bytes());
                }
                job.wait();
            })
        });
    }
    group.finish();
    for folder in [floor_files, engine_files] {
        let _ = std::fs::remove_dir_all(folder);
    }
}

fn kernel(c: &mut Criterion) {
    let frame = frame_2048();
    let palettes = palettes();
    let one_thread = pool(1);
    let mut out = vec![0u8; frame.pixels().len()];

    let ordered = Dither { method: DitherMethod::Ordered, strength: 1.0 };
    let looks: [(&str, Box<dyn Look>); 6] = [
        ("shift", Box::new(ShiftLook::default())),
        ("soft", Box::new(SoftLook::default())),
        ("remap", Box::new(RemapLook::new(false))),
        ("remap-dither", Box::new(RemapLook::new(true))),
        ("remap-dither-ordered", Box::new(RemapLook::dithered(ordered).unwrap())),
        ("gradient", Box::new(GradientLook)),
    ];
    let mut group = c.benchmark_group("kernel");
    group.throughput(Throughput::Elements(u64::from(frame.width() * frame.height())));
    group.sample_size(20);
    for (name, look) in looks {
        let prepared =
            one_thread.install(|| look.prepare(&frame, &palettes, &AnalysisOptions::default())).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| one_thread.install(|| prepared.recolour(&frame, &palettes[0], &mut out)).unwrap())
        });
    }
    // What the engine runs for a PNG of an image without alpha: dithering
    // into palette indices, a byte a pixel.
    let prepared = one_thread
        .install(|| RemapLook::new(true).prepare(&frame, &palettes, &AnalysisOptions::default()))
        .unwrap();
    let mut indices = vec![0u8; frame.pixels().len() / 3];
    group.bench_function("remap-dither-indices", |b| {
        b.iter(|| one_thread.install(|| prepared.palette_indices(&frame, &palettes[0], &mut indices)))
    });
    // The codec's share of the same frame, for comparison: the image
    // crate's encoder, and the engine's (the same filter and compressor, in
    // bands of rows).
    let encode = "kernel/png-encode";
    group.bench_function("png-encode", |b| timed(b, encode, || encode_png(&frame).len()));
    // The shift look and the encode on the colour-rich workloads, where the
    // look's tables cover ten times the colours.
    let shift = ShiftLook::default();
    for (workload, image) in workloads().into_iter().skip(1) {
        let prepared =
            one_thread.install(|| shift.prepare(&image, &palettes, &AnalysisOptions::default())).unwrap();
        let mut out = vec![0u8; image.pixels().len()];
        group.throughput(Throughput::Elements(u64::from(image.width() * image.height())));
        let name = format!("kernel/shift/{workload}");
        group.bench_function(format!("shift/{workload}"), |b| {
            timed(b, &name, || {
                one_thread.install(|| prepared.recolour(&image, &palettes[0], &mut out)).unwrap()
            })
        });
        let name = format!("kernel/png-encode/{workload}");
        group.bench_function(format!("png-encode/{workload}"), |b| {
            timed(b, &name, || encode_png(&image).len())
        });
    }
    group.throughput(Throughput::Elements(u64::from(frame.width() * frame.height())));
    group.bench_function("png-encode-banded", |b| {
        b.iter(|| {
            let mut png = Vec::with_capacity(frame.pixels().len() / 2);
            one_thread.install(|| {
                OutputFormat::Png.encode(frame.pixels(), 2048, 2048, frame.channels(), &mut png).unwrap()
            });
            png.len()
        })
    });
    group.finish();
}

fn analysis(c: &mut Criterion) {
    let frame = frame_2048();
    let palettes = palettes();
    let workers = pool(rayon::current_num_threads());
    let mut group = c.benchmark_group("analysis");
    group.sample_size(20);
    let options = AnalysisOptions::default();
    group.bench_function("dominant-colours", |b| {
        b.iter(|| workers.install(|| dominant_colours(&frame, 5, &options)))
    });
    let shift = ShiftLook::default();
    for (workload, image) in workloads() {
        let name = format!("analysis/prepare-shift/{workload}");
        group.bench_function(format!("prepare-shift/{workload}"), |b| {
            timed(b, &name, || workers.install(|| shift.prepare(&image, &palettes, &options).map(drop)))
        });
    }
    let soft = SoftLook::default();
    group.bench_function("prepare-soft", |b| {
        b.iter(|| workers.install(|| soft.prepare(&frame, &palettes, &options).map(drop)))
    });
    group.finish();
}

fn scaling(c: &mut Criterion) {
    let frame = std::sync::Arc::new(frame_2048());
    let palettes = palettes();
    let mut out = vec![0u8; frame.pixels().len()];
    let mut group = c.benchmark_group("scaling");
    group.sample_size(10);
    for threads in [1, 2] {
        let engine = Engine::builder().threads(threads).build().unwrap();
        let name = format!("scaling/7-palettes/{threads}-threads");
        group.bench_function(format!("7-palettes/{threads}-threads"), |b| {
            timed(b, &name, || {
                let job = engine.start(frame.clone(), palettes.clone()).unwrap();
                let bytes: usize = job.variations().iter().map(|v| v.result.unwrap().bytes().len()).sum();
                job.wait();
                bytes
            })
        });
    }
    let prepared = ShiftLook::default().prepare(&frame, &palettes, &AnalysisOptions::default()).unwrap();
    // A few milliseconds an iteration: many samples, so one slowed by another
    // tenant of the machine does not move the median.
    group.sample_size(50);
    for threads in [1, 2] {
        let workers = pool(threads);
        let name = format!("scaling/1-palette/{threads}-threads");
        group.bench_function(format!("1-palette/{threads}-threads"), |b| {
            timed(b, &name, || workers.install(|| prepared.recolour(&frame, &palettes[0], &mut out)).unwrap())
        });
    }
    group.finish();
}

/// The medians side by side, and the ratios the performance targets are
/// stated in.
fn summary() {
    let samples = SAMPLES.lock().unwrap();
    let median = |name: &str| {
        let mut times = samples.get(name)?.clone();
        times.sort_by(f64::total_cmp);
        Some(times[times.len() / 2])
    };
    let ms = |seconds: f64| format!("{:.1} ms", seconds * 1e3);
    println!("\nsummary (medians)");
    let threads = rayon::current_num_threads();
    let mut pairs = Vec::new();
    for (workload, _) in workloads() {
        pairs.push((
            format!("pipeline/{workload}/engine/{threads}-threads"),
            format!("pipeline/{workload}/floor/{threads}-threads"),
            format!("{workload}: engine / codec floor"),
        ));
        pairs.push((
            format!("analysis/prepare-shift/{workload}"),
            format!("pipeline/{workload}/floor/{threads}-threads"),
            format!("{workload}: shift analysis / codec floor"),
        ));
    }
    for (workload, _) in workloads().into_iter().skip(1) {
        pairs.push((
            format!("kernel/shift/{workload}"),
            format!("kernel/png-encode/{workload}"),
            format!("{workload}: shift recolour / PNG encode, 1 thread"),
        ));
    }
    pairs.extend([
        ("kernel/png-encode".to_owned(), String::new(), "one PNG encode, 1 thread".to_owned()),
        (
            "scaling/7-palettes/1-threads".to_owned(),
            "scaling/7-palettes/2-threads".to_owned(),
            "7 palettes, 1 thread / 2 threads".to_owned(),
        ),
        (
            "scaling/1-palette/1-threads".to_owned(),
            "scaling/1-palette/2-threads".to_owned(),
            "1 palette, 1 thread / 2 threads".to_owned(),
        ),
    ]);
    for (a, b, what) in &pairs {
        match (median(a), median(b)) {
            (Some(x), Some(y)) => println!("  {what}: {} / {} = {:.2}x", ms(x), ms(y), x / y),
            (Some(x), None) => println!("  {what}: {}", ms(x)),
            _ => {}
        }
    }
    // On a shared machine other tenants only ever add time, so the fastest
    // sample is the steadiest estimate of what the code itself costs.
    let fastest =
        |name: &str| samples.get(name).and_then(|times| times.iter().copied().min_by(f64::total_cmp));
    println!("summary (fastest samples)");
    for (a, b, what) in &pairs {
        if let (Some(x), Some(y)) = (fastest(a), fastest(b)) {
            println!("  {what}: {} / {} = {:.2}x", ms(x), ms(y), x / y);
        }
    }
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    let inputs = [
        ("rocket.jpg", std::fs::read(fixture("rocket.jpg")).unwrap()),
        ("retina.jpg", std::fs::read(fixture("retina.jpg")).unwrap()),
        ("frame-2048.png", frame_2048_png()),
    ];
    for (name, bytes) in &inputs {
        let pixels = SourceImage::decode(bytes, name, 1 << 30).unwrap().pixels().len() as u64 / 3;
        group.throughput(Throughput::Elements(pixels));
        group.bench_function(*name, |b| {
            timed(b, &format!("decode/{name}"), || SourceImage::decode(bytes, name, 1 << 30).unwrap())
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    decode(&mut criterion);
    pipeline(&mut criterion);
    kernel(&mut criterion);
    analysis(&mut criterion);
    scaling(&mut criterion);
    criterion.final_summary();
    summary();
}
