//! The recipe: everything besides the image and the palettes that decides
//! the bytes of a variation.
//!
//! Stored keys carry a digest of the recipe and the palettes
//! ([`Recipe::digest`]), so that two different recipes never share a key and
//! the same recipe always gets the same keys (and, the engine being
//! deterministic, the same bytes). What does not change bytes (threads,
//! channel capacity, the pixel budget, anything about storage) stays out.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decode::ColourProfiles;
use crate::encode::OutputFormat;
use crate::palette::Palette;
use crate::pixels::{Rgb8, hex};

/// The version of what the engine writes for a recipe. Bumped whenever a
/// change to the engine changes the bytes of any recipe's output, so that
/// new output never lands on the keys of old output.
///
/// 2: the shift look in the original's 8-bit arithmetic, clustering every
/// distinct colour of the full image, JPEGs decoded by libjpeg-turbo.
/// 3: EXIF orientation applied; embedded colour profiles converted to sRGB
/// (or, with `colour_profiles: ignore`, not), and variations of tagged
/// images tagged sRGB; JPEG composited over a background; the shift look's
/// clusters never more than an image's colours.
/// 4: the shift and soft looks' clustering started on a weighted coreset of
/// the image's colours and finished on every colour (no analysis copy).
/// 5: AVIF's alpha at quality 100 whatever the colour's; lossy WebP of a
/// tagged image tagged sRGB, as every other format is.
/// 6: the shift and soft looks' clustering finished on every colour to a
/// fixed point (no colour changes cluster), not until centres move less
/// than 0.2: stable under noise.
pub const OUTPUT_VERSION: u32 = 6;

/// Everything, besides the image and the palettes, that decides the bytes of
/// a run's variations. Recorded in full in each manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// The look's name, e.g. `shift`.
    pub look: String,
    /// Every option of the look, e.g. `{"max_k": 5, "lightness": 0.7, ...}`.
    pub look_options: serde_json::Value,
    /// Seed of the clustering.
    pub seed: u64,
    /// The `--analysis-size` asked for: no longer used by any look (output
    /// version 4 on), kept so that recipes keep their shape.
    pub analysis_size: u32,
    /// Longest side the image is downscaled to first, if any.
    pub max_side: Option<u32>,
    /// Format of the variations (and quality, for JPEG).
    pub format: OutputFormat,
    /// Longest side of stored thumbnails, if any.
    pub thumbnail: Option<u32>,
    /// The longest sides each variation is stored at, if asked
    /// ([`EngineBuilder::sizes`](crate::EngineBuilder::sizes)); written only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizes: Option<Vec<u32>>,
    /// What JPEG variations show through transparent pixels (JPEG only).
    #[serde(default)]
    pub background: Option<Rgb8>,
    /// What was done with embedded colour profiles.
    #[serde(default)]
    pub colour_profiles: ColourProfiles,
    /// [`OUTPUT_VERSION`] of the engine that made it.
    pub output_version: u32,
    /// The version of `variegate-core` that made it. Recorded, not part of
    /// the digest: a release that changes no bytes keeps every key.
    pub engine_version: String,
}

impl Recipe {
    /// SHA-256 (lower-case hex) of this recipe and `palettes` (names,
    /// colours, descriptions, in order), without the engine's crate version.
    pub fn digest(&self, palettes: &[Palette]) -> String {
        // A struct of references so that the fields hashed are spelled out
        // here; serde_json writes them in this order, and maps sorted.
        #[derive(Serialize)]
        struct Hashed<'a> {
            look: &'a str,
            look_options: &'a serde_json::Value,
            seed: u64,
            analysis_size: u32,
            max_side: Option<u32>,
            format: OutputFormat,
            thumbnail: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            sizes: Option<&'a [u32]>,
            background: Option<Rgb8>,
            colour_profiles: ColourProfiles,
            output_version: u32,
            palettes: &'a [Palette],
        }
        let hashed = Hashed {
            look: &self.look,
            look_options: &self.look_options,
            seed: self.seed,
            analysis_size: self.analysis_size,
            max_side: self.max_side,
            format: self.format,
            thumbnail: self.thumbnail,
            sizes: self.sizes.as_deref(),
            background: self.background,
            colour_profiles: self.colour_profiles,
            output_version: self.output_version,
            palettes,
        };
        let mut hasher = Sha256::new();
        // Serialising plain data into a hasher cannot fail; if it ever did,
        // hashing the error text still keeps different recipes apart.
        if let Err(error) = serde_json::to_writer(&mut HashWriter(&mut hasher), &hashed) {
            hasher.update(error.to_string());
        }
        hex(&hasher.finalize())
    }
}

/// A number for a recipe's look options: an `f32` written as its shortest
/// decimal (0.7, not 0.699999988079071), which tells every `f32` apart.
pub fn option_number(value: f32) -> serde_json::Value {
    value.to_string().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(
        // Only NaN and infinities have no JSON number; options refuse them,
        // and their text still keeps them apart.
        serde_json::Value::String(value.to_string()),
        serde_json::Value::Number,
    )
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> Recipe {
        Recipe {
            look: "shift".into(),
            look_options: serde_json::json!({"max_k": 5, "lightness": option_number(0.7)}),
            seed: 0,
            analysis_size: 256,
            max_side: None,
            format: OutputFormat::Png,
            thumbnail: None,
            sizes: None,
            background: None,
            colour_profiles: ColourProfiles::Convert,
            output_version: OUTPUT_VERSION,
            engine_version: "0.1.0".into(),
        }
    }

    #[test]
    fn every_field_but_the_crate_version_changes_the_digest() {
        let palettes = vec![Palette::from_hex("Dusk", &["#2B1B3D", "#F0544F"]).unwrap()];
        let base = recipe().digest(&palettes);
        assert_eq!(base.len(), 64);
        assert_eq!(base, recipe().digest(&palettes), "the same recipe, the same digest");
        let changed: Vec<Recipe> = vec![
            Recipe { look: "remap".into(), ..recipe() },
            Recipe { look_options: serde_json::json!({"max_k": 4}), ..recipe() },
            Recipe { seed: 7, ..recipe() },
            Recipe { analysis_size: 128, ..recipe() },
            Recipe { max_side: Some(64), ..recipe() },
            Recipe { format: OutputFormat::Jpeg { quality: 90 }, ..recipe() },
            Recipe { format: OutputFormat::Jpeg { quality: 80 }, ..recipe() },
            Recipe { colour_profiles: ColourProfiles::Ignore, ..recipe() },
            Recipe { background: Some(Rgb8([0, 0, 0])), ..recipe() },
            Recipe { thumbnail: Some(64), ..recipe() },
            Recipe { sizes: Some(vec![480, 960]), ..recipe() },
            Recipe { sizes: Some(vec![480]), ..recipe() },
            Recipe { output_version: OUTPUT_VERSION + 1, ..recipe() },
        ];
        let mut digests: Vec<String> = changed.iter().map(|r| r.digest(&palettes)).collect();
        let other_colours = vec![Palette::from_hex("Dusk", &["#2B1B3D", "#F0544E"]).unwrap()];
        digests.push(recipe().digest(&other_colours));
        digests.push(recipe().digest(&[]));
        digests.push(base.clone());
        let count = digests.len();
        digests.sort();
        digests.dedup();
        assert_eq!(digests.len(), count, "each change gives its own digest");
        let newer = Recipe { engine_version: "0.2.0".into(), ..recipe() };
        assert_eq!(newer.digest(&palettes), base);
    }

    #[test]
    fn option_numbers_are_short_and_exact() {
        assert_eq!(option_number(0.7).to_string(), "0.7");
        assert_ne!(option_number(0.7), option_number(0.70000005));
        assert_eq!(option_number(1.2).to_string(), "1.2");
    }
}
