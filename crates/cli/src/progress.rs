//! What the user sees while a run goes: a progress bar on a terminal, one
//! line per finished variation otherwise, only errors with `--quiet`.
//!
//! Nothing written here can stop the work: a closed or full stderr (EPIPE,
//! ENOSPC) only silences these lines; the manifest, the report and the exit
//! code are unaffected.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use variegate_batch::{BatchObserver, ImageResult, ImageStatus};
use variegate_store::{Observer, Outcome, Status};

/// Writes lines to stderr, and stops trying after the first failure.
#[derive(Default)]
pub struct Console {
    broken: bool,
}

impl Console {
    /// One line on stderr; dropped if stderr cannot take it.
    pub fn line(&mut self, text: &str) {
        if !self.broken {
            let mut stderr = std::io::stderr().lock();
            self.broken = writeln!(stderr, "{text}").and_then(|()| stderr.flush()).is_err();
        }
    }
}

/// Shows each variation's outcome as it comes.
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    pub console: Console,
}

impl Progress {
    pub fn new(total: usize, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) =
                ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} variations, {rate}")
            {
                let rate = |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.1}/s", state.per_sec());
                };
                bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
            }
            bar
        });
        Progress { bar, quiet, console: Console::default() }
    }

    fn line(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => self.console.line(text),
        }
    }

    /// Clears the bar, before the closing lines.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn finished(&mut self, outcome: &Outcome) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        let error = outcome.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
        match outcome.status {
            Status::Failed => self.line(&format!("error: variation {} failed: {error}", outcome.index)),
            Status::Spilled => self.line(&format!(
                "error: variation {} not stored, saved to {}: {error}",
                outcome.index,
                outcome.spill_path.as_deref().unwrap_or(std::path::Path::new("?")).display()
            )),
            Status::Cancelled => {}
            Status::Stored if self.quiet || self.bar.is_some() => {}
            Status::Stored => {
                let timings = outcome.timings;
                let ms = (timings.made.recolour + timings.made.encode + timings.store).as_secs_f64() * 1e3;
                let key = outcome.key.as_deref().unwrap_or_default();
                self.line(&format!("stored {key} ({} bytes, {ms:.0} ms)", outcome.bytes));
            }
        }
        for size in &outcome.sizes {
            if let Some(error) = &size.error {
                let saved = match &size.spill_path {
                    Some(path) => format!("saved to {}", path.display()),
                    None => "not saved".to_string(),
                };
                self.line(&format!("error: {} not stored, {saved}: {error}", size.key));
            }
        }
        if let Some(error) = &outcome.thumbnail_error {
            let saved = match &outcome.thumbnail_spill_path {
                Some(path) => format!("saved to {}", path.display()),
                None => "not saved".to_string(),
            };
            self.line(&format!(
                "error: thumbnail of variation {} not stored, {saved}: {error}",
                outcome.index
            ));
        }
    }
}

/// A batch's progress: a bar over images on a terminal (done, failed,
/// images a second, time left), one line per image otherwise.
pub struct BatchProgress {
    bar: Option<ProgressBar>,
    quiet: bool,
    failed: usize,
    pub console: Console,
}

impl BatchProgress {
    pub fn new(quiet: bool) -> BatchProgress {
        BatchProgress { bar: None, quiet, failed: 0, console: Console::default() }
    }

    /// Clears the bar, before the closing lines.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl BatchObserver for BatchProgress {
    fn started(&mut self, total: usize) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::new(total as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed:>4} [{bar:30}] {pos}/{len} images, {msg}, {rate}, {eta} left",
        ) {
            let rate = |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.2}/s", state.per_sec());
            };
            bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
        }
        bar.set_message("0 failed");
        self.bar = Some(bar);
    }

    fn finished(&mut self, result: &ImageResult) {
        let ok = matches!(result.status, ImageStatus::Stored | ImageStatus::Skipped);
        self.failed += usize::from(!ok);
        let ms = result.timings.total.as_secs_f64() * 1e3;
        let line = match (result.status, &result.error) {
            (ImageStatus::Stored, _) => {
                format!("stored {} ({} variations, {ms:.0} ms)", result.image, result.stored)
            }
            (ImageStatus::Skipped, _) => format!("skipped {} (stored before)", result.image),
            (status, error) => {
                let status = serde_json::to_value(status).ok().and_then(|v| v.as_str().map(String::from));
                let error = error.as_ref().map_or("cancelled".into(), |error| error.to_string());
                // Most errors already start with the image's name.
                let error = error.strip_prefix(&format!("{}: ", result.image)).unwrap_or(&error);
                // "cancelled (SIGINT) before it was made" says its status already.
                let status = status.filter(|status| !error.starts_with(status.as_str()));
                match status {
                    Some(status) => format!("error: {}: {status}: {error}", result.image),
                    None => format!("error: {}: {error}", result.image),
                }
            }
        };
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(format!("{} failed", self.failed));
                if !ok {
                    bar.println(line);
                }
            }
            None if ok && self.quiet => {}
            None => self.console.line(&line),
        }
    }
}
