//! What the workspace's integration tests share, as a dev-dependency
//! instead of files included by path:
//!
//! - [`s3server`]: a real S3-compatible server on 127.0.0.1 (s3s, checking
//!   SigV4) and a proxy in front of it that injects faults into chosen
//!   requests;
//! - [`emulators`]: Azurite and fake-gcs-server, installed on first use;
//! - [`jobs`]: the engine on the bundled photos and an observer that keeps
//!   what it sees;
//! - [`fuzzing`]: the fuzz tests' counting allocator, numbers and mutations.
//!
//! Nothing here is shipped: the crate is not published.

use std::path::PathBuf;

pub mod emulators;
pub mod fuzzing;
pub mod jobs;
pub mod s3server;

/// A file of the repository's `testdata/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)
}
