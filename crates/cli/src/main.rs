//! `variegate`: recolour an image into palette variations and store them.
//!
//! A thin binary: it parses options (`Args`), builds a
//! `variegate_core::Engine` and a `variegate_uploader::Uploader`, connects
//! the engine's channel to the uploader (`pipeline`), and reports progress
//! and results (`progress`).

mod pipeline;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use variegate_core::{
    DEFAULT_MAX_PIXELS, Engine, GradientLook, OutputFormat, Palette, RemapLook, ShiftLook, ShiftOptions,
    contact_sheet_png,
};
use variegate_uploader::{DEFAULT_UPLOADS, Store, StoreOptions, Uploader};

const EXIT_CODES: &str = "\
Exit codes:
  0  every variation stored
  1  fatal: unreadable image, bad palettes, unusable store; nothing stored
  2  usage error
  3  partial: some variations failed or were spilled; the rest were stored

RUST_LOG (e.g. RUST_LOG=variegate_core=debug) turns on tracing output on stderr.";

#[derive(Parser)]
#[command(
    name = "variegate",
    version,
    about = "Recolour one image into many palette variations and store them."
)]
#[command(after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Recolour IMAGE with every palette and store the results.
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("palette-source").required(true).multiple(false))]
struct RunArgs {
    /// The image to recolour: PNG, JPEG or WebP.
    image: PathBuf,
    /// JSON palettes file: [{"name": ..., "colors": ["#RRGGBB", ...], "description": ...}, ...].
    #[arg(long, value_name = "FILE", group = "palette-source")]
    palettes: Option<PathBuf>,
    /// A palette given inline, e.g. "#112233,#445566,#FFEEDD"; repeat for more (named Palette 1, 2, ...).
    #[arg(long, value_name = "COLOURS", group = "palette-source")]
    palette: Vec<String>,
    /// Where to store the variations: a folder, file:///dir, memory://, s3://bucket/prefix,
    /// gs://bucket/prefix or az://container/prefix (credentials from the usual environment variables).
    #[arg(long, value_name = "DIR|URL", default_value = "./variations")]
    out: String,
    /// Retries of a transient store failure (5xx, throttling, dropped connection, timeout).
    #[arg(long, value_name = "N", default_value_t = 5)]
    retries: usize,
    /// Per-object deadline for retrying, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    deadline: u64,
    /// Stored objects at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_UPLOADS)]
    uploads: usize,
    /// How long presigned links in the report stay valid, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    url_ttl: u64,
    /// Where variations that cannot be stored are saved instead (under their keys).
    #[arg(long, value_name = "DIR", default_value = "./variegate-spill")]
    spill_dir: PathBuf,
    /// Worker threads, the most variations made at once [default: one per core].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// How palettes recolour the image.
    #[arg(long, value_enum, default_value_t = LookName::Shift)]
    look: LookName,
    /// With --look remap: spread each pixel's error to its neighbours (Floyd–Steinberg).
    #[arg(long)]
    dither: bool,
    /// Seed of the clustering; the same seed gives the same bytes.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// File format of the variations.
    #[arg(long, value_enum, default_value_t = Format::Png)]
    format: Format,
    /// JPEG quality, 1-100.
    #[arg(long, value_name = "Q", default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
    /// Refuse images with more pixels than this.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
    /// Downscale the image so its longest side is at most N pixels before recolouring.
    #[arg(long, value_name = "N")]
    max_side: Option<u32>,
    /// Also store a thumbnail of each variation (longest side N) under thumbs/.
    #[arg(long, value_name = "N")]
    thumbnail: Option<u32>,
    /// Shift look: most clusters, and so palette colours, used.
    #[arg(long, value_name = "K", default_value_t = 5)]
    max_k: usize,
    /// Shift look: share of the lightness difference applied.
    #[arg(long, value_name = "X", default_value_t = 0.7)]
    lightness: f32,
    /// Shift look: weight of the recoloured image against the original, 0-1.
    #[arg(long, value_name = "X", default_value_t = 0.75)]
    blend: f32,
    /// Shift look: HSV saturation multiplier applied last.
    #[arg(long, value_name = "X", default_value_t = 1.2)]
    saturation: f32,
    /// Write the JSON report (the same document as the stored manifest.json) to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print the JSON report on stdout.
    #[arg(long)]
    json: bool,
    /// Write a PNG contact sheet: the original and every variation, each with its palette beneath.
    #[arg(long, value_name = "FILE")]
    contact_sheet: Option<PathBuf>,
    /// Print only errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum LookName {
    /// Move each colour cluster towards its palette colour in CIELAB (the original service's look).
    Shift,
    /// Every pixel becomes its nearest palette colour (with --dither: Floyd–Steinberg error diffusion).
    Remap,
    /// A gradient map: the palette sorted by lightness becomes a ramp; each pixel's lightness picks its colour.
    Gradient,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Png,
    Jpeg,
    Webp,
}

/// Side of the thumbnails drawn on a contact sheet when none are stored.
const SHEET_THUMBNAIL: u32 = 256;

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Command::Run(args) = cli.command;
    match run(&args, started) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &RunArgs, started: Instant) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!args.dither || matches!(args.look, LookName::Remap), "--dither goes with --look remap");
    let builder = Engine::builder();
    let builder = match args.look {
        LookName::Shift => builder.look(ShiftLook::new(ShiftOptions {
            max_k: args.max_k,
            lightness: args.lightness,
            blend: args.blend,
            saturation: args.saturation,
        })?),
        LookName::Remap => builder.look(RemapLook::new(args.dither)),
        LookName::Gradient => builder.look(GradientLook),
    };
    let format = match args.format {
        Format::Png => OutputFormat::Png,
        Format::Jpeg => OutputFormat::Jpeg { quality: args.quality },
        Format::Webp => OutputFormat::WebP,
    };
    let thumbnail = args.thumbnail.or(args.contact_sheet.as_ref().map(|_| SHEET_THUMBNAIL));
    let engine = builder
        .threads(args.threads.unwrap_or(0))
        .seed(args.seed)
        .format(format)
        .max_pixels(args.max_pixels)
        .thumbnail(thumbnail)
        .build()?;

    // Everything that can be wrong with the input is found before any work
    // starts or anything is written.
    let palettes = match &args.palettes {
        Some(path) => Palette::load_list(path)?,
        None => args
            .palette
            .iter()
            .enumerate()
            .map(|(i, text)| Palette::parse_inline(text, i + 1))
            .collect::<Result<_, _>>()?,
    };
    let options = StoreOptions {
        retries: args.retries,
        deadline: Duration::from_secs(args.deadline),
        url_ttl: Duration::from_secs(args.url_ttl),
    };
    let uploader =
        Uploader::new(Store::open(&args.out, options)?, args.uploads)?.with_spill_dir(&args.spill_dir);
    // Start-up: arguments parsed, palettes read, pool and runtime running.
    tracing::debug!(ms = started.elapsed().as_secs_f64() * 1e3, "started");
    // The store must answer before any pixel work is done.
    uploader.check()?;
    let mut image = engine.open(&args.image)?;
    if let Some(max_side) = args.max_side {
        anyhow::ensure!(max_side > 0, "--max-side must be at least 1");
        image = image.downscaled(max_side);
    }
    let original = args.contact_sheet.as_ref().map(|_| image.preview(SHEET_THUMBNAIL));

    let mut progress = progress::Progress::new(palettes.len(), args.quiet || args.json);
    let run = pipeline::run(&engine, &uploader, image, palettes, args.thumbnail.is_some(), &mut progress)
        .context("recolouring")?;
    progress.finish();
    let report = &run.report;

    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&report.manifest)?;
        std::fs::write(path, json).with_context(|| format!("{}: cannot write report", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.manifest)?);
    }
    if let (Some(path), Some(original)) = (&args.contact_sheet, &original) {
        let sheet = contact_sheet_png(&run.sheet_tiles(original))?;
        std::fs::write(path, sheet)
            .with_context(|| format!("{}: cannot write contact sheet", path.display()))?;
    }
    progress.summary(report, uploader.store().url());
    Ok(if report.all_stored() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}
