//! What `run` and `batch` build alike before any pixel work: the palettes,
//! the engine and the uploader, every destination checked.

use std::time::Duration;

use crate::sheet::contact_sheet_bytes;
use variegate_core::decoding::ColourProfiles;
use variegate_core::memory::{Size, default_max_memory};
use variegate_core::{DecodeError, Engine, Palette};
use variegate_store::{Store, StoreOptions, Uploader, default_spill_dir};

use crate::args::{JobArgs, Profiles, output_format};

/// How a command spends the memory budget besides the engine's runs.
pub enum Memory {
    /// All of it for the engine (a batch shares it between its images).
    Whole,
    /// The contact sheet's share first.
    ContactSheet,
}

/// What `run` and `batch` build alike from their options, every
/// destination checked: the engine (keeping `previews` of that side), the
/// palettes and the uploader (`keep_existing` for batches: see
/// `UploaderBuilder::keep_existing`).
pub fn setup(
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
        .uploads(args.uploads())
        .spill_dir(args.spill_dir.clone().unwrap_or_else(default_spill_dir))
        .grace(Duration::from_secs(args.grace))
        .keep_existing(keep_existing)
        .build()?;
    uploader.check()?;
    Ok((engine, palettes, uploader, options))
}

fn engine(args: &JobArgs, previews: Option<u32>, max_memory: u64) -> anyhow::Result<Engine> {
    let builder = Engine::builder().look_spec(&args.look.spec)?;
    for option in args.look.spec.deprecated_given() {
        tracing::warn!("--{} {}", option.flag(), option.deprecated.unwrap_or_default());
    }
    // These are checked as usage already (check_usage); the seed and the
    // background are set only where given, as the builder refuses them
    // where they would change no byte.
    let format = output_format(args).map_err(anyhow::Error::msg)?;
    let builder = match args.seed {
        Some(seed) => builder.seed(seed),
        None => builder,
    };
    let builder = match args.background {
        Some(background) => builder.background(background),
        None => builder,
    };
    Ok(builder
        .threads(args.threads.map_or(0, |n| n as usize))
        .format(format)
        .max_pixels(args.max_pixels)
        .max_memory(max_memory)
        .downstream(args.uploads())
        .lenient(args.lenient)
        .colour_profiles(match args.colour_profiles {
            Profiles::Convert => ColourProfiles::Convert,
            Profiles::Ignore => ColourProfiles::Ignore,
        })
        .max_side(args.max_side)
        .thumbnail(args.thumbnail)
        .sizes(&args.sizes)
        .previews(previews)
        .build()?)
}

/// A memory refusal says how to lift it.
pub fn with_memory_hint(error: DecodeError) -> anyhow::Error {
    match error {
        DecodeError::OverMemory(_) | DecodeError::FileOverMemory { .. } => {
            anyhow::anyhow!("{error} (raise it with --max-memory)")
        }
        DecodeError::OverFormatLimit { max_side, .. } => {
            anyhow::anyhow!("{error} (downscale it with --max-side {max_side})")
        }
        error => error.into(),
    }
}
