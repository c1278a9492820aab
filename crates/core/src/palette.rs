//! Palettes in the JSON format of the service this engine replaces:
//! `[{"name": "...", "colors": ["#RRGGBB", ...], "description": "..."}, ...]`.

use std::path::Path;

use std::collections::{BTreeMap, BTreeSet};

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::error::PaletteError;
use crate::pixels::Rgb8;

/// A named list of colours to recolour an image with.
///
/// A palette may have no colours: it parses, [`Engine::check_palettes`]
/// refuses it, and an engine given it anyway reports its variation as
/// failed while the others go on. Serialised as in the palettes file,
/// colours as `#RRGGBB`.
///
/// [`Engine::check_palettes`]: crate::Engine::check_palettes
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Palette {
    /// Shown to people, and slugged into the keys of stored variations.
    pub name: String,
    /// The colours, in the order given.
    pub colors: Vec<Rgb8>,
    /// Free text carried into the manifest and the stored objects' metadata.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Deserialize)]
struct PaletteRecord {
    name: String,
    colors: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    /// Fields of the caller's own (`id`, `tags`, ...): named in one warning.
    #[serde(flatten)]
    other: BTreeMap<String, IgnoredAny>,
}

impl Palette {
    /// A palette from hex colours, e.g. `Palette::from_hex("Dusk", &["#2B1B3D", "#F0544F"])`.
    pub fn from_hex<S: AsRef<str>>(name: &str, colors: &[S]) -> Result<Palette, PaletteError> {
        Palette::parse(name.into(), colors, None, 1, "palette")
    }

    /// A palette from its parts as a palettes file holds them: every colour
    /// `#RGB` or `#RRGGBB`, spaces around it ignored. `position` (from 1) and `origin` name the
    /// palette in errors, e.g. `palettes.json: palette 3 ("Dusk"): colour 2 ...`.
    pub fn parse<S: AsRef<str>>(
        name: String,
        colors: &[S],
        description: Option<String>,
        position: usize,
        origin: &str,
    ) -> Result<Palette, PaletteError> {
        let colors = colors
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let text = text.as_ref();
                Rgb8::parse_hex(text.trim()).ok_or_else(|| PaletteError::BadColour {
                    origin: origin.into(),
                    position,
                    name: name.clone(),
                    colour_position: i + 1,
                    colour: text.into(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Palette { name, colors, description })
    }

    /// A palette from a comma-separated list of hex colours such as
    /// `"#112233, #445566"`, named `Palette {position}`; `origin` names where
    /// the text came from in errors.
    pub fn parse_inline(text: &str, position: usize, origin: &str) -> Result<Palette, PaletteError> {
        let colors: Vec<&str> = text.split(',').collect();
        Palette::parse(format!("Palette {position}"), &colors, None, position, origin)
    }

    /// Reads and parses a palettes file. See [`Palette::parse_list`].
    pub fn load_list(path: impl AsRef<Path>) -> Result<Vec<Palette>, PaletteError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| PaletteError::Read { origin: origin.clone(), source })?;
        Palette::parse_list(&text, &origin)
    }

    /// Parses a JSON array of palettes; `origin` names the source in errors.
    ///
    /// The list must hold at least one palette; every colour must be `#RGB`
    /// or `#RRGGBB`. A byte-order mark is skipped; fields other than `name`,
    /// `colors` and `description` are ignored, named in one warning.
    pub fn parse_list(json: &str, origin: &str) -> Result<Vec<Palette>, PaletteError> {
        let origin = origin.to_string();
        // Editors on Windows save UTF-8 with a byte-order mark.
        let json = json.strip_prefix('\u{feff}').unwrap_or(json);
        if json.trim().is_empty() {
            return Err(PaletteError::Empty { origin });
        }
        let records: Vec<PaletteRecord> = serde_json::from_str(json).map_err(|error| {
            let is_list = json.trim_start().starts_with('[');
            if !is_list && error.is_data() {
                PaletteError::NotAList { origin: origin.clone() }
            } else {
                // serde_json ends its message with the position, which the
                // error already names up front.
                let message = error.to_string();
                let position = format!(" at line {} column {}", error.line(), error.column());
                let message = message.strip_suffix(&position).unwrap_or(&message).to_string();
                PaletteError::Syntax {
                    origin: origin.clone(),
                    line: error.line(),
                    column: error.column(),
                    message,
                }
            }
        })?;
        if records.is_empty() {
            return Err(PaletteError::Empty { origin });
        }
        let unknown: BTreeSet<&str> =
            records.iter().flat_map(|r| r.other.keys().map(String::as_str)).collect();
        if !unknown.is_empty() {
            let names: Vec<String> = unknown.iter().map(|name| format!("{name:?}")).collect();
            tracing::warn!(
                "{origin}: ignoring fields other than name, colors and description: {}",
                names.join(", ")
            );
        }
        records
            .into_iter()
            .enumerate()
            .map(|(index, record)| {
                Palette::parse(record.name, &record.colors, record.description, index + 1, &origin)
            })
            .collect()
    }
}
