//! `variegate run`: one image, every palette, stored; then the caller's
//! copies (report, contact sheet, web page, JSON) and the closing lines.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use variegate_core::DecodeError;
use variegate_store::{RunStatus, StoreReport, Uploader};

use crate::args::RunArgs;
use crate::gallery::{gallery_html, page_folder};
use crate::one_line;
use crate::output::{check_output_file, write_file};
use crate::progress::Progress;
use crate::setup::{Memory, setup, with_memory_hint};
use crate::sheet::{SHEET_PREVIEW, SheetPreviews};
use crate::signals::SignalWatch;

pub fn run(args: &RunArgs, started: Instant) -> anyhow::Result<ExitCode> {
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
    let outputs =
        [("--report", &args.report), ("--contact-sheet", &args.contact_sheet), ("--gallery", &args.gallery)];
    for (flag, path) in outputs {
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
    let mut sheet = args.contact_sheet.as_ref().map(|_| SheetPreviews::new(&image, palettes.len()));
    let mut progress = Progress::new(palettes.len(), args.job.quiet || args.json);
    let job = engine.start(image, palettes).context("cannot start the run")?;
    signals.cancels(job.canceller().clone());
    let report = uploader.store_observed(job, &mut (&mut progress, &mut sheet));
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
    if let (Some(path), Some(sheet)) = (&args.contact_sheet, &sheet)
        && let Err(error) = sheet.write(path, &report.manifest)
    {
        fail(&mut progress, anyhow::anyhow!("--contact-sheet {}: {error}", path.display()));
    }
    if let Some(path) = &args.gallery {
        let page = gallery_html(&report.manifest, uploader.store(), &args.image, &page_folder(path));
        if let Err(error) = write_file(path, page.as_bytes()) {
            fail(&mut progress, anyhow::anyhow!("--gallery {}: {error}", path.display()));
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
    let sizes = manifest.variations.iter().flat_map(|o| &o.sizes).filter(|size| size.error.is_some()).count();
    if sizes > 0 {
        progress.console.line(&format!("error: {sizes} sizes not stored (see above)"));
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
