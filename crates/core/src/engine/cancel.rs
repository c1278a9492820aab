//! Cancelling a job from another thread (a signal handler, a deadline): no
//! variation starts after [`Canceller::cancel`]; those under way finish, and
//! every palette not started comes out as a cancelled variation, so that
//! whoever drains the channel can still account for every palette.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Shared by a [`Job`](crate::Job) and whoever may cancel it. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Canceller {
    state: Arc<OnceLock<Cancellation>>,
}

/// When and why a job was cancelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancellation {
    /// Why, in a word or two, e.g. `SIGTERM`.
    pub reason: String,
    /// When [`Canceller::cancel`] was first called.
    pub at: Instant,
}

impl Canceller {
    /// A canceller that has not cancelled anything yet.
    pub fn new() -> Canceller {
        Canceller::default()
    }

    /// Cancels: no variation starts from now on. Only the first call counts;
    /// it returns whether this call was that one.
    pub fn cancel(&self, reason: impl Into<String>) -> bool {
        let mut first = false;
        self.state.get_or_init(|| {
            first = true;
            Cancellation { reason: reason.into(), at: Instant::now() }
        });
        first
    }

    /// Whether [`Canceller::cancel`] has been called.
    pub fn is_cancelled(&self) -> bool {
        self.state.get().is_some()
    }

    /// When and why it was cancelled, if it was.
    pub fn cancellation(&self) -> Option<&Cancellation> {
        self.state.get()
    }
}
