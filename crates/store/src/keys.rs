//! Keys named by their recipe: the same job always writes the same keys, and
//! two different recipes never share one.
//!
//! ```text
//! <image stem>-<sha256 of the image, 8 hex>/<look>-<recipe digest, 8 hex>/
//!     NN-<palette slug>.<ext>          one a palette
//!     NN-<palette slug>-<side>.<ext>   one a size, with sizes (the longest side)
//!     thumbs/NN-<palette slug>.<ext>   with thumbnails
//!     manifest.json                    the run's record
//! ```
//!
//! `<look>-<digest>` ([`recipe_folder`]) is also the folder of a batch's
//! own records (`variegate-batch`'s keys).
//!
//! The digest ([`variegate_core::Recipe::digest`]) covers the look and its
//! options, seed, analysis size, max side, format and quality, thumbnail
//! size, the engine's output version, and every palette (name, colours,
//! description) in order. A manifest therefore sits beside the files it
//! describes, where no other recipe's manifest can overwrite it.

use variegate_core::{Recipe, SourceInfo};

/// A name made safe for a key: lower-case ASCII letters and digits, other
/// runs of characters turned into single hyphens, at most 64 characters;
/// `palette` where nothing is left (`日本`, `---`).
pub fn slug(name: &str) -> String {
    slug_or(name, "palette")
}

/// [`slug`], with `fallback` where nothing is left.
fn slug_or(name: &str, fallback: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(64).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { fallback.into() } else { slug.into() }
}

/// The first 8 hex digits of a digest.
fn short(hex: &str) -> String {
    hex.chars().take(8).collect()
}

/// `<look>-<digest, 8 hex>`: how every run folder of a recipe ends, and the
/// folder of a batch's markers and results.
pub fn recipe_folder(recipe: &Recipe, digest: &str) -> String {
    format!("{}-{}", slug(&recipe.look), short(digest))
}

/// The keys of one run, relative to the store's prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunKeys {
    folder: String,
    /// Digits of the palette numbers: enough for the last, at least 2.
    width: usize,
}

impl RunKeys {
    /// The keys of a run of `palettes` palettes on `source` with `recipe`,
    /// whose digest (with the palettes) is `digest`.
    pub fn new(source: &SourceInfo, recipe: &Recipe, digest: &str, palettes: usize) -> RunKeys {
        let folder = format!(
            "{}-{}/{}",
            slug_or(&source.stem, "image"),
            short(&source.sha256),
            recipe_folder(recipe, digest)
        );
        RunKeys { folder, width: palettes.saturating_sub(1).to_string().len().max(2) }
    }

    /// The run's folder, e.g. `coffee-cc02f8ca/shift-1f2e3d4c`.
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// The key of palette `index`'s variation.
    pub fn variation(&self, index: usize, palette_name: &str, extension: &str) -> String {
        format!("{}/{}", self.folder, self.file_name(index, palette_name, extension))
    }

    /// The key of palette `index`'s variation at one of the sizes asked
    /// for, `side` pixels on its longest side.
    pub fn sized(&self, index: usize, palette_name: &str, extension: &str, side: u32) -> String {
        let name = self.file_name(index, palette_name, extension);
        let stem = name.strip_suffix(&format!(".{extension}")).unwrap_or(&name);
        format!("{}/{stem}-{side}.{extension}", self.folder)
    }

    /// The key of palette `index`'s thumbnail.
    pub fn thumbnail(&self, index: usize, palette_name: &str, extension: &str) -> String {
        format!("{}/thumbs/{}", self.folder, self.file_name(index, palette_name, extension))
    }

    /// The key of the run's manifest.
    pub fn manifest(&self) -> String {
        format!("{}/manifest.json", self.folder)
    }

    fn file_name(&self, index: usize, palette_name: &str, extension: &str) -> String {
        format!("{index:0width$}-{}.{extension}", slug(palette_name), width = self.width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Sunset Coral"), "sunset-coral");
        assert_eq!(slug("  Neon -- Arcade!! "), "neon-arcade");
        assert_eq!(slug("Café ☕ 2"), "caf-2");
        assert_eq!(slug("../../etc/passwd"), "etc-passwd");
        assert_eq!(slug("☕"), "palette");
        assert_eq!(slug(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn keys() {
        let source =
            SourceInfo { stem: "Coffee Cup".into(), sha256: "8f3a9c1d2e4b5a6f".into(), ..Default::default() };
        let recipe = Recipe {
            look: "shift".into(),
            look_options: Default::default(),
            seed: 0,
            analysis_size: 256,
            max_side: None,
            format: Default::default(),
            thumbnail: None,
            sizes: None,
            background: None,
            colour_profiles: Default::default(),
            output_version: 1,
            engine_version: String::new(),
        };
        let keys = RunKeys::new(&source, &recipe, "0123456789abcdef", 7);
        assert_eq!(keys.folder(), "coffee-cup-8f3a9c1d/shift-01234567");
        assert_eq!(
            keys.variation(3, "Neon Arcade", "png"),
            "coffee-cup-8f3a9c1d/shift-01234567/03-neon-arcade.png"
        );
        assert_eq!(
            keys.thumbnail(3, "Neon Arcade", "jpg"),
            "coffee-cup-8f3a9c1d/shift-01234567/thumbs/03-neon-arcade.jpg"
        );
        assert_eq!(keys.manifest(), "coffee-cup-8f3a9c1d/shift-01234567/manifest.json");
        // An image named without ASCII letters is an image, not a palette.
        for stem in ["日本", "---"] {
            let source = SourceInfo { stem: stem.into(), ..source.clone() };
            let keys = RunKeys::new(&source, &recipe, "0123456789abcdef", 7);
            assert_eq!(keys.folder(), "image-8f3a9c1d/shift-01234567", "{stem}");
        }
        let many = RunKeys::new(&source, &recipe, "0123456789abcdef", 120);
        assert_eq!(many.variation(7, "x", "png"), "coffee-cup-8f3a9c1d/shift-01234567/007-x.png");
        assert_eq!(many.sized(7, "x", "webp", 480), "coffee-cup-8f3a9c1d/shift-01234567/007-x-480.webp");
    }
}
