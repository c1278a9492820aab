//! variegate-store's tests, one binary: real stores (a folder, an S3 server, the cloud emulators) on 127.0.0.1.
//!
//! `cargo test -p variegate-store --test it MODULE::` runs one module.

mod clouds;
mod s3;
mod store;
