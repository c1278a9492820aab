//! The native half of the Python package `variegate` (its Python half, in
//! `python/variegate/`, holds the documented API): it translates Python
//! values into the engine's and the uploader's types and back, and does no
//! work of its own.
//!
//! Each call builds an [`Engine`] (and for `run` an [`Uploader`]) from
//! keyword options named as the command line's flags (`options`), releases the GIL while
//! they work, so that Python threads recolour at once, and turns each typed
//! error into the Python exception of its kind, with the message the command
//! line prints. Nothing is kept between calls.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyMapping, PySequence};
use variegate_core::decoding::DEFAULT_MAX_PIXELS;
use variegate_core::{Engine, Palette, PaletteError as CorePaletteError, SourceImage, Variation};
use variegate_store::{Store, StoreError as CoreStoreError, StoreOptions, Uploader, UploaderError};

mod call;
mod image;
mod options;
mod shutdown;

use call::{PyCanceller, canceller_from, catch_bug, interruptible};
use image::{ImageArg, default_name};

use options::{Options, engine_from};

create_exception!(
    variegate,
    DecodeError,
    PyValueError,
    "The image cannot be read or decoded, or is over the pixel budget. The message names it."
);
create_exception!(
    variegate,
    PaletteError,
    PyValueError,
    "A palette is malformed: the message names the palette, and the colour that is not #RGB or #RRGGBB."
);
create_exception!(
    variegate,
    InternalError,
    PyRuntimeError,
    "A bug in variegate: its work stopped where it never should (a panic). The message says where; please report it."
);
create_exception!(
    variegate,
    StoreError,
    PyOSError,
    "The store cannot be opened, does not answer, or cannot be written."
);

/// Why a call failed before any variation was made. Per-palette failures
/// are not here: they are results (a `Variation`'s error, a report's).
enum Failure {
    Decode(variegate_core::DecodeError),
    Store(CoreStoreError),
    Uploader(UploaderError),
    Start(std::io::Error),
    /// A panic in the work, which is a bug: its message.
    Bug(String),
}

impl From<variegate_core::DecodeError> for Failure {
    fn from(error: variegate_core::DecodeError) -> Self {
        Failure::Decode(error)
    }
}

impl From<CoreStoreError> for Failure {
    fn from(error: CoreStoreError) -> Self {
        Failure::Store(error)
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> PyErr {
        match failure {
            Failure::Decode(error) => DecodeError::new_err(error.to_string()),
            Failure::Store(error) => StoreError::new_err(error.to_string()),
            Failure::Uploader(UploaderError::Option { option, reason }) => {
                PyValueError::new_err(format!("invalid option {option}: {reason}"))
            }
            Failure::Uploader(error) => StoreError::new_err(error.to_string()),
            Failure::Start(error) => PyRuntimeError::new_err(format!("cannot start the run: {error}")),
            Failure::Bug(panic) => InternalError::new_err(format!(
                "a bug in variegate: its work panicked: {panic} (please report it, with the call that did it)"
            )),
        }
    }
}

/// Palettes as dicts like a palettes file's objects: `name`, `colors` and
/// an optional `description`; other keys are the caller's and ignored.
fn palettes_from_python(palettes: &Bound<'_, PyAny>) -> PyResult<Vec<Palette>> {
    const ORIGIN: &str = "palettes";
    let malformed =
        |position: usize, what: &str| PaletteError::new_err(format!("{ORIGIN}: palette {position}: {what}"));
    let list = palettes
        .cast::<PySequence>()
        .map_err(|_| PaletteError::new_err(format!("{ORIGIN}: expected a list of palettes")))?;
    let mut parsed = Vec::new();
    for (index, palette) in list.try_iter()?.enumerate() {
        let position = index + 1;
        let palette = palette?;
        let palette = palette
            .cast::<PyMapping>()
            .map_err(|_| malformed(position, "expected a dict with \"name\" and \"colors\""))?;
        let field = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
            match palette.get_item(key) {
                Ok(value) if value.is_none() => Ok(None),
                Ok(value) => Ok(Some(value)),
                Err(error) if error.is_instance_of::<pyo3::exceptions::PyKeyError>(palette.py()) => Ok(None),
                Err(error) => Err(error),
            }
        };
        let name: String = field("name")?
            .ok_or_else(|| malformed(position, "no \"name\""))?
            .extract()
            .map_err(|_| malformed(position, "\"name\" must be a string"))?;
        // Named as the engine's palette errors are: `palette 2 ("Typo"): ...`.
        let named =
            |what: &str| PaletteError::new_err(format!("{ORIGIN}: palette {position} ({name:?}): {what}"));
        let colors: Vec<String> = field("colors")?
            .ok_or_else(|| named("no \"colors\""))?
            .extract()
            .map_err(|_| named("\"colors\" must be a list of strings"))?;
        let description: Option<String> = field("description")?
            .map(|value| value.extract())
            .transpose()
            .map_err(|_| named("\"description\" must be a string"))?;
        let palette = Palette::parse(name, &colors, description, position, ORIGIN)
            .map_err(|error: CorePaletteError| PaletteError::new_err(error.to_string()))?;
        parsed.push(palette);
    }
    if parsed.is_empty() {
        return Err(PaletteError::new_err(format!("{ORIGIN}: no palettes: expected at least one")));
    }
    Ok(parsed)
}

/// One variation for the Python half's `Variation`: index, name, colours,
/// description, encoded bytes, content type, width, height, error.
type VariationRecord = (
    usize,
    String,
    Vec<String>,
    Option<String>,
    Option<Py<PyBytes>>,
    Option<&'static str>,
    Option<u32>,
    Option<u32>,
    Option<String>,
);

fn record(py: Python<'_>, variation: Variation) -> VariationRecord {
    let Variation { index, palette, result, .. } = variation;
    let colors = palette.colors.iter().map(|colour| colour.to_string()).collect();
    let (data, content_type, width, height, error) = match result {
        Ok(encoded) => (
            Some(PyBytes::new(py, encoded.bytes()).unbind()),
            Some(encoded.content_type()),
            Some(encoded.width()),
            Some(encoded.height()),
            None,
        ),
        Err(error) => (None, None, None, None, Some(error.to_string())),
    };
    (index, palette.name, colors, palette.description, data, content_type, width, height, error)
}

/// A palette list that cannot work with the engine's look is refused before
/// any work (see `Engine::check_palettes`).
fn check_palettes(engine: &Engine, palettes: &[Palette]) -> PyResult<()> {
    engine.check_palettes(palettes, "palettes").map_err(|error| PaletteError::new_err(error.to_string()))
}

/// The `name=` option, or the image's own; on one line, as every report of
/// it is, so control characters are refused as lists refuse them.
fn image_name(options: &Options<'_>, image: &ImageArg) -> PyResult<String> {
    let name: String = options.take("name")?.unwrap_or_else(|| default_name(image));
    match name.chars().find(|c| c.is_control()) {
        Some(c) => Err(PyValueError::new_err(format!(
            "invalid option name: {name:?} contains a control character (U+{:04X})",
            c as u32
        ))),
        None => Ok(name),
    }
}

/// Recolours `image` with every palette; the variations, in palette order.
/// See `variegate.recolour`.
#[pyfunction]
#[pyo3(signature = (image, palettes, **options))]
fn recolour(
    py: Python<'_>,
    image: &Bound<'_, PyAny>,
    palettes: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<VariationRecord>> {
    let image = ImageArg::from_python(image)?;
    let palettes = palettes_from_python(palettes)?;
    let options = Options::new(py, options)?;
    let engine = engine_from(&options, false)?;
    check_palettes(&engine, &palettes)?;
    let name = image_name(&options, &image)?;
    let canceller = canceller_from(&options)?;
    options.finish()?;
    let image = image.ready(&engine, &name)?;
    let job_canceller = canceller.clone();
    let variations = interruptible(py, &canceller, || -> Result<Vec<Variation>, Failure> {
        let source = image.open(&engine, &name)?;
        let job = engine.start_with(source, palettes, job_canceller).map_err(Failure::Start)?;
        let mut variations: Vec<Variation> = job.variations().iter().collect();
        job.wait();
        variations.sort_by_key(|variation| variation.index);
        Ok(variations)
    })?;
    Ok(variations.into_iter().map(|variation| record(py, variation)).collect())
}

/// Recolours `image` and stores every variation and the manifest; the
/// manifest as JSON, and why it could not be stored if it could not. See
/// `variegate.run`.
#[pyfunction]
#[pyo3(signature = (image, palettes, **options))]
fn run(
    py: Python<'_>,
    image: &Bound<'_, PyAny>,
    palettes: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<(String, Option<String>)> {
    let image = ImageArg::from_python(image)?;
    let palettes = palettes_from_python(palettes)?;
    let options = Options::new(py, options)?;
    let engine = engine_from(&options, true)?;
    check_palettes(&engine, &palettes)?;
    let name = image_name(&options, &image)?;
    let out: String = options.take("out")?.unwrap_or_else(|| "./variations".into());
    let defaults = StoreOptions::default();
    // The command line's ranges (StoreOptions' constants): a deadline of a
    // second or more, a link's life in whole seconds up to S3's 7 days.
    let deadline = match options.take::<f64>("deadline")? {
        None => defaults.deadline,
        Some(seconds) => Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|d| d.as_secs() >= StoreOptions::MIN_DEADLINE_SECONDS)
            .ok_or_else(|| {
                let least = StoreOptions::MIN_DEADLINE_SECONDS;
                PyValueError::new_err(format!(
                    "invalid option deadline: must be at least {least} s, not {seconds}"
                ))
            })?,
    };
    let url_ttl = match options.take::<u64>("url_ttl")? {
        None => defaults.url_ttl,
        Some(seconds) if StoreOptions::URL_TTL_SECONDS.contains(&seconds) => Duration::from_secs(seconds),
        Some(seconds) => {
            let range = StoreOptions::URL_TTL_SECONDS;
            return Err(PyValueError::new_err(format!(
                "invalid option url_ttl: must be whole seconds from {} to {}, not {seconds}",
                range.start(),
                range.end()
            )));
        }
    };
    let store_options =
        StoreOptions { retries: options.take("retries")?.unwrap_or(defaults.retries), deadline, url_ttl };
    let storage_options: Vec<(String, String)> = options
        .take::<std::collections::HashMap<String, String>>("storage_options")?
        .unwrap_or_default()
        .into_iter()
        .collect();
    let uploads: Option<usize> = options.take("uploads")?;
    let spill_dir: PathBuf = options.take("spill_dir")?.unwrap_or_else(variegate_store::default_spill_dir);
    let canceller = canceller_from(&options)?;
    options.finish()?;
    let image = image.ready(&engine, &name)?;

    let job_canceller = canceller.clone();
    let report = interruptible(py, &canceller, || -> Result<_, Failure> {
        let store = Store::open_with_config(&out, store_options, storage_options)?;
        let builder = Uploader::builder(store);
        let builder = match uploads {
            Some(uploads) => builder.uploads(uploads),
            None => builder,
        };
        let uploader = builder.spill_dir(spill_dir).build().map_err(Failure::Uploader)?;
        uploader.check()?;
        let source = image.open(&engine, &name)?;
        let job = engine.start_with(source, palettes, job_canceller).map_err(Failure::Start)?;
        Ok(uploader.store_job(job))
    })?;
    let manifest = serde_json::to_string(&report.manifest)
        .map_err(|error| PyRuntimeError::new_err(format!("cannot write the report: {error}")))?;
    Ok((manifest, report.manifest_error.map(|error| error.to_string())))
}

/// Decodes a variation's bytes: `(pixels, width, height, channels)`.
#[pyfunction]
fn decode(py: Python<'_>, data: &Bound<'_, PyBytes>) -> PyResult<(Py<PyBytes>, u32, u32, usize)> {
    let bytes = data.as_bytes();
    let image = shutdown::detach(py, || {
        catch_bug(|| Ok(SourceImage::decode(bytes, "variation", DEFAULT_MAX_PIXELS)?))
    })?;
    let pixels = PyBytes::new(py, image.pixels()).unbind();
    Ok((pixels, image.width(), image.height(), image.channels().count()))
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("DecodeError", py.get_type::<DecodeError>())?;
    module.add("PaletteError", py.get_type::<PaletteError>())?;
    module.add("StoreError", py.get_type::<StoreError>())?;
    module.add("InternalError", py.get_type::<InternalError>())?;
    module.add_class::<PyCanceller>()?;
    module.add_function(wrap_pyfunction!(shutdown::at_exit, module)?)?;
    module.add_function(wrap_pyfunction!(call::panic_in_work, module)?)?;
    module.add_function(wrap_pyfunction!(recolour, module)?)?;
    module.add_function(wrap_pyfunction!(run, module)?)?;
    module.add_function(wrap_pyfunction!(decode, module)?)?;
    module.add_function(wrap_pyfunction!(options::look_options, module)?)?;
    Ok(())
}
