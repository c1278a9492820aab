//! The command line's tests, one binary: the real `variegate` run as users and schedulers run it, a module per part.
//!
//! `cargo test -p variegate-cli --test it MODULE::` runs one module. The
//! memory budget's tests are a binary of their own (`tests/memory.rs`).

mod batch_support;
mod common;

mod batch;
mod cgroups;
mod cli;
mod clouds;
mod deploy;
mod every_exit;
mod gallery;
mod inputs;
mod lists;
mod s3;
