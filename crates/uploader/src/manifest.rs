//! What was stored, one record a variation: returned to the caller and
//! written as `manifest.json` beside the images.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The image a run recoloured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The path or name it was read from.
    pub path: String,
    /// File name without directories and extension: the start of the run folder.
    pub stem: String,
    /// SHA-256 of the image file, lower-case hex.
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    /// `png`, `jpeg` or `webp`.
    pub format: String,
}

/// What became of one variation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Stored,
    /// Not stored, but saved in the spill folder (`spill_path`): re-run to store it.
    Spilled,
    Failed,
}

/// One variation's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub index: usize,
    pub name: String,
    pub colors: Vec<String>,
    pub description: Option<String>,
    /// Key relative to the store's prefix; `None` if nothing was made to store.
    pub key: Option<String>,
    /// Where to fetch it: a `file://` URL for local stores.
    pub url: Option<String>,
    pub bytes: u64,
    pub content_type: Option<String>,
    pub status: Status,
    pub error: Option<String>,
    /// Where the bytes were saved locally when they could not be stored.
    pub spill_path: Option<String>,
    /// Key of the thumbnail, when one was stored.
    pub thumbnail: Option<String>,
    /// Milliseconds per stage: those the producer reported, plus `store`.
    pub timings_ms: BTreeMap<String, f64>,
}

impl Outcome {
    /// An outcome not (yet) tied to a stored object: `Err` makes it failed.
    pub fn new(
        index: usize,
        palette: crate::PaletteInfo,
        result: Result<(), String>,
        timings_ms: BTreeMap<String, f64>,
    ) -> Outcome {
        let (status, error) = match result {
            Ok(()) => (Status::Stored, None),
            Err(error) => (Status::Failed, Some(error)),
        };
        Outcome {
            index,
            name: palette.name,
            colors: palette.colors,
            description: palette.description,
            key: None,
            url: None,
            bytes: 0,
            content_type: None,
            status,
            error,
            spill_path: None,
            thumbnail: None,
            timings_ms,
        }
    }
}

/// The whole run: the document stored as `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub source: SourceInfo,
    /// The store the run went to.
    pub store: String,
    /// The run folder, relative to the store's prefix.
    pub folder: String,
    pub variations: Vec<Outcome>,
    pub stored: usize,
    /// Variations not stored (failed or spilled).
    pub failed: usize,
    /// Of those, the ones saved in the spill folder.
    pub spilled: usize,
    /// Milliseconds per stage of the whole run (decode, analyse, total), as
    /// the caller reports them.
    pub timings_ms: BTreeMap<String, f64>,
}
