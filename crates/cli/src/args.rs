//! The command line: `run` and `batch`, and the options they share
//! (`JobArgs`). Every value's range is checked here, so that a bad value is
//! a usage error (exit 2); the looks' options come from the engine's table
//! (`look_args`).

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use variegate_batch::Shard;
use variegate_core::decoding::DEFAULT_MAX_PIXELS;
use variegate_core::formats::FormatSetting;
use variegate_core::memory::parse_size;
use variegate_core::{OutputFormat, Rgb8};
use variegate_store::StoreOptions;

use crate::look_args::LookArgs;

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
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Recolour IMAGE with every palette and store the results.
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
    /// Recolour every image of LIST (or of this process's shard of it) and store each as `run` would.
    #[command(after_help = BATCH_EXIT_CODES)]
    Batch(Box<BatchArgs>),
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// The image to recolour: PNG, JPEG or WebP.
    pub image: PathBuf,
    #[command(flatten)]
    pub job: JobArgs,
    /// Write the JSON report (the same document as the stored manifest.json) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print the JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write a PNG contact sheet: the original and every variation, each with its palette beneath (a name
    /// ending in another extension than .png is a usage error).
    #[arg(long, value_name = "FILE")]
    pub contact_sheet: Option<PathBuf>,
    /// Write a web page of the run (no JavaScript): the original and each variation over its palette, as an
    /// <img srcset> over its --sizes; links relative to the page's folder for a local --out, the stored
    /// files' links for a cloud store (a name ending in another extension than .html is a usage error).
    #[arg(long, value_name = "FILE.html")]
    pub gallery: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct BatchArgs {
    /// The images: a text file (a path or store URL a line; # comments), a JSONL file (objects with an
    /// "image" field, other fields carried to the results), a folder, or a store prefix (s3://bucket/in/).
    pub list: String,
    #[command(flatten)]
    pub job: JobArgs,
    /// Append one JSON line per image to FILE [default: _results/<look>-<recipe>/shard-I-of-N.jsonl in a
    /// local --out folder; ./variegate-results/... for other stores, whose run's lines are copied into the
    /// store at the end as _results/<look>-<recipe>/shard-I-of-N/<run>.jsonl].
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Skip images a batch of the same recipe already stored whole (one small read each, no pixel work).
    #[arg(long)]
    pub resume: bool,
    /// Take shard I of N of the list (0 <= I < N), by a hash of each image's name [default: from
    /// SLURM_ARRAY_TASK_*, AWS_BATCH_JOB_ARRAY_*, or JOB_COMPLETION_INDEX with --shards; else the whole list].
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// The number of shards, for Kubernetes Indexed Jobs (their completions): JOB_COMPLETION_INDEX is the shard.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "shard")]
    pub shards: Option<u64>,
    /// Images in flight at once: while one is recoloured, the next is read and decoded and the one before is stored.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub in_flight: u32,
}

/// What `run` and `batch` share: the palettes, the store, and the recipe.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("palette-source").required(true).multiple(false))]
pub struct JobArgs {
    /// JSON palettes file: [{"name": ..., "colors": ["#RRGGBB", ...], "description": ...}, ...]; #RGB works
    /// too, spaces around a colour and a byte-order mark are ignored, other fields (id, tags) too, with one
    /// warning naming them.
    #[arg(long, value_name = "FILE", group = "palette-source")]
    pub palettes: Option<PathBuf>,
    /// A palette given inline instead, e.g. "#112233,#445566,#FFEEDD"; repeat for more (named Palette 1, 2,
    /// ...).
    #[arg(long, value_name = "COLOURS", group = "palette-source")]
    pub palette: Vec<String>,
    /// Where to store the variations: a folder, file:///dir, memory://, s3://bucket/prefix,
    /// gs://bucket/prefix or az://container/prefix (credentials from the usual environment variables).
    #[arg(long, value_name = "DIR|URL", default_value = "./variations")]
    pub out: String,
    /// Retries of a transient store failure (5xx, throttling, dropped connection, timeout).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: usize,
    /// Per-object deadline for retrying, in seconds (at least 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(StoreOptions::MIN_DEADLINE_SECONDS..))]
    pub deadline: u64,
    /// Stored objects at once [default: 2 for a local folder, where more only hold more files in memory;
    /// 8 for a cloud store].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub uploads: Option<u32>,
    /// How long presigned links in the report stay valid, in seconds (1 to 604800: 7 days).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(StoreOptions::URL_TTL_SECONDS))]
    pub url_ttl: u64,
    /// Where variations that cannot be stored are saved instead (under their keys) [default:
    /// ./variegate-spill, or variegate-spill in $TMPDIR (else /tmp) where the working folder is read-only].
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    /// After SIGINT or SIGTERM, how long stores under way may go on, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub grace: u64,
    /// Worker threads, the most variations made at once [default: one per core]; more than 4 per
    /// core this process may use (CPU affinity and cgroup quotas count) are capped there, with a warning.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    #[command(flatten)]
    pub look: LookArgs,
    /// Seed of the clustering (shift and soft looks; with the others, which do not cluster, a usage
    /// error); the same seed gives the same bytes [default: 0].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// File format of the variations and their thumbnails.
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
    /// With --format jpeg, which has no alpha: what transparent pixels show, each pixel composited over it
    /// (with a format that keeps alpha, a usage error) [default: #FFFFFF].
    #[arg(long, value_name = "#RRGGBB", value_parser = colour)]
    pub background: Option<Rgb8>,
    /// Quality of JPEG, lossy WebP and AVIF, 1-100 (with PNG or --lossless, a usage error) [default: 90
    /// JPEG, 90 WebP, 70 AVIF].
    #[arg(long, value_name = "Q", value_parser = format_setting(FormatSetting::QUALITY))]
    pub quality: Option<u8>,
    /// With --format webp: lossless WebP (larger files, every pixel kept).
    #[arg(long)]
    pub lossless: bool,
    /// With --format avif: the encoder's speed, 1 (slowest, smallest files) to 10 (fastest) [default: 9].
    #[arg(long, value_name = "1..10", value_parser = format_setting(FormatSetting::SPEED))]
    pub speed: Option<u8>,
    /// Refuse images with more pixels than this, from their header, before decoding their pixels.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pixels: u64,
    /// Memory budget, e.g. 512M or 2G (K, M, G: powers of 1024). An image whose run would need more is refused
    /// before its pixels are allocated; fewer variations are made at once when all threads' would not fit
    /// [default: half the memory of the machine or container; a batch shares it between its images in flight].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,
    /// Decode a truncated or damaged JPEG as far as it can be read (the rest grey), with a warning,
    /// instead of refusing it. PNG and WebP that do not decode whole are refused either way.
    #[arg(long)]
    pub lenient: bool,
    /// An embedded ICC profile: convert the colours to sRGB, or ignore it as OpenCV (and so the
    /// original service) did.
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = Profiles::Convert)]
    pub colour_profiles: Profiles,
    /// Downscale the image (Lanczos3) so its longest side is at most N pixels before recolouring.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_side: Option<u32>,
    /// Store each variation at each of these longest sides, e.g. 480,960,1920 for a web page's srcset, instead
    /// of the one full-size file (never upscaled: a side at or above the image's is the image itself, made
    /// once); each key ends in its side (00-coral-480.webp), and the report gives each variation's files and
    /// srcset. At most 8.
    #[arg(long, value_name = "SIDES", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    pub sizes: Vec<u32>,
    /// Also store a thumbnail of each variation (longest side N) under thumbs/.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub thumbnail: Option<u32>,
    /// Print only warnings and errors (and, for batch, the shard taken, first): no progress, no closing line.
    #[arg(long, short)]
    pub quiet: bool,
}

fn colour(text: &str) -> Result<Rgb8, String> {
    Rgb8::parse_hex(text.trim()).ok_or_else(|| format!("{text:?} is not a hex colour (#RGB or #RRGGBB)"))
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Profiles {
    /// Convert the colours to sRGB; the variations say sRGB.
    Convert,
    /// Take the stored values as sRGB.
    Ignore,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// PNG, with a fast deflate.
    Png,
    /// JPEG (no alpha: see --background).
    Jpeg,
    /// Lossy WebP at --quality (libwebp), or lossless with --lossless.
    Webp,
    /// AVIF (rav1e, 8-bit, tagged sRGB) at --quality and --speed.
    Avif,
}

/// Combinations clap cannot check: format settings the format does not
/// take, and settings that would change the key and not the bytes (a seed
/// for a look that does not cluster, a background for a format that keeps
/// alpha). Like clap's own, these end the process with exit code 2. (A
/// look's options given with another look are refused in `look_args`.)
pub fn check_usage(args: &JobArgs, subcommand: &str) {
    // The look says whether it clusters (a spec that does not build is
    // refused where the engine is built).
    let clusters = args.look.spec.build().map_or(true, |look| look.uses_seed());
    let problem = match output_format(args) {
        Err(message) => Some(format!("--{message}")),
        Ok(_) if args.seed.is_some() && !clusters => Some(format!(
            "--seed goes with --look shift or soft (--look {} has no clustering)",
            args.look.spec.look().as_str()
        )),
        Ok(format) if args.background.is_some() && !matches!(format, OutputFormat::Jpeg { .. }) => {
            Some(format!("--background goes with --format jpeg ({} keeps alpha)", format.name()))
        }
        Ok(_) => None,
    };
    if let Some(message) = problem {
        usage_error(subcommand, clap::error::ErrorKind::ArgumentConflict, message)
    }
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.len() > variegate_core::MAX_SIZES {
        let message =
            format!("--sizes takes at most {} sides, not {}", variegate_core::MAX_SIZES, sizes.len());
        usage_error(subcommand, clap::error::ErrorKind::TooManyValues, message)
    }
}

/// Ends the process with a usage error worded as clap's, under the
/// subcommand's usage line.
pub fn usage_error(subcommand: &str, kind: clap::error::ErrorKind, message: String) -> ! {
    let mut command = Cli::command();
    let command = command.find_subcommand_mut(subcommand).cloned().unwrap_or_else(Cli::command);
    command.bin_name(format!("variegate {subcommand}")).error(kind, message).exit()
}

/// A format setting's flag, within the range of the engine's table.
fn format_setting(setting: FormatSetting) -> impl clap::builder::TypedValueParser<Value = u8> {
    clap::value_parser!(u8).range(i64::from(setting.min)..=i64::from(setting.max))
}

/// The format and its settings, as `--format`, `--quality`, `--lossless` and `--speed` say.
pub fn output_format(args: &JobArgs) -> Result<OutputFormat, String> {
    let name = args.format.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
    OutputFormat::from_settings(&name, args.quality, args.lossless, args.speed)
}

/// `run`'s own combinations: the contact sheet is a PNG, so a name that
/// says otherwise (`sheet.avif`) is refused rather than written as PNG.
pub fn check_run_usage(args: &RunArgs) {
    let extension = args.contact_sheet.as_ref().and_then(|path| path.extension());
    if let Some(extension) = extension.filter(|e| !e.eq_ignore_ascii_case("png")) {
        let message = format!("--contact-sheet is a PNG: name it .png, not .{}", extension.to_string_lossy());
        usage_error("run", clap::error::ErrorKind::ValueValidation, message)
    }
    let extension = args.gallery.as_ref().map(|path| path.extension().unwrap_or_default());
    if let Some(extension) =
        extension.filter(|e| !e.eq_ignore_ascii_case("html") && !e.eq_ignore_ascii_case("htm"))
    {
        let message = format!("--gallery is a web page: name it .html, not .{}", extension.to_string_lossy());
        usage_error("run", clap::error::ErrorKind::ValueValidation, message)
    }
    if args.gallery.is_some() && args.job.out.starts_with("memory:") {
        let message =
            "--gallery needs a folder or a cloud store: memory:// objects have no link a browser can load";
        usage_error("run", clap::error::ErrorKind::ArgumentConflict, message.into())
    }
}

/// clap's error, with a hint where a common slip caused it: a method
/// after `--dither` and a space (`--dither ordered`) is read as an
/// argument of its own, since the method is optional.
pub fn explain(error: clap::Error) -> clap::Error {
    if error.kind() != clap::error::ErrorKind::UnknownArgument {
        return error;
    }
    let args: Vec<String> = std::env::args().collect();
    let slip = args.windows(2).find_map(|pair| {
        let methods = ["floyd-steinberg", "ordered"];
        (pair[0] == "--dither" && methods.contains(&pair[1].as_str())).then(|| pair[1].clone())
    });
    match slip {
        Some(method) => {
            let subcommand = args.get(1).map_or("run", String::as_str);
            let message = format!("--dither takes its method after an equals sign: --dither={method}");
            usage_error(subcommand, clap::error::ErrorKind::UnknownArgument, message)
        }
        None => error,
    }
}

impl JobArgs {
    /// Objects stored at once: `--uploads`, or the store's default.
    pub fn uploads(&self) -> usize {
        self.uploads.map_or_else(|| variegate_store::default_uploads(&self.out), |n| n as usize)
    }
}
