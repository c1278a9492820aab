//! Stable names: the same job always writes the same keys, so re-running it
//! overwrites rather than duplicates.
//!
//! `<run folder>/<NN>-<slug of palette name>.<ext>` with the run folder
//! `<image stem>-<first 8 hex digits of the image's SHA-256>`, and
//! `<run folder>/manifest.json` beside them.

/// A name made safe for a key: lower-case ASCII letters and digits, other
/// runs of characters turned into single hyphens, at most 64 characters.
pub fn slug(name: &str) -> String {
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
    if slug.is_empty() { "palette".into() } else { slug.into() }
}

/// The folder a run's files go in: `<slug of stem>-<first 8 hex of sha256>`.
pub fn run_folder(image_stem: &str, sha256_hex: &str) -> String {
    let short: String = sha256_hex.chars().take(8).collect();
    format!("{}-{short}", slug(image_stem))
}

/// The key of one variation within its run folder. `total` is the number of
/// palettes in the run: indices are padded to its width, at least 2 digits.
pub fn variation_key(
    folder: &str,
    index: usize,
    total: usize,
    palette_name: &str,
    extension: &str,
) -> String {
    let width = total.saturating_sub(1).to_string().len().max(2);
    format!("{folder}/{index:0width$}-{}.{extension}", slug(palette_name))
}

/// The key of the run's manifest.
pub fn manifest_key(folder: &str) -> String {
    format!("{folder}/manifest.json")
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
        let folder = run_folder("coffee", "8f3a9c1d2e4b5a6f7e8d9c0b");
        assert_eq!(folder, "coffee-8f3a9c1d");
        assert_eq!(variation_key(&folder, 3, 7, "Neon Arcade", "png"), "coffee-8f3a9c1d/03-neon-arcade.png");
        assert_eq!(variation_key(&folder, 7, 120, "x", "png"), "coffee-8f3a9c1d/007-x.png");
        assert_eq!(manifest_key(&folder), "coffee-8f3a9c1d/manifest.json");
    }
}
