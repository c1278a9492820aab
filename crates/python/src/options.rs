//! Keyword options, named as the command line's flags: taken once each by
//! name, turned into the engine's look ([`LookSpec`], through the engine's
//! option table) and settings, and refused in Python's words.

use pyo3::exceptions::{PyDeprecationWarning, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use variegate_core::decoding::{ColourProfiles, DEFAULT_MAX_PIXELS};
use variegate_core::looks::{
    LOOK_OPTIONS, LookName, LookOption, LookSpec, LookSpecError, OptionKind, OptionValue,
};
use variegate_core::memory::parse_size;
use variegate_core::{BuildError, Engine, OutputFormat, Rgb8};

/// Keyword options, each taken once by name; what is left at the end was
/// not an option.
pub struct Options<'py> {
    given: Bound<'py, PyDict>,
}

impl<'py> Options<'py> {
    pub fn new(py: Python<'py>, given: Option<&Bound<'py, PyDict>>) -> PyResult<Options<'py>> {
        Ok(Options { given: given.map_or_else(|| Ok(PyDict::new(py)), |given| given.copy())? })
    }

    /// The value of `name`, if given and not None.
    pub fn take<T>(&self, name: &str) -> PyResult<Option<T>>
    where
        T: for<'a> FromPyObject<'a, 'py>,
    {
        let Some(value) = self.given.get_item(name)? else {
            return Ok(None);
        };
        self.given.del_item(name)?;
        if value.is_none() {
            return Ok(None);
        }
        value.extract::<T>().map(Some).map_err(|error| {
            let error: PyErr = error.into();
            // e.g. "option seed=-1: can't convert negative int to unsigned"
            let py = self.given.py();
            let repr = value.repr().map(|r| r.to_string()).unwrap_or_default();
            let message = format!("option {name}={repr}: {}", error.value(py));
            if error.is_instance_of::<PyTypeError>(py) {
                PyTypeError::new_err(message)
            } else {
                PyValueError::new_err(message)
            }
        })
    }

    pub fn finish(self) -> PyResult<()> {
        match self.given.keys().iter().next() {
            Some(key) => Err(PyTypeError::new_err(format!("unexpected keyword argument {}", key.repr()?))),
            None => Ok(()),
        }
    }
}

/// `dither=`: a flag (Floyd–Steinberg) or a method's name, as `--dither[=METHOD]`.
enum DitherArg {
    On(bool),
    Method(String),
}

impl DitherArg {
    /// `value` as a flag or a name; `None` for anything else (an int, a
    /// list), which the caller refuses in one line naming what is taken.
    fn from_python(value: &Bound<'_, PyAny>) -> Option<DitherArg> {
        match value.cast::<pyo3::types::PyBool>() {
            Ok(flag) => Some(DitherArg::On(flag.is_true())),
            Err(_) => value.extract::<String>().ok().map(DitherArg::Method),
        }
    }
}

/// The look and its options from the keywords named as in the engine's
/// table ([`LOOK_OPTIONS`]), worded as Python's own errors are.
fn look_from(options: &Options<'_>) -> PyResult<LookSpec> {
    let name: String = options.take("look")?.unwrap_or_else(|| "shift".into());
    let mut spec = LookSpec::named(&name).map_err(|_| {
        let names: Vec<String> = LookName::ALL.iter().map(|look| format!("'{}'", look.as_str())).collect();
        let (all_but_last, last) = names.split_at(names.len() - 1);
        PyValueError::new_err(format!(
            "look must be {} or {}, not {name:?}",
            all_but_last.join(", "),
            last.join("")
        ))
    })?;
    for option in LOOK_OPTIONS {
        let value = match option.kind {
            OptionKind::Integer { .. } => options.take::<u64>(option.name)?.map(OptionValue::Integer),
            OptionKind::Number { .. } => options.take::<f32>(option.name)?.map(OptionValue::Number),
            OptionKind::Method { methods, bare } => {
                let names: Vec<String> = methods.iter().map(|(name, _)| format!("'{name}'")).collect();
                let taken = format!("True, False, {}", names.join(" or "));
                match options.take::<Bound<'_, PyAny>>(option.name)? {
                    None => None,
                    Some(value) => match DitherArg::from_python(&value) {
                        // False is the default, no dithering, whatever the look.
                        Some(DitherArg::On(false)) => None,
                        Some(DitherArg::On(true)) => Some(OptionValue::Method(bare.into())),
                        Some(DitherArg::Method(method))
                            if methods.iter().any(|(name, _)| *name == method) =>
                        {
                            Some(OptionValue::Method(method))
                        }
                        Some(DitherArg::Method(method)) => {
                            return Err(PyValueError::new_err(format!(
                                "{} must be {taken}, not {method:?}",
                                option.name
                            )));
                        }
                        None => {
                            let repr = value.repr().map(|r| r.to_string()).unwrap_or_default();
                            let message = format!("option {}={repr}: must be {taken}", option.name);
                            return Err(pyo3::exceptions::PyTypeError::new_err(message));
                        }
                    },
                }
            }
            _ => None,
        };
        if let Some(value) = value {
            spec.set(option.name, value).map_err(look_error)?;
        }
    }
    for option in spec.deprecated_given() {
        let message = format!("{} {}", option.name, option.deprecated.unwrap_or_default());
        let message = std::ffi::CString::new(message).unwrap_or_default();
        // Level 2: the line that called the package's function.
        PyErr::warn(options.given.py(), &options.given.py().get_type::<PyDeprecationWarning>(), &message, 2)?;
    }
    Ok(spec)
}

/// The engine's table of the looks' options, for the docstrings: `(name,
/// default, help)`, the default as Python writes it ("" where the help
/// says it), the help as the command line's.
#[pyfunction]
pub fn look_options() -> Vec<(&'static str, String, &'static str)> {
    let default = |option: &LookOption| match option.kind {
        OptionKind::Integer { default, .. } => default.map(|d| d.to_string()).unwrap_or_default(),
        OptionKind::Number { default, .. } => format!("{default:?}"),
        _ => "False".into(),
    };
    LOOK_OPTIONS.iter().map(|option| (option.name, default(option), option.help)).collect()
}

/// A look's option refused, in Python's words.
fn look_error(error: LookSpecError) -> PyErr {
    PyValueError::new_err(match error {
        LookSpecError::OtherLook { option } => {
            let looks: Vec<String> = option.looks.iter().map(|look| format!("'{}'", look.as_str())).collect();
            format!("{} goes with look={}", option.name, looks.join(" or "))
        }
        other => other.to_string(),
    })
}

/// An engine from the options a recolour takes (the command line's, named
/// alike): `look`, its options, `seed`, `format`, `quality`, `background`,
/// `threads`, `max_pixels`, `max_memory`, `max_side`, `lenient`, `colour_profiles`, and
/// `thumbnail` and `sizes` when `stored` is true.
pub fn engine_from(options: &Options<'_>, stored: bool) -> PyResult<Engine> {
    let mut builder = Engine::builder().look_spec(&look_from(options)?).map_err(look_error)?;
    let format: String = options.take("format")?.unwrap_or_else(|| "png".into());
    let (quality, speed) = (options.take("quality")?, options.take("speed")?);
    let lossless: bool = options.take("lossless")?.unwrap_or(false);
    let format = OutputFormat::from_settings(&format, quality, lossless, speed)
        .map_err(|reason| PyValueError::new_err(format!("invalid option format: {reason}")))?;
    let threads: Option<usize> = options.take("threads")?;
    if threads == Some(0) {
        return Err(PyValueError::new_err("invalid option threads: must be at least 1"));
    }
    if stored {
        builder = builder.thumbnail(options.take("thumbnail")?);
        builder = builder.sizes(&options.take::<Vec<u32>>("sizes")?.unwrap_or_default());
    }
    // Bytes, or a size as the command line takes it ("512M", "2G").
    match options.take::<Bound<'_, PyAny>>("max_memory")? {
        None => {}
        Some(value) => {
            let bytes = match value.extract::<u64>() {
                Ok(bytes) => bytes,
                Err(_) => parse_size(&value.str()?.to_string())
                    .map_err(|reason| PyValueError::new_err(format!("option max_memory: {reason}")))?,
            };
            builder = builder.max_memory(bytes);
        }
    }
    // Only where given: the engine refuses them where they change no byte.
    if let Some(seed) = options.take("seed")? {
        builder = builder.seed(seed);
    }
    if let Some(text) = options.take::<String>("background")? {
        builder = builder.background(Rgb8::parse_hex(text.trim()).ok_or_else(|| {
            PyValueError::new_err(format!("background {text:?} is not a hex colour (#RGB or #RRGGBB)"))
        })?);
    }
    builder
        .threads(threads.unwrap_or(0))
        .format(format)
        .max_pixels(options.take("max_pixels")?.unwrap_or(DEFAULT_MAX_PIXELS))
        .lenient(options.take("lenient")?.unwrap_or(false))
        .colour_profiles(match options.take::<String>("colour_profiles")?.as_deref() {
            None | Some("convert") => ColourProfiles::Convert,
            Some("ignore") => ColourProfiles::Ignore,
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "colour_profiles must be 'convert' or 'ignore', not {other:?}"
                )));
            }
        })
        .max_side(options.take("max_side")?)
        .build()
        .map_err(option_error)
}

fn option_error(error: BuildError) -> PyErr {
    PyValueError::new_err(error.to_string())
}
