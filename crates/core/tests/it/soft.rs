//! The soft look on real photos: cluster boundaries no longer show as steps
//! in the source's smooth areas, it stays close to the shift look, and it is
//! byte-identical at any thread count with alpha kept.
//!
//! A *step* is a pixel where the source is smooth (CIELAB distance to the
//! right and lower neighbours both under 1) and the output is not (either
//! over 3). `cargo test -p variegate-core --test it soft:: -- --nocapture`
//! prints the table.

use crate::common::{decode_rgba, fixture, mean_ciede2000, palettes, run_all};
use palette::{IntoColor, Lab, Srgb};
use rayon::prelude::*;
use variegate_core::Engine;
use variegate_core::looks::{Look, ShiftLook, SoftLook};

fn recolour(look: impl Look + 'static, photo: &str, threads: usize) -> Vec<image::RgbaImage> {
    let engine = Engine::builder().look(look).threads(threads).build().unwrap();
    run_all(&engine, engine.open(fixture(photo)).unwrap(), palettes())
        .into_iter()
        .map(|v| decode_rgba(v.result.unwrap().bytes()))
        .collect()
}

fn lab_image(image: &image::RgbaImage) -> Vec<[f32; 3]> {
    image
        .as_raw()
        .par_chunks_exact(4)
        .map(|p| {
            let lab: Lab = Srgb::new(p[0], p[1], p[2]).into_format::<f32>().into_color();
            [lab.l, lab.a, lab.b]
        })
        .collect()
}

/// Per pixel, the larger CIELAB distance to its right and lower neighbours.
fn gradient(lab: &[[f32; 3]], width: usize) -> Vec<f32> {
    let distance = |a: [f32; 3], b: [f32; 3]| (0..3).map(|c| (a[c] - b[c]).powi(2)).sum::<f32>().sqrt();
    (0..lab.len())
        .into_par_iter()
        .map(|i| {
            let right = if (i + 1) % width != 0 { distance(lab[i], lab[i + 1]) } else { 0.0 };
            let below = if i + width < lab.len() { distance(lab[i], lab[i + width]) } else { 0.0 };
            right.max(below)
        })
        .collect()
}

fn steps(source_gradient: &[f32], output: &image::RgbaImage) -> usize {
    let gradient = gradient(&lab_image(output), output.width() as usize);
    source_gradient.iter().zip(&gradient).filter(|&(&s, &o)| s < 1.0 && o > 3.0).count()
}

#[test]
fn soft_hides_cluster_steps_and_stays_near_the_shift_look() {
    println!(
        "| photo | steps, shift | steps, soft | soft / shift | mean CIEDE2000 soft vs shift; worst palette |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for photo in ["coffee.png", "rocket.jpg", "retina.jpg"] {
        let source = decode_rgba(&std::fs::read(fixture(photo)).unwrap());
        let source_gradient = gradient(&lab_image(&source), source.width() as usize);
        let shift = recolour(ShiftLook::default(), photo, 0);
        let soft = recolour(SoftLook::default(), photo, 0);
        let shift_steps: usize = shift.iter().map(|o| steps(&source_gradient, o)).sum();
        let soft_steps: usize = soft.iter().map(|o| steps(&source_gradient, o)).sum();
        let distances: Vec<f64> = shift.iter().zip(&soft).map(|(a, b)| mean_ciede2000(a, b)).collect();
        let mean = distances.iter().sum::<f64>() / distances.len() as f64;
        let worst = distances.iter().copied().fold(0.0, f64::max);
        let ratio = soft_steps as f64 / shift_steps.max(1) as f64;
        println!("| {photo} | {shift_steps} | {soft_steps} | {ratio:.3} | {mean:.2}; {worst:.2} |");
        assert!(ratio <= 0.25, "{photo}: soft keeps {soft_steps} of shift's {shift_steps} steps");
        assert!(mean <= 4.0, "{photo}: soft is {mean:.2} from shift");
    }
}

#[test]
fn soft_is_the_same_at_any_thread_count_and_keeps_alpha() {
    // logo.png has alpha; retina.jpg is a photo with smooth areas.
    for photo in ["logo.png", "retina.jpg"] {
        let engine = |threads| Engine::builder().look(SoftLook::default()).threads(threads).build().unwrap();
        let bytes = |threads| {
            let engine = engine(threads);
            run_all(&engine, engine.open(fixture(photo)).unwrap(), palettes())
                .into_iter()
                .map(|v| v.result.unwrap().into_vec())
                .collect::<Vec<_>>()
        };
        let one = bytes(1);
        assert!(one == bytes(2) && one == bytes(4), "{photo}");
        let source = decode_rgba(&std::fs::read(fixture(photo)).unwrap());
        for variation in &one {
            let output = decode_rgba(variation);
            let alpha = |image: &image::RgbaImage| image.pixels().map(|p| p[3]).collect::<Vec<_>>();
            assert!(alpha(&output) == alpha(&source), "{photo}: alpha changed");
        }
    }
}

#[test]
fn the_memory_budget_counts_the_soft_looks_weights() {
    use variegate_core::Channels;
    use variegate_core::decoding::ImageHeader;
    let header = ImageHeader { width: 2048, height: 2048, channels: Channels::Rgb, file_bytes: 0 };
    let plan = |engine: Engine| engine.memory_plan(&header, &palettes());
    let shift = plan(Engine::builder().build().unwrap());
    let soft = plan(Engine::builder().look(SoftLook::default()).build().unwrap());
    assert_eq!(shift.look_per_pixel, 0);
    // Five clusters: every pixel's column, weights, CIELAB and colour, the
    // filter's planes, and each colour's CIELAB.
    assert_eq!(soft.look_per_pixel, (19 + 5) + 12 + 12);
    assert_eq!(soft.estimate().analysis, shift.estimate().analysis + 2048 * 2048 * 48);
}
