//! Why a store cannot be used, and why one object could not be stored:
//! each with the one line a manifest or a message writes.

use std::time::Duration;

use variegate_core::one_line;

/// Why a store, or a local destination, cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The location does not parse, or the store's configuration is incomplete.
    #[error("store {location:?}: {reason}")]
    Invalid {
        /// The location as given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Not a scheme this crate stores to.
    #[error(
        "store {location:?}: unsupported scheme {scheme:?} (use a local path, file://, memory://, s3://, gs:// or az://)"
    )]
    UnsupportedScheme {
        /// The location as given.
        location: String,
        /// Its scheme.
        scheme: String,
    },
    /// No endpoint, no bucket, bad credentials: the check's listing failed.
    #[error("store {location:?} does not answer: {reason}")]
    Unreachable {
        /// The location as given.
        location: String,
        /// What the store (or the network) said.
        reason: String,
    },
    /// A local folder (or a file's folder) cannot be written.
    #[error("{what} {}: cannot write there: {reason}", path.display())]
    NotWritable {
        /// What it is for, e.g. `store`, `spill folder`.
        what: &'static str,
        /// The folder or file.
        path: std::path::PathBuf,
        /// What the file system said.
        reason: String,
    },
}

/// Why a call to a store did not do its work. Each variant keeps what the
/// store, the network or the file system said, on one line; the error stays
/// typed until a manifest or results line writes its message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The store (or the network) failed the call, after its retries.
    #[error("{0}")]
    Store(String),
    /// A local folder did not take the file.
    #[error("{0}")]
    Local(String),
    /// A link to the object could not be signed.
    #[error("signing a link to {key}: {reason}")]
    Link {
        /// The object's key.
        key: String,
        /// What the signer said.
        reason: String,
    },
    /// The call was not made: what it depends on failed.
    #[error("not tried: {0}")]
    NotTried(&'static str),
    /// After a signal, the store did not answer within the grace period.
    #[error("no answer within the {} s grace after {signal}", grace.as_secs_f64())]
    NoAnswer {
        /// The grace period.
        grace: Duration,
        /// The signal, e.g. `SIGTERM`.
        signal: String,
    },
    /// After a signal, a put under way was abandoned when the grace period ran out.
    #[error("not stored within the {} s grace after {signal}", grace.as_secs_f64())]
    Abandoned {
        /// The grace period.
        grace: Duration,
        /// The signal, e.g. `SIGTERM`.
        signal: String,
    },
    /// The task making the call failed (it panicked).
    #[error("{0}")]
    Task(String),
    /// The object could not be written out (a manifest that did not serialise).
    #[error("{0}")]
    Serialise(String),
}

impl From<object_store::Error> for ObjectError {
    fn from(error: object_store::Error) -> ObjectError {
        ObjectError::Store(one_line(&error))
    }
}
