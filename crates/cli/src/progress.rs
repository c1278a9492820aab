//! What the user sees while a run goes: a progress bar on a terminal, one
//! line per finished variation otherwise, only errors with `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use variegate_uploader::{Outcome, Status, StoreReport};

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
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
        Progress { bar, quiet }
    }

    /// One variation is done: stored or failed.
    pub fn outcome(&mut self, outcome: &Outcome) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        match (outcome.status, &outcome.error) {
            (Status::Failed, Some(error)) => {
                self.line(&format!("error: variation {} failed: {error}", outcome.index))
            }
            (Status::Spilled, Some(error)) => self.line(&format!(
                "error: variation {} not stored, saved to {}: {error}",
                outcome.index,
                outcome.spill_path.as_deref().unwrap_or_default()
            )),
            _ if self.quiet || self.bar.is_some() => {}
            _ => {
                let ms: f64 = outcome.timings_ms.values().sum();
                let key = outcome.key.as_deref().unwrap_or_default();
                eprintln!("stored {key} ({} bytes, {ms:.0} ms)", outcome.bytes);
            }
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// The closing lines: a manifest failure always, the tally unless quiet.
    pub fn summary(&self, report: &StoreReport, store: &str) {
        if let Some(error) = &report.manifest_error {
            eprintln!("error: manifest not stored: {error}");
        }
        if !self.quiet {
            let manifest = &report.manifest;
            let total = manifest.timings_ms.get("total").copied().unwrap_or_default();
            eprintln!(
                "{} of {} variations stored in {store}{} ({total:.0} ms)",
                manifest.stored,
                manifest.variations.len(),
                manifest.folder
            );
        }
    }
}
