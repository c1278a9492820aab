//! SIGINT and SIGTERM. The first cancels the job: no variation starts,
//! what is made is stored within the grace period, the manifest and report
//! are written, and the process exits 130 or 143. Every store call is cut
//! at the end of the grace (the uploader's `within_grace`); should anything
//! still hold the process [`OVERRUN`] later, it ends there, as a second
//! signal would, so that the scheduler's SIGKILL never comes first. A second
//! one, or a first one before the job has started, ends the process at
//! once, after removing every file still being written.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use variegate_core::Canceller;
use variegate_store::EmergencyStop;

/// Watches for the two signals on a thread of its own.
pub struct SignalWatch {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// The job to cancel, once it runs.
    job: Option<Canceller>,
    /// The first signal received.
    received: Option<i32>,
}

impl SignalWatch {
    /// Starts watching. `stop` is used before exiting at once; `grace` is
    /// how long the work may go on after the first signal.
    pub fn start(stop: EmergencyStop, grace: Duration) -> std::io::Result<SignalWatch> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let state = Arc::new(Mutex::new(State::default()));
        let watched = state.clone();
        std::thread::Builder::new().name("variegate-signals".into()).spawn(move || {
            for signal in signals.forever() {
                let mut state = watched.lock().unwrap_or_else(PoisonError::into_inner);
                match (state.received, state.job.clone()) {
                    (None, Some(job)) => {
                        state.received = Some(signal);
                        job.cancel(name(signal));
                        let stop = stop.clone();
                        // The last resort: detached, it ends the process if the work overruns.
                        let _ = std::thread::Builder::new().name("variegate-overrun".into()).spawn(move || {
                            std::thread::sleep(grace + OVERRUN);
                            crate::progress::Console::default().line(&format!(
                                "error: still running {:.1} s after {}; exiting now (the record may be incomplete)",
                                (grace + OVERRUN).as_secs_f64(),
                                name(signal)
                            ));
                            stop.stop();
                            std::process::exit(exit_code(signal));
                        });
                    }
                    // Nothing started yet, or asked twice: end now.
                    _ => {
                        stop.stop();
                        std::process::exit(exit_code(state.received.unwrap_or(signal)));
                    }
                }
            }
        })?;
        Ok(SignalWatch { state })
    }

    /// From now on the first signal cancels `job` instead of ending the process.
    pub fn cancels(&self, job: Canceller) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).job = Some(job);
    }

    /// The exit code the first signal calls for (128 + its number), if one came.
    pub fn exit_code(&self) -> Option<u8> {
        let received = self.state.lock().unwrap_or_else(PoisonError::into_inner).received;
        received.map(|signal| exit_code(signal) as u8)
    }
}

/// How long past the grace the process may take to write its records and
/// exit before it is ended: the grace plus this stays within the 2 s the
/// README promises on top of `--grace`.
const OVERRUN: Duration = Duration::from_millis(1500);

fn name(signal: i32) -> &'static str {
    if signal == SIGINT { "SIGINT" } else { "SIGTERM" }
}

/// The shell's convention for a process ended by a signal.
fn exit_code(signal: i32) -> i32 {
    128 + signal
}
