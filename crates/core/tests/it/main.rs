//! variegate-core's integration tests, one binary: a module per part of the engine, on real images.
//!
//! `cargo test -p variegate-core --test it MODULE::` runs one module.

mod common;

mod decode;
mod engine;
mod fidelity;
mod looks;
mod palettes;
mod soft;
mod web_formats;
