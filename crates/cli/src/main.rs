//! `variegate`: recolour an image into palette variations and store them.
//!
//! A thin binary: it parses options, builds a `variegate_core::Engine` and a
//! `variegate_uploader::Uploader`, connects the engine's channel to the
//! uploader (`pipeline`), and reports. Exit codes: 0 every variation stored,
//! 1 fatal (nothing stored), 2 usage error, 3 partial.

mod pipeline;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use variegate_core::{Engine, Palette, ShiftLook, ShiftOptions};
use variegate_uploader::{DEFAULT_UPLOADS, Status, Store, Uploader};

#[derive(Parser)]
#[command(
    name = "variegate",
    version,
    about = "Recolour one image into many palette variations and store them."
)]
#[command(after_help = "Exit codes: 0 every variation stored; 1 fatal error, nothing stored; \
2 usage error; 3 partial: some variations failed, the rest were stored.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Recolour IMAGE with every palette in the palettes file and store the results.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The image to recolour: PNG, JPEG or WebP.
    image: PathBuf,
    /// JSON palettes file: [{"name": ..., "colors": ["#RRGGBB", ...], "description": ...}, ...].
    #[arg(long, value_name = "FILE")]
    palettes: PathBuf,
    /// Where to store the variations: a folder, file:///dir or memory://.
    #[arg(long, value_name = "DIR|URL", default_value = "./variations")]
    out: String,
    /// Worker threads, the most variations made at once [default: one per core].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// How palettes recolour the image.
    #[arg(long, value_enum, default_value_t = LookName::Shift)]
    look: LookName,
    /// Seed of the clustering; the same seed gives the same bytes.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Print only errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum LookName {
    /// Move each colour cluster towards its palette colour in CIELAB (the original service's look).
    Shift,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Command::Run(args) = cli.command;
    match run(&args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let look = match args.look {
        LookName::Shift => ShiftLook::new(ShiftOptions::default())?,
    };
    let engine = Engine::builder().threads(args.threads.unwrap_or(0)).seed(args.seed).look(look).build()?;
    // Everything that can be wrong with the input is found before any work
    // starts or anything is written.
    let palettes = Palette::load_list(&args.palettes)?;
    let image = engine.open(&args.image)?;
    let store = Store::from_location(&args.out)?;
    let uploader = Uploader::new(store, DEFAULT_UPLOADS)?;

    let report = pipeline::run(&engine, &uploader, image, palettes).context("recolouring")?;
    let manifest = &report.manifest;
    for outcome in &manifest.variations {
        match (outcome.status, &outcome.error) {
            (Status::Stored, _) if !args.quiet => {
                println!("stored {} ({} bytes)", outcome.key.as_deref().unwrap_or_default(), outcome.bytes)
            }
            (Status::Failed, Some(error)) => eprintln!("error: variation {} failed: {error}", outcome.index),
            _ => {}
        }
    }
    if let Some(error) = &report.manifest_error {
        eprintln!("error: manifest not stored: {error}");
    }
    if !args.quiet {
        println!(
            "{} of {} variations stored in {}{}",
            manifest.stored,
            manifest.variations.len(),
            uploader.store().url(),
            manifest.folder
        );
    }
    Ok(if report.all_stored() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}
