//! A batch of photos against the codec floor for the same batch.
//!
//! ```text
//! cargo run --release -p variegate-benches --example batch -- make DIR N SIDE
//!     N distinct SIDE x SIDE photos (crops, flips and turns of the bundled
//!     ones, Lanczos-resized, so colour-rich) as PNG files in DIR, and
//!     DIR/list.txt naming them
//! cargo run --release -p variegate-benches --example batch -- time DIR [ROUNDS] [IN_FLIGHT] [LOOK]
//!     for 1 and 2 threads, alternately, ROUNDS times (default 3):
//!     floor: decode each image once, encode it as PNG 7 times, write the files
//!     batch: the library's Batch over DIR/list.txt with the 7 bundled palettes,
//!            into a local folder (what `variegate batch` runs), in LOOK
//!            (shift, the default; soft, remap or gradient)
//!     then the medians, batch / floor, and 1 thread / 2 threads
//! ```
//!
//! N threads run on N cores (on Linux): the process is confined to the
//! first N CPUs before each measurement, so that with one thread the
//! batch's uploader and readers share its one core, as the floor's one
//! thread does all of its work.
//!
//! Both write their files under the temporary folder (`TMPDIR`, else
//! `/tmp`). The batch writes more of them (a manifest and an index entry
//! an image, each through a staging file), so a file system where creating
//! files is slow weighs on it more: `TMPDIR=/dev/shm` measures the engine
//! without the disk (docs/performance.md, session 17).
//!
//! Peak memory, for the number of images: `/usr/bin/time -f "%e s %M KB"
//! target/release/variegate batch DIR/list.txt --palettes testdata/palettes.json --out OUT -q`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::imageops::FilterType;
use rayon::prelude::*;
use variegate_batch::{Batch, BatchOptions, ResultsLog};
use variegate_benches::{encode_png, fixture, palettes};
use variegate_core::looks::LookSpec;
use variegate_core::{Engine, SourceImage};
use variegate_store::{Store, Uploader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["make", dir, count, side] => make(Path::new(dir), count.parse()?, side.parse()?),
        ["time", dir, rest @ ..] => {
            let rounds = rest.first().map_or(Ok(3), |r| r.parse())?;
            let in_flight = rest.get(1).map_or(Ok(BatchOptions::default().in_flight), |r| r.parse())?;
            let look = rest.get(2).copied().unwrap_or("shift");
            time(Path::new(dir), rounds, in_flight, look)
        }
        _ => Err("usage: batch make DIR N SIDE | batch time DIR [ROUNDS] [IN_FLIGHT] [LOOK]".into()),
    }
}

fn make(dir: &Path, count: usize, side: u32) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let sources = ["retina.jpg", "rocket.jpg", "coffee.png"].map(|name| image::open(fixture(name)));
    let sources: Vec<_> = sources.into_iter().collect::<Result<_, _>>()?;
    let names: Vec<(String, f64)> = (0..count)
        .into_par_iter()
        .map(|i| {
            let source = &sources[i % sources.len()];
            let (w, h) = (source.width(), source.height());
            // A different square crop of each source per image, turned and flipped in turn.
            let size = w.min(h) * (60 + (i * 7 % 40) as u32) / 100;
            let (x, y) = ((i as u32 * 37) % (w - size + 1), (i as u32 * 53) % (h - size + 1));
            // Lanczos, as a good resizer (and a generator's upscaler) does:
            // colour-rich, a fifth to a third as many distinct colours as pixels.
            let mut photo = source.crop_imm(x, y, size, size).resize_exact(side, side, FilterType::Lanczos3);
            photo = match i / sources.len() % 4 {
                1 => photo.rotate90(),
                2 => photo.fliph(),
                3 => photo.rotate270().flipv(),
                _ => photo,
            };
            let path = dir.join(format!("photo-{i:05}.png"));
            let photo = photo.to_rgb8();
            photo.save(&path).expect("the photo is written");
            let colours: std::collections::HashSet<[u8; 3]> = photo.pixels().map(|p| p.0).collect();
            (path.to_string_lossy().into_owned(), colours.len() as f64 / f64::from(side * side))
        })
        .collect();
    let (names, shares): (Vec<String>, Vec<f64>) = names.into_iter().unzip();
    std::fs::write(dir.join("list.txt"), names.join("\n") + "\n")?;
    let (least, most) = shares.iter().fold((1f64, 0f64), |(a, b), &s| (a.min(s), b.max(s)));
    println!(
        "{count} photos of {side}x{side} in {}: distinct colours {:.0}-{:.0}% of the pixels",
        dir.display(),
        least * 100.0,
        most * 100.0
    );
    Ok(())
}

fn time(dir: &Path, rounds: usize, in_flight: usize, look: &str) -> Result<(), Box<dyn std::error::Error>> {
    let list = dir.join("list.txt");
    let images: Vec<PathBuf> = std::fs::read_to_string(&list)?.lines().map(PathBuf::from).collect();
    engine(1, look)?; // a bad look name fails now, not after the first floor
    let scratch = tempfile_dir()?;
    let mut times = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]]; // [threads - 1][floor, batch]
    for round in 0..rounds {
        for threads in [1, 2] {
            confine_to_cores(threads)?;
            let out = scratch.join(format!("floor-{threads}-{round}"));
            let seconds = floor(&images, threads, &out)?;
            times[threads - 1][0].push(seconds);
            let _ = std::fs::remove_dir_all(&out);

            let out = scratch.join(format!("batch-{threads}-{round}"));
            let seconds = batch(&list, threads, in_flight, look, &out)?;
            times[threads - 1][1].push(seconds);
            let _ = std::fs::remove_dir_all(&out);
            println!(
                "round {round}, {threads} thread(s): floor {:.2} s, batch {:.2} s",
                times[threads - 1][0][round],
                times[threads - 1][1][round]
            );
        }
    }
    let median = |samples: &Vec<f64>| {
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    println!(
        "{} images, 7 palettes, {look} look, {in_flight} in flight; medians of {rounds} rounds:",
        images.len()
    );
    for threads in [1, 2] {
        let (floor, batch) = (median(&times[threads - 1][0]), median(&times[threads - 1][1]));
        println!("  {threads} thread(s): batch / floor: {batch:.2} s / {floor:.2} s = {:.2}x", batch / floor);
    }
    let (one, two) = (median(&times[0][1]), median(&times[1][1]));
    println!("  batch, 1 thread / 2 threads: {one:.2} s / {two:.2} s = {:.2}x", one / two);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// What any batch must spend: each image decoded once and encoded 7 times,
/// each file written, on a pool of `threads`.
fn floor(images: &[PathBuf], threads: usize, out: &Path) -> Result<f64, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let started = Instant::now();
    pool.install(|| {
        images.par_iter().enumerate().for_each(|(i, path)| {
            let bytes = std::fs::read(path).expect("the photo reads");
            let frame = SourceImage::decode(&bytes, "photo.png", u64::MAX).expect("the photo decodes");
            (0..7).into_par_iter().for_each(|palette| {
                let png = encode_png(&frame);
                std::fs::write(out.join(format!("{i:05}-{palette}.png")), png).expect("the file is written");
            });
        })
    });
    Ok(started.elapsed().as_secs_f64())
}

/// The library's batch, as `variegate batch` runs it.
fn batch(
    list: &Path,
    threads: usize,
    in_flight: usize,
    look: &str,
    out: &Path,
) -> Result<f64, Box<dyn std::error::Error>> {
    let engine = engine(threads, look)?;
    let uploader = Uploader::builder(Store::local(out)?).keep_existing(true).build()?;
    let options = BatchOptions { in_flight, ..Default::default() };
    let batch = Batch::new(engine, uploader, palettes(), options);
    let started = Instant::now();
    let images = batch.read_list(&list.to_string_lossy())?;
    let mut results = ResultsLog::open(&batch.default_results_path())?;
    let report = batch.run(&images.entries, &mut results, &mut ());
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.stored, images.images(), "every image stored");
    Ok(seconds)
}

/// An engine of `threads` in the named look.
fn engine(threads: usize, look: &str) -> Result<Engine, Box<dyn std::error::Error>> {
    Ok(Engine::builder().threads(threads).look_spec(&LookSpec::named(look)?)?.build()?)
}

/// Confines this thread, and every thread it starts from now on, to the
/// first `cores` CPUs.
fn confine_to_cores(cores: usize) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: cpu_set_t is plain data; CPU_SET stays inside it for
        // these few CPUs; pid 0 is this thread.
        let failed = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            (0..cores).for_each(|cpu| libc::CPU_SET(cpu, &mut set));
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0
        };
        if failed {
            return Err(std::io::Error::last_os_error());
        }
    }
    let _ = cores;
    Ok(())
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("variegate-batch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
