//! How a call runs: on a thread of its own while the caller waits without
//! the GIL, cancelled by Ctrl-C or a `Canceller`, a panic raised as the bug
//! it is.

use std::time::Duration;

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use variegate_core::{Canceller, panic_message};

use crate::options::Options;
use crate::{Failure, shutdown};

/// Cancels a call from another thread, or from asyncio when its task is
/// cancelled: the `canceller=` option of `recolour` and `run`. See
/// `variegate.Canceller`.
#[pyclass(name = "Canceller", module = "variegate", frozen)]
pub struct PyCanceller(Canceller);

#[pymethods]
impl PyCanceller {
    #[new]
    fn new() -> Self {
        PyCanceller(Canceller::new())
    }

    /// Cancels the calls given this canceller: no variation starts from now
    /// on, and those made or stored stay, recorded as in a cancelled run
    /// (`reason` is the manifest's `interrupted`). Only the first call
    /// counts; returns whether this one was it.
    #[pyo3(signature = (reason = "Canceller.cancel"))]
    fn cancel(&self, reason: &str) -> bool {
        self.0.cancel(reason)
    }

    /// Whether `cancel` has been called.
    #[getter]
    fn cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// The `canceller=` option, or one of the call's own.
pub fn canceller_from(options: &Options<'_>) -> PyResult<Canceller> {
    Ok(options
        .take::<Bound<'_, PyCanceller>>("canceller")?
        .map_or_else(Canceller::new, |c| c.get().0.clone()))
}

/// Runs `work` on a thread of its own while this one waits with the GIL
/// released, waking every 50 ms to let Python run its signal handlers. When
/// one raises (Ctrl-C's `KeyboardInterrupt`), `canceller` cancels the job:
/// the work ends as a cancelled run does, its manifest written, and the
/// exception is raised then, within about a second rather than when the
/// whole call would have ended. A panic in the work, a bug, is raised as
/// `InternalError`, never carried into Python.
pub fn interruptible<T: Send>(
    py: Python<'_>,
    canceller: &Canceller,
    work: impl FnOnce() -> Result<T, Failure> + Send,
) -> PyResult<T> {
    let (sender, receiver) = crossbeam_channel::bounded(1);
    let call = shutdown::Call::start(canceller);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let done = catch_bug(work);
            drop(call);
            let _ = sender.send(done);
        });
        let mut interrupted = None;
        loop {
            match shutdown::detach(py, || receiver.recv_timeout(Duration::from_millis(50))) {
                Ok(done) => return interrupted.map_or(done.map_err(PyErr::from), Err),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(Failure::Bug("the work stopped without a result".into()).into());
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            }
            if interrupted.is_none()
                && let Err(error) = py.check_signals()
            {
                let reason =
                    if error.is_instance_of::<PyKeyboardInterrupt>(py) { "SIGINT" } else { "a signal" };
                canceller.cancel(reason);
                interrupted = Some(error);
            }
        }
    })
}

/// `work`'s result, or a panic in it as the bug it is (raised as
/// [`InternalError`], never as PyO3's `PanicException`, which `except
/// Exception` does not catch).
pub fn catch_bug<T>(work: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
        .unwrap_or_else(|panic| Err(Failure::Bug(panic_message(&*panic))))
}

/// Panics in the work of a call, as a bug would: for the tests, which show
/// that it is raised as `InternalError` (a panic in Rust's code cannot be
/// had from any input, or it would be fixed).
#[pyfunction]
pub fn panic_in_work(py: Python<'_>) -> PyResult<()> {
    interruptible(py, &Canceller::new(), || -> Result<(), Failure> { panic!("as the test asked") })
}
