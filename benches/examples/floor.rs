//! The codec floor of one image as a whole process, to set beside a whole
//! `variegate run` of it: decode the file once, PNG-encode the pixels 7
//! times with the engine's fast settings (one per palette), write each file;
//! on a pool of THREADS (default 2).
//!
//! ```text
//! cargo run --release -p variegate-benches --example floor -- IMAGE OUT_DIR [THREADS]
//! ```
//!
//! For example, interleaved with the engine on the same image:
//! `target/release/examples/floor /tmp/coffee-1024.png /tmp/floor 2` and
//! `target/release/variegate run /tmp/coffee-1024.png --palettes testdata/palettes.json --out /tmp/o -q --threads 2`.

use std::path::PathBuf;

use rayon::prelude::*;
use variegate_benches::encode_png;
use variegate_core::SourceImage;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (image, out, threads) = match args.as_slice() {
        [image, out] => (image, out, 2),
        [image, out, threads] => (image, out, threads.parse()?),
        _ => return Err("usage: floor IMAGE OUT_DIR [THREADS]".into()),
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    pool.install(|| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let bytes = std::fs::read(image)?;
        let frame = SourceImage::decode(&bytes, image, u64::MAX)?;
        (0..7).into_par_iter().try_for_each(|palette| {
            std::fs::write(out.join(format!("{palette:02}.png")), encode_png(&frame))?;
            Ok(())
        })
    })
    .map_err(|error| error.to_string().into())
}
