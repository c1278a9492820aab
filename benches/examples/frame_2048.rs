//! Writes the 2048x2048 benchmark frame (retina.jpg upscaled) as a PNG, for
//! measuring whole runs of the CLI:
//!
//! `cargo run --release -p variegate-benches --example frame_2048 -- /tmp/frame-2048.png`

fn main() -> std::io::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "frame-2048.png".into());
    std::fs::write(&path, variegate_benches::frame_2048_png())?;
    println!("{path}");
    Ok(())
}
