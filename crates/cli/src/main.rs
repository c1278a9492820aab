//! `variegate`: recolour an image into palette variations and store them.
//!
//! A thin binary: it parses options (`RunArgs`, every value range checked
//! here, so a bad value is a usage error), builds a
//! `variegate_core::Engine` and a `variegate_uploader::Uploader`, checks
//! every destination before any pixel work, hands the engine's job to the
//! uploader, and reports (`progress`). Signals cancel the job (`signals`).

mod look_args;
mod progress;
mod signals;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use variegate_core::{
    ColourProfiles, DEFAULT_MAX_PIXELS, DecodeError, Engine, OutputFormat, Palette, Rgb8, SheetTile, Size,
    contact_sheet_bytes, contact_sheet_png, default_max_memory, parse_size,
};
use variegate_uploader::{
    Batch, BatchOptions, DEFAULT_UPLOADS, ResultsLog, RunStatus, Shard, Store, StoreOptions, StoreReport,
    Uploader, check_folder,
};

use crate::look_args::LookArgs;
use crate::progress::{BatchProgress, Console, Progress};
use crate::signals::SignalWatch;

const BATCH_EXIT_CODES: &str = "\
Exit codes:
  0    every image of the shard stored, or skipped as stored by an earlier batch
  1    a fatal error before any work: a bad or empty list, bad palettes, a store or folder
       that cannot be written (retrying will not help)
  2    usage error, an option value out of range included
  3    some images partial or failed (each named in the results), or the results could not all
       be written: run again with --resume
  130  interrupted by SIGINT, 143 by SIGTERM: run again with --resume

RUST_LOG (e.g. RUST_LOG=variegate_core=debug) turns on tracing output on stderr.";

const EXIT_CODES: &str = "\
Exit codes:
  0    every variation stored
  1    nothing stored or spilled, or a fatal error before any work (unreadable image,
       bad palettes, a store or folder that cannot be written)
  2    usage error, an option value out of range included
  3    partial: some variations stored or spilled, others not (each named on stderr and
       in the report)
  130  interrupted by SIGINT, 143 by SIGTERM: the manifest says what was kept

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
    /// Recolour every image of LIST (or of this process's shard of it) and store each as `run` would.
    #[command(after_help = BATCH_EXIT_CODES)]
    Batch(Box<BatchArgs>),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The image to recolour: PNG, JPEG or WebP.
    image: PathBuf,
    #[command(flatten)]
    job: JobArgs,
    /// Write the JSON report (the same document as the stored manifest.json) to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print the JSON report on stdout.
    #[arg(long)]
    json: bool,
    /// Write a PNG contact sheet: the original and every variation, each with its palette beneath.
    #[arg(long, value_name = "FILE")]
    contact_sheet: Option<PathBuf>,
}

#[derive(clap::Args)]
struct BatchArgs {
    /// The images: a text file (a path or store URL a line; # comments), a JSONL file (objects with an
    /// "image" field, other fields carried to the results), a folder, or a store prefix (s3://bucket/in/).
    list: String,
    #[command(flatten)]
    job: JobArgs,
    /// Append one JSON line per image to FILE [default: _results/<look>-<recipe>/shard-I-of-N.jsonl in a
    /// local --out folder; ./variegate-results/... for other stores, whose run's lines are copied into the
    /// store at the end as _results/<look>-<recipe>/shard-I-of-N/<run>.jsonl].
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Skip images a batch of the same recipe already stored whole (one small read each, no pixel work).
    #[arg(long)]
    resume: bool,
    /// Take shard I of N of the list (0 <= I < N), by a hash of each image's name [default: from
    /// SLURM_ARRAY_TASK_*, AWS_BATCH_JOB_ARRAY_*, or JOB_COMPLETION_INDEX with --shards; else the whole list].
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// The number of shards, for Kubernetes Indexed Jobs (their completions): JOB_COMPLETION_INDEX is the shard.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "shard")]
    shards: Option<u64>,
    /// Images in flight at once: while one is recoloured, the next is read and decoded and the one before is stored.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    in_flight: u32,
}

/// What `run` and `batch` share: the palettes, the store, and the recipe.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("palette-source").required(true).multiple(false))]
struct JobArgs {
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
    #[arg(long, value_name = "SECONDS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    deadline: u64,
    /// Stored objects at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_UPLOADS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    uploads: u32,
    /// How long presigned links in the report stay valid, in seconds (at most 7 days).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    url_ttl: u64,
    /// Where variations that cannot be stored are saved instead (under their keys).
    #[arg(long, value_name = "DIR", default_value = "./variegate-spill")]
    spill_dir: PathBuf,
    /// After SIGINT or SIGTERM, how long stores under way may go on, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    grace: u64,
    /// Worker threads, the most variations made at once [default: one per core]; more than 4 per
    /// core this process may use are capped there, with a warning.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    #[command(flatten)]
    look: LookArgs,
    /// Seed of the clustering; the same seed gives the same bytes.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// File format of the variations and their thumbnails: webp is lossy (at --quality) unless --lossless.
    #[arg(long, value_enum, default_value_t = Format::Png)]
    format: Format,
    /// What JPEG, which has no alpha, shows through transparent pixels.
    #[arg(long, value_name = "#RRGGBB", default_value = "#FFFFFF", value_parser = colour)]
    background: Rgb8,
    /// Quality of JPEG, lossy WebP and AVIF, 1-100 [default: 90 JPEG, 90 WebP, 70 AVIF].
    #[arg(long, value_name = "Q", value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: Option<u8>,
    /// With --format webp: lossless WebP (larger files, every pixel kept).
    #[arg(long)]
    lossless: bool,
    /// With --format avif: the encoder's speed, 1 (slowest, smallest files) to 10 (fastest) [default: 9].
    #[arg(long, value_name = "1..10", value_parser = clap::value_parser!(u8).range(1..=10))]
    speed: Option<u8>,
    /// Refuse images with more pixels than this.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS, value_parser = clap::value_parser!(u64).range(1..))]
    max_pixels: u64,
    /// Memory budget, e.g. 512M or 2G (K, M, G: powers of 1024). An image whose run would need more is refused
    /// before its pixels are allocated; fewer variations are made at once when all threads' would not fit
    /// [default: half the memory of the machine or container; a batch shares it between its images in flight].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_memory: Option<u64>,
    /// Decode a truncated or damaged JPEG as far as it can be read (the rest grey), with a warning,
    /// instead of refusing it. PNG and WebP that do not decode whole are refused either way.
    #[arg(long)]
    lenient: bool,
    /// An embedded ICC profile: convert the colours to sRGB, or ignore it as OpenCV (and so the
    /// original service) did.
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = Profiles::Convert)]
    colour_profiles: Profiles,
    /// Downscale the image so its longest side is at most N pixels before recolouring.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_side: Option<u32>,
    /// Also store a thumbnail of each variation (longest side N) under thumbs/.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    thumbnail: Option<u32>,
    /// Print only errors (and, for batch, the shard taken, first).
    #[arg(long, short)]
    quiet: bool,
}

fn colour(text: &str) -> Result<Rgb8, String> {
    Rgb8::parse_hex(text.trim()).ok_or_else(|| format!("{text:?} is not a hex colour (#RGB or #RRGGBB)"))
}

#[derive(Clone, Copy, ValueEnum)]
enum Profiles {
    /// Convert the colours to sRGB; the variations say sRGB.
    Convert,
    /// Take the stored values as sRGB.
    Ignore,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Png,
    Jpeg,
    Webp,
    Avif,
}

/// Side of the previews drawn on a contact sheet.
const SHEET_PREVIEW: u32 = 256;

fn main() -> ExitCode {
    let started = Instant::now();
    let matches = Cli::command().get_matches();
    // A look's option given with another look is found here (look_args.rs),
    // worded with the usage as clap's own errors are.
    let cli =
        Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.format(&mut Cli::command()).exit());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        // Warnings are for people: " WARN palettes.json: ignoring ...".
        .without_time()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // Its default reports a failed write with eprintln!, which panics
        // when stderr is closed.
        .log_internal_errors(false)
        .init();
    let outcome = match &cli.command {
        Command::Run(args) => {
            check_usage(&args.job);
            run(args, started)
        }
        Command::Batch(args) => {
            check_usage(&args.job);
            batch(args)
        }
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            Console::default().line(&format!("error: {}", one_line(&error)));
            ExitCode::from(1)
        }
    }
}

/// Combinations clap cannot check: format settings the format does not
/// take. Like clap's own, these end the process with exit code 2. (A look's
/// options given with another look are refused in `look_args`.)
fn check_usage(args: &JobArgs) {
    if let Err(message) = output_format(args) {
        Cli::command().error(clap::error::ErrorKind::ArgumentConflict, format!("--{message}")).exit()
    }
}

/// The format and its settings, as `--format`, `--quality`, `--lossless` and `--speed` say.
fn output_format(args: &JobArgs) -> Result<OutputFormat, String> {
    let name = args.format.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
    OutputFormat::from_settings(&name, args.quality, args.lossless, args.speed)
}

/// How a command spends the memory budget besides the engine's runs.
enum Memory {
    /// All of it for the engine (a batch shares it between its images).
    Whole,
    /// The contact sheet's share first.
    ContactSheet,
}

/// What `run` and `batch` build alike from their options, every
/// destination checked: the engine (keeping `previews` of that side), the
/// palettes and the uploader (`keep_existing` for batches: see
/// `UploaderBuilder::keep_existing`).
fn setup(
    args: &JobArgs,
    previews: Option<u32>,
    keep_existing: bool,
    memory: Memory,
) -> anyhow::Result<(Engine, Vec<Palette>, Uploader, StoreOptions)> {
    let palettes: Vec<Palette> = match &args.palettes {
        Some(path) => Palette::load_list(path)?,
        None => args
            .palette
            .iter()
            .enumerate()
            .map(|(i, text)| Palette::parse_inline(text, i + 1, "--palette"))
            .collect::<Result<_, _>>()?,
    };
    let budget = args.max_memory.unwrap_or_else(default_max_memory);
    let engine_budget = match memory {
        Memory::ContactSheet => {
            let sheet = contact_sheet_bytes(palettes.len() + 1);
            if sheet >= budget {
                anyhow::bail!(
                    "--contact-sheet of {} palettes needs {}, over the memory budget of {} (raise it with --max-memory)",
                    palettes.len(),
                    Size(sheet),
                    Size(budget)
                );
            }
            budget - sheet
        }
        Memory::Whole => budget,
    };
    let engine = engine(args, previews, engine_budget)?;
    let origin = args.palettes.as_ref().map_or("--palette".into(), |path| path.display().to_string());
    engine.check_palettes(&palettes, &origin)?;
    let options = StoreOptions {
        retries: args.retries,
        deadline: Duration::from_secs(args.deadline),
        url_ttl: Duration::from_secs(args.url_ttl),
    };
    let uploader = Uploader::builder(Store::open(&args.out, options)?)
        .uploads(args.uploads as usize)
        .spill_dir(&args.spill_dir)
        .grace(Duration::from_secs(args.grace))
        .keep_existing(keep_existing)
        .build()?;
    uploader.check()?;
    Ok((engine, palettes, uploader, options))
}

fn run(args: &RunArgs, started: Instant) -> anyhow::Result<ExitCode> {
    // Everything that can be wrong before any pixel work is found here,
    // and nothing is computed or written until it has all been checked.
    let (engine, palettes, uploader, _) = setup(
        &args.job,
        args.contact_sheet.as_ref().map(|_| SHEET_PREVIEW),
        false,
        match args.contact_sheet {
            Some(_) => Memory::ContactSheet,
            None => Memory::Whole,
        },
    )?;
    tracing::debug!(ms = started.elapsed().as_secs_f64() * 1e3, "started");
    for (flag, path) in [("--report", &args.report), ("--contact-sheet", &args.contact_sheet)] {
        if let Some(path) = path {
            check_output_file(flag, path)?;
        }
    }

    let grace = Duration::from_secs(args.job.grace);
    let signals = SignalWatch::start(uploader.emergency_stop(), grace).context("cannot watch for signals")?;
    let image = engine.open(&args.image).map_err(with_memory_hint)?;
    engine
        .variations_at_once(&image, &palettes)
        .map_err(|over| with_memory_hint(DecodeError::OverMemory(over)))?;
    let original = args.contact_sheet.as_ref().map(|_| image.preview(SHEET_PREVIEW));
    let mut progress = Progress::new(palettes.len(), args.job.quiet || args.json);
    let job = engine.start(image, palettes).context("cannot start the run")?;
    signals.cancels(job.canceller().clone());
    let report = uploader.store_observed(job, &mut progress);
    progress.finish();

    // The manifest is stored; now the caller's own copies. None of these
    // can undo what was stored: a failure only makes the run partial.
    let mut outputs_written = true;
    let mut fail = |progress: &mut Progress, error: anyhow::Error| {
        progress.console.line(&format!("error: {}", one_line(&error)));
        outputs_written = false;
    };
    let json = serde_json::to_vec_pretty(&report.manifest).context("cannot write the report")?;
    if let Some(path) = &args.report
        && let Err(error) = write_file(path, &json)
    {
        fail(&mut progress, anyhow::anyhow!("--report {}: {error}", path.display()));
    }
    if let (Some(path), Some(original)) = (&args.contact_sheet, &original) {
        let mut tiles = vec![SheetTile { picture: Some(original), colors: &[] }];
        tiles.extend(report.manifest.variations.iter().zip(&progress.previews).map(|(outcome, preview)| {
            SheetTile { picture: preview.as_ref(), colors: &outcome.palette.colors }
        }));
        let written = contact_sheet_png(&tiles)
            .map_err(anyhow::Error::from)
            .and_then(|sheet| write_file(path, &sheet).map_err(anyhow::Error::from));
        if let Err(error) = written {
            fail(&mut progress, anyhow::anyhow!("--contact-sheet {}: {error}", path.display()));
        }
    }
    if args.json {
        // A closed stdout loses only this copy of the report.
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(&json).and_then(|()| stdout.write_all(b"\n")).and_then(|()| stdout.flush());
    }
    summary(&mut progress, &report, &uploader, args.job.quiet || args.json);

    let interrupted = signals.exit_code();
    Ok(ExitCode::from(match (interrupted, report.status()) {
        (Some(code), _) => code,
        (None, RunStatus::Complete) if outputs_written => 0,
        (None, RunStatus::Complete | RunStatus::Partial) => 3,
        // Interrupted without a signal of ours cannot happen; say partial.
        (None, RunStatus::Interrupted) => 3,
        (None, RunStatus::Failed) => 1,
    }))
}

fn batch(args: &BatchArgs) -> anyhow::Result<ExitCode> {
    // The shard first: a usage error comes before any other work. An
    // explicit --shard wins over any engine's variables.
    let shard = match &args.shard {
        Some(shard) => shard.clone(),
        None => {
            if args.shards.is_some() && std::env::var_os("JOB_COMPLETION_INDEX").is_none() {
                Cli::command()
                    .error(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        "--shards N takes the shard's index from JOB_COMPLETION_INDEX, which is not set \
                         (outside a Kubernetes Indexed Job, give --shard I/N)",
                    )
                    .exit();
            }
            Shard::from_env(|name| std::env::var(name).ok(), args.shards)
                .map_err(anyhow::Error::msg)?
                .unwrap_or_else(Shard::all)
        }
    };
    // The batch shares the engine's budget between its images in flight.
    let (engine, palettes, uploader, input_store) = setup(&args.job, None, true, Memory::Whole)?;
    let options = BatchOptions {
        in_flight: args.in_flight as usize,
        resume: args.resume,
        shard: shard.clone(),
        input_store,
    };
    let batch = Batch::new(engine, uploader, palettes, options);
    let list = batch.read_list(&args.list)?;
    let results_path = args.results.clone().unwrap_or_else(|| batch.default_results_path());
    if let Some(folder) = results_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        check_folder(folder, true)
            .with_context(|| format!("--results {}: cannot write there", results_path.display()))?;
    }
    let mut results = ResultsLog::open(&results_path)
        .with_context(|| format!("--results {}: cannot write there", results_path.display()))?;

    let signals = SignalWatch::start(batch.uploader().emergency_stop(), Duration::from_secs(args.job.grace))
        .context("cannot watch for signals")?;
    signals.cancels(batch.canceller().clone());
    let mut progress = BatchProgress::new(args.job.quiet);
    progress.console.line(&format!(
        "shard {shard} ({}): {} of {} images; results in {}",
        shard.source,
        list.images(),
        list.listed,
        results_path.display()
    ));
    let report = batch.run(&list.entries, &mut results, &mut progress);
    progress.finish();
    let mut published = results.is_complete();
    if !published {
        progress.console.line(&format!("error: results not all written to {}", results.path().display()));
    }
    match batch.publish_results(&results) {
        Ok(Some(location)) => progress.console.line(&format!("results stored in {location}")),
        Ok(None) => {}
        Err(error) => {
            let kept = results.path().display();
            progress.console.line(&format!("error: results not stored: {error}; they are in {kept}"));
            published = false;
        }
    }
    let kept = format!(
        "{} stored, {} skipped, {} partial, {} failed, {} cancelled",
        report.stored, report.skipped, report.partial, report.failed, report.cancelled
    );
    match &report.interrupted {
        Some(reason) => progress.console.line(&format!(
            "interrupted by {reason}: of {} images, {kept}, {} not started; run again with --resume",
            report.total,
            report.not_started()
        )),
        None if !args.job.quiet => progress.console.line(&format!("{} images: {kept}", report.total)),
        None => {}
    }
    Ok(ExitCode::from(match signals.exit_code() {
        Some(code) => code,
        None if report.partial + report.failed + report.cancelled > 0 || !published => 3,
        None => 0,
    }))
}

fn engine(args: &JobArgs, previews: Option<u32>, max_memory: u64) -> anyhow::Result<Engine> {
    let builder = Engine::builder().look_spec(&args.look.spec)?;
    if args.look.spec.analysis_size().is_some() {
        tracing::warn!("--analysis-size no longer changes the output (output version 4 on)");
    }
    // Checked as usage already (check_usage).
    let format = output_format(args).map_err(anyhow::Error::msg)?;
    Ok(builder
        .threads(args.threads.map_or(0, |n| n as usize))
        .seed(args.seed)
        .format(format)
        .max_pixels(args.max_pixels)
        .max_memory(max_memory)
        .downstream(args.uploads as usize)
        .lenient(args.lenient)
        .background(args.background)
        .colour_profiles(match args.colour_profiles {
            Profiles::Convert => ColourProfiles::Convert,
            Profiles::Ignore => ColourProfiles::Ignore,
        })
        .max_side(args.max_side)
        .thumbnail(args.thumbnail)
        .previews(previews)
        .build()?)
}

/// A memory refusal says how to lift it.
fn with_memory_hint(error: DecodeError) -> anyhow::Error {
    match error {
        DecodeError::OverMemory(_) => anyhow::anyhow!("{error} (raise it with --max-memory)"),
        error => error.into(),
    }
}

/// A file the run will write at the end must be writable now: its folder
/// exists and takes files, and it is not itself a folder.
fn check_output_file(flag: &str, path: &Path) -> anyhow::Result<()> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let problem = if path.is_dir() {
        Some("it is a folder".to_string())
    } else if !folder.is_dir() {
        Some(format!("folder {} does not exist", folder.display()))
    } else {
        check_folder(folder, false).err().map(|error| error.to_string())
    };
    match problem {
        Some(problem) => anyhow::bail!("{flag} {}: cannot write there: {problem}", path.display()),
        None => Ok(()),
    }
}

/// An error and its causes on one line, each said once: the library's
/// errors already name their cause in their own message.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

/// Writes a whole file or nothing: to a hidden name beside it, then renamed.
fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staged = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let written = std::fs::write(&staged, bytes).and_then(|()| std::fs::rename(&staged, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    written
}

/// The closing lines: what was kept and where, and a manifest failure always.
fn summary(progress: &mut Progress, report: &StoreReport, uploader: &Uploader, quiet: bool) {
    let manifest = &report.manifest;
    if let Some(error) = &report.manifest_error {
        let saved = report.manifest_spill_path.as_ref().map(|p| format!(", saved to {}", p.display()));
        progress.console.line(&format!("error: manifest not stored: {error}{}", saved.unwrap_or_default()));
    }
    let thumbnails = manifest.variations.iter().filter(|o| o.thumbnail_error.is_some()).count();
    if thumbnails > 0 {
        progress.console.line(&format!("error: {thumbnails} thumbnails not stored (see above)"));
    }
    let folder = uploader.store().location_of(&manifest.folder);
    let total = manifest.variations.len();
    let ms = manifest.timings.total.as_secs_f64() * 1e3;
    if let Some(reason) = &manifest.interrupted {
        // Where the record is: stored, saved locally instead, or nowhere.
        let record = match (&report.manifest_error, &report.manifest_spill_path) {
            (None, _) => format!("record in {}", uploader.store().location_of(&report.manifest_key)),
            (Some(_), Some(path)) => format!("record saved to {}", path.display()),
            (Some(_), None) => "record not kept (see the error above)".to_string(),
        };
        progress.console.line(&format!(
            "interrupted by {reason}: {} of {total} variations stored, {} spilled, {} failed, {} cancelled; {record}",
            manifest.stored, manifest.spilled, manifest.failed, manifest.cancelled
        ));
    } else if !quiet {
        progress
            .console
            .line(&format!("{} of {total} variations stored in {folder} ({ms:.0} ms)", manifest.stored));
    }
}
