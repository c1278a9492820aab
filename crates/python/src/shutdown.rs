//! Interpreter shutdown with calls in flight.
//!
//! When Python ends with a call running in a daemon thread, CPython up to
//! 3.13 ends that thread with a forced unwind the next time it takes the
//! GIL back. Through Rust's frames (a scoped thread, PyO3's own guard) that
//! unwind aborts the process ("FATAL: exception not rethrown", SIGABRT),
//! whatever the main thread's status.
//!
//! So the package's `atexit` handler ([`at_exit`]), which runs on the
//! finalising thread before daemon threads are stopped, marks the
//! interpreter as shutting down, cancels the calls in flight and gives them
//! a moment to record it; from then on a call's thread never takes the GIL
//! back ([`detach`]): it waits, without it, for the process to end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use variegate_core::Canceller;

/// How long exit waits for the calls in flight, cancelled, to end: their
/// variations made so far stored and their manifests written.
const GRACE: Duration = Duration::from_secs(2);

/// Set by [`at_exit`]: no thread but the finalising one attaches again.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);
/// The thread that runs the `atexit` handlers and then finalises.
static FINALISING: OnceLock<ThreadId> = OnceLock::new();
/// Threads between their check of [`SHUTTING_DOWN`] and the GIL taken back.
static ATTACHING: AtomicUsize = AtomicUsize::new(0);

/// The calls in flight, by number, with their cancellers.
static CALLS: Mutex<Option<HashMap<u64, Canceller>>> = Mutex::new(None);
static ENDED: Condvar = Condvar::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A call in flight, until dropped.
pub struct Call(u64);

impl Call {
    pub fn start(canceller: &Canceller) -> Call {
        let number = NEXT.fetch_add(1, SeqCst);
        let mut calls = CALLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        calls.get_or_insert_default().insert(number, canceller.clone());
        Call(number)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let mut calls = CALLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(calls) = calls.as_mut() {
            calls.remove(&self.0);
        }
        ENDED.notify_all();
    }
}

/// `py.detach(work)`, except that once the interpreter is shutting down
/// this thread (unless it is the finalising one) does not take the GIL
/// back: it waits for the process to end.
pub fn detach<T: Send>(py: Python<'_>, work: impl FnOnce() -> T + Send) -> T {
    let value = py.detach(|| {
        let value = work();
        // Counted before the check, so that `at_exit` either is seen here
        // or sees this thread on its way to the GIL and waits for it.
        ATTACHING.fetch_add(1, SeqCst);
        if SHUTTING_DOWN.load(SeqCst) && FINALISING.get() != Some(&std::thread::current().id()) {
            ATTACHING.fetch_sub(1, SeqCst);
            loop {
                std::thread::park();
            }
        }
        value
    });
    ATTACHING.fetch_sub(1, SeqCst);
    value
}

/// The package's `atexit` handler: see the module's docs.
#[pyfunction]
pub fn at_exit(py: Python<'_>) {
    let _ = FINALISING.set(std::thread::current().id());
    SHUTTING_DOWN.store(true, SeqCst);
    let deadline = Instant::now() + GRACE;
    py.detach(|| {
        let mut calls = CALLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for canceller in calls.iter().flat_map(|calls| calls.values()) {
            canceller.cancel("interpreter shutdown");
        }
        while calls.as_ref().is_some_and(|calls| !calls.is_empty()) || ATTACHING.load(SeqCst) > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let timeout = left.min(Duration::from_millis(10));
            calls = ENDED.wait_timeout(calls, timeout).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
    });
}
