//! Writes a benchmark workload as a PNG, for measuring whole runs of the
//! CLI: the 2048x2048 frame (retina.jpg upscaled, the default), or the
//! colour-rich coffee.png resized with Lanczos to 2048 or 1024 wide.
//!
//! `cargo run --release -p variegate-benches --example frame_2048 -- /tmp/frame-2048.png [frame-2048|coffee-2048|coffee-1024]`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "frame-2048.png".into());
    let name = args.next().unwrap_or_else(|| "frame-2048".into());
    let image = variegate_benches::workload(&name)
        .ok_or_else(|| format!("no workload {name:?}: frame-2048, coffee-2048 or coffee-1024"))?;
    std::fs::write(&path, variegate_benches::png_file(&image))?;
    println!("{path}: {name}, {}x{}", image.width(), image.height());
    Ok(())
}
