//! `variegate batch`: the shard's images of a list, each stored as `run`
//! would, one results line each; then the results copied to the store and
//! the closing line.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::CommandFactory;
use variegate_batch::{Batch, BatchOptions, ResultsLog, Shard};
use variegate_store::check_folder;

use crate::args::{BatchArgs, Cli};
use crate::progress::BatchProgress;
use crate::setup::{Memory, setup};
use crate::signals::SignalWatch;

pub fn batch(args: &BatchArgs) -> anyhow::Result<ExitCode> {
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
            Shard::from_env(|name| std::env::var(name).ok(), args.shards)?.unwrap_or_else(Shard::all)
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
        Ok(Some(location)) if !args.job.quiet => {
            progress.console.line(&format!("results stored in {location}"))
        }
        Ok(_) => {}
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
