//! `variegate`: recolour an image into palette variations and store them.
//!
//! A thin binary: it parses options (`args`, every value range checked
//! there, so a bad value is a usage error; the looks' options from the
//! engine's table, `look_args`), builds a `variegate_core::Engine` and a
//! `variegate_store::Uploader` with every destination checked before any
//! pixel work (`setup`), hands the engine's job to the uploader (`run`, or
//! an image at a time for `batch`), and reports (`progress`, `sheet`).
//! Signals cancel the job (`signals`).

mod args;
mod batch;
mod gallery;
mod look_args;
mod output;
mod progress;
#[cfg(test)]
mod reference;
mod run;
mod setup;
mod sheet;
mod signals;

use std::process::ExitCode;
use std::time::Instant;

use clap::{CommandFactory, FromArgMatches};

use crate::args::{Cli, Command, check_usage};
use crate::progress::Console;

fn main() -> ExitCode {
    let started = Instant::now();
    fix_mmap_threshold();
    let matches = Cli::command().try_get_matches().unwrap_or_else(|error| args::explain(error).exit());
    // A look's option given with another look is found here (look_args.rs),
    // worded with the subcommand's usage as clap's own errors are.
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| {
        let subcommand = matches.subcommand_name().unwrap_or_default();
        let message = error.to_string();
        args::usage_error(subcommand, error.kind(), message.trim().trim_start_matches("error: ").into())
    });
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
            check_usage(&args.job, "run");
            args::check_run_usage(args);
            run::run(args, started)
        }
        Command::Batch(args) => {
            check_usage(&args.job, "batch");
            batch::batch(args)
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

/// Memory is bounded by threads, not by palettes: glibc raises its mmap
/// threshold each time a mapped block is freed (up to 32 MiB), after which
/// the frames and files of every variation come from its arenas, which keep
/// what was freed, fragmented. A fixed threshold maps every block of 4 MiB
/// or more afresh and returns it when freed: 63 palettes of a 2048x2048
/// photo peaked at 133 MB instead of 317 (docs/performance.md).
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// An error and its causes on one line, each said once.
pub fn one_line(error: &anyhow::Error) -> String {
    variegate_core::one_line(error.as_ref())
}
