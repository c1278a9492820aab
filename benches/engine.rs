//! Throughput of the engine on a 2048x2048 photo.
//!
//! - `kernel/<look>`: one palette's recolour on one thread (Mpixel/s), for
//!   each look: shift, remap, remap-dither, gradient.
//! - `run/7-palettes`: decode a 2048x2048 PNG, analyse, recolour and encode
//!   seven palettes on the default pool, into a consumer that drains the channel.
//!
//! `cargo bench -p variegate-benches --bench engine`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};
use rayon::prelude::*;
use variegate_benches::{frame_2048, frame_2048_png, palettes};
use variegate_core::{AnalysisOptions, Engine, GradientLook, Look, RemapLook, ShiftLook};

fn kernel(c: &mut Criterion) {
    let frame = frame_2048();
    let palettes = palettes();
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let mut out = vec![0u8; frame.pixels().len()];

    let looks: [(&str, Box<dyn Look>); 4] = [
        ("shift", Box::new(ShiftLook::default())),
        ("remap", Box::new(RemapLook::new(false))),
        ("remap-dither", Box::new(RemapLook::new(true))),
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
    group.finish();
}

fn run(c: &mut Criterion) {
    let png = frame_2048_png();
    let palettes = palettes();
    let engine = Engine::builder().build().unwrap();

    let mut group = c.benchmark_group("run");
    group.sample_size(10);
    group.bench_function(format!("7-palettes/{}-threads", engine.threads()), |b| {
        b.iter(|| {
            let image = engine.decode(&png, "frame.png").unwrap();
            let job = engine.start(image, palettes.clone()).unwrap();
            let bytes: usize = job.variations().iter().map(|v| v.result.unwrap().bytes().len()).sum();
            job.wait().unwrap();
            bytes
        })
    });
    group.finish();
}

/// The codec floor: what any engine must spend on this job, decoding the
/// frame once and PNG-encoding it seven times with the same fast settings.
fn codec(c: &mut Criterion) {
    let frame = frame_2048();
    let png = frame_2048_png();
    let encode = || {
        let mut out = Vec::with_capacity(frame.pixels().len() / 2);
        PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
            .write_image(frame.pixels(), 2048, 2048, ExtendedColorType::Rgb8)
            .unwrap();
        out.len()
    };
    let mut group = c.benchmark_group("codec");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2048 * 2048));
    group.bench_function("png-encode/1-thread", |b| b.iter(encode));
    group.throughput(Throughput::Elements(7 * 2048 * 2048));
    let pool = rayon::ThreadPoolBuilder::new().build().unwrap();
    group.bench_function(format!("floor-7/{}-threads", pool.current_num_threads()), |b| {
        b.iter(|| {
            let decoded = image::load_from_memory(&png).unwrap();
            pool.install(|| (0..7).into_par_iter().map(|_| encode()).sum::<usize>())
                + decoded.width() as usize
        })
    });
    group.finish();
}

criterion_group!(benches, kernel, run, codec);
criterion_main!(benches);
