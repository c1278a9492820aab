//! The image argument: encoded bytes, a path, or a NumPy array, checked
//! against the engine's budgets from the array's shape before its one copy.

use std::path::PathBuf;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use variegate_core::{Channels, Engine, SourceImage};

use crate::Failure;

/// The image argument, as the Python half hands it over: encoded bytes, a
/// path, or a NumPy array (read where it is, then copied once: [`Array`]).
pub enum ImageArg<'a> {
    /// Borrowed from the caller's `bytes`, which cannot change under us.
    Encoded(&'a [u8]),
    File(PathBuf),
    Array(Array),
    /// An array's pixels, copied ([`ImageArg::ready`]).
    Pixels {
        pixels: Vec<u8>,
        width: u32,
        height: u32,
        channels: Channels,
    },
}

impl<'a> ImageArg<'a> {
    pub fn from_python(image: &'a Bound<'_, PyAny>) -> PyResult<ImageArg<'a>> {
        if let Ok(bytes) = image.cast::<PyBytes>() {
            return Ok(ImageArg::Encoded(bytes.as_bytes()));
        }
        if let Ok(interface) = image.getattr("__array_interface__") {
            return Array::from_interface(&interface).map(ImageArg::Array);
        }
        if !image.is_instance_of::<PyString>() && image.getattr("__fspath__").is_err() {
            let kind = image.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "image must be bytes, a path, or a NumPy uint8 array of shape (H, W, 3) or (H, W, 4), not {kind}"
            )));
        }
        Ok(ImageArg::File(image.extract()?))
    }

    /// An array checked against `engine`'s budgets from its shape, then
    /// copied (the one copy, which becomes the image); the rest as they are.
    /// Called with the GIL held, which keeps Python threads from writing
    /// the array while it is read.
    pub fn ready(self, engine: &Engine, name: &str) -> Result<ImageArg<'a>, Failure> {
        match self {
            ImageArg::Array(array) => {
                engine.check_pixels(name, array.width, array.height, array.channels)?;
                let (width, height, channels) = (array.width, array.height, array.channels);
                Ok(ImageArg::Pixels { pixels: array.copy(), width, height, channels })
            }
            other => Ok(other),
        }
    }

    /// Decodes (or wraps) it in `engine`, named `name` where it has no path.
    /// Called with the GIL released, after [`ImageArg::ready`].
    pub fn open(self, engine: &Engine, name: &str) -> Result<SourceImage, Failure> {
        match self {
            ImageArg::Encoded(bytes) => Ok(engine.decode(bytes, name)?),
            ImageArg::File(path) => Ok(engine.open(path)?),
            ImageArg::Pixels { pixels, width, height, channels } => {
                Ok(engine.from_pixels(name, width, height, channels, pixels)?)
            }
            ImageArg::Array(_) => Err(Failure::Bug("an array opened before it was copied".into())),
        }
    }
}

/// A NumPy `uint8` array of shape (H, W, 3) or (H, W, 4), as its
/// `__array_interface__` describes it: where its first byte is, and how far
/// apart its rows, pixels and channels are (any layout: a slice, a
/// transposed or broadcast view). The buffer protocol would say the same,
/// but is not in the stable ABI of Python 3.9, which the wheel targets.
pub struct Array {
    data: usize,
    width: u32,
    height: u32,
    channels: Channels,
    /// Bytes from one row, pixel and channel to the next (may be negative).
    strides: [isize; 3],
}

impl Array {
    /// Read while the caller holds the array, which is alive until the call
    /// returns, after [`Array::copy`].
    fn from_interface(interface: &Bound<'_, PyAny>) -> PyResult<Array> {
        let shape: Vec<usize> = interface.get_item("shape")?.extract()?;
        let typestr: String = interface.get_item("typestr")?.extract()?;
        let [height, width, channels] = shape[..] else {
            return Err(PyValueError::new_err(format!(
                "image array must be uint8 of shape (H, W, 3) or (H, W, 4), not shape {shape:?}"
            )));
        };
        let channels = match (typestr.as_str(), channels) {
            ("|u1", 3) => Channels::Rgb,
            ("|u1", 4) => Channels::Rgba,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "image array must be uint8 of shape (H, W, 3) or (H, W, 4), not {typestr} of shape {shape:?}"
                )));
            }
        };
        let (data, _read_only): (usize, bool) = interface.get_item("data")?.extract()?;
        let strides: Option<Vec<isize>> = interface.get_item("strides")?.extract()?;
        let strides = match strides.as_deref() {
            Some(&[row, pixel, channel]) => [row, pixel, channel],
            // None: C order, packed.
            _ => [(width * channels.count()) as isize, channels.count() as isize, 1],
        };
        // Sides past u32 are over any pixel budget; saturated, they are refused as such.
        let side = |length: usize| u32::try_from(length).unwrap_or(u32::MAX);
        Ok(Array { data, width: side(width), height: side(height), channels, strides })
    }

    /// The pixels, rows top to bottom, packed: a row at a time where the
    /// array's pixels are packed, else pixel by pixel.
    fn copy(&self) -> Vec<u8> {
        let (width, height, channels) = (self.width as usize, self.height as usize, self.channels.count());
        let [row_stride, pixel_stride, channel_stride] = self.strides;
        let packed = pixel_stride == channels as isize && channel_stride == 1;
        let mut pixels = Vec::with_capacity(width * height * channels);
        if width == 0 || height == 0 {
            // Nothing to read, and no offset into an empty array is in it.
            return pixels;
        }
        let first = self.data as *const u8;
        for y in 0..height {
            // SAFETY: the interface is NumPy's, of an array the caller
            // holds (alive for this call) and no Python thread writes while
            // the GIL is held: every offset below is within it.
            unsafe {
                let row = first.offset(y as isize * row_stride);
                if packed {
                    pixels.extend_from_slice(std::slice::from_raw_parts(row, width * channels));
                    continue;
                }
                for x in 0..width {
                    let pixel = row.offset(x as isize * pixel_stride);
                    for channel in 0..channels {
                        pixels.push(*pixel.offset(channel as isize * channel_stride));
                    }
                }
            }
        }
        pixels
    }
}

/// What an image without a path is called in errors and keys.
pub fn default_name(image: &ImageArg<'_>) -> String {
    match image {
        ImageArg::Array(_) | ImageArg::Pixels { .. } => "array".into(),
        _ => "image".into(),
    }
}
