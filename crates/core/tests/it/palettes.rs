//! Palettes files: the fixture parses, and every malformed input gives a
//! one-line error that says where and what.

use crate::common::fixture;
use variegate_core::{Palette, PaletteError, Rgb8};

fn parse(json: &str) -> Result<Vec<Palette>, PaletteError> {
    Palette::parse_list(json, "palettes.json")
}

#[test]
fn fixture_parses() {
    let palettes = Palette::load_list(fixture("palettes.json")).unwrap();
    assert_eq!(palettes.len(), 7);
    assert_eq!(palettes[0].name, "Sunset Coral");
    assert_eq!(palettes[0].colors[0], Rgb8([0x2B, 0x1B, 0x3D]));
    assert_eq!(palettes[0].description.as_deref(), Some("Warm dusk tones"));
    assert!(palettes.iter().all(|p| p.colors.len() == 5));
}

#[test]
fn short_hex_any_case_and_optional_description() {
    let palettes = parse(r##"[{"name": "a", "colors": ["#FfF", "#00aa11"]}]"##).unwrap();
    assert_eq!(palettes[0].colors, vec![Rgb8([255, 255, 255]), Rgb8([0, 0xAA, 0x11])]);
    assert_eq!(palettes[0].description, None);
}

#[test]
fn bad_colour_names_palette_and_colour() {
    let error = parse(
        r##"[{"name": "ok", "colors": ["#000"]}, {"name": "Neon", "colors": ["#112233", "#11223G"]}]"##,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        r##"palettes.json: palette 2 ("Neon"): colour 2 "#11223G" is not a hex colour (#RGB or #RRGGBB)"##
    );
}

#[test]
fn syntax_error_keeps_line_and_column() {
    let error = parse("[\n  {\"name\": \"a\", \"colors\": [\"#000\",]}\n]").unwrap_err();
    assert!(matches!(error, PaletteError::Syntax { line: 2, .. }), "{error:?}");
    assert!(
        error.to_string().starts_with("palettes.json: invalid palettes JSON at line 2, column "),
        "{error}"
    );
}

#[test]
fn missing_field_is_a_syntax_error_with_position() {
    let error = parse(r#"[{"colors": []}]"#).unwrap_err();
    assert!(error.to_string().contains("missing field `name`"), "{error}");
}

#[test]
fn empty_inputs() {
    for json in ["", "  \n", "[]"] {
        let error = parse(json).unwrap_err();
        assert!(matches!(error, PaletteError::Empty { .. }), "{json:?}: {error:?}");
        assert_eq!(
            error.to_string(),
            "palettes.json: no palettes: expected a JSON array with at least one palette"
        );
    }
}

#[test]
fn not_a_list() {
    for json in [r##"{"name": "a", "colors": ["#000"]}"##, "42", r#""text""#] {
        let error = parse(json).unwrap_err();
        assert!(matches!(error, PaletteError::NotAList { .. }), "{json}: {error:?}");
        assert_eq!(error.to_string(), "palettes.json: expected a JSON array of palettes");
    }
}

#[test]
fn empty_palette_parses() {
    // Not fatal here: the engine turns it into one failed variation.
    let palettes = parse(r#"[{"name": "none", "colors": []}]"#).unwrap();
    assert!(palettes[0].colors.is_empty());
}

#[test]
fn missing_file() {
    let error = Palette::load_list("/nonexistent/palettes.json").unwrap_err();
    assert!(error.to_string().starts_with("/nonexistent/palettes.json: cannot read palettes: "), "{error}");
}

#[test]
fn inline_palettes() {
    let palette = Palette::parse_inline("#112233, #445566,#fff", 2, "inline").unwrap();
    assert_eq!(palette.name, "Palette 2");
    assert_eq!(
        palette.colors,
        vec![Rgb8([0x11, 0x22, 0x33]), Rgb8([0x44, 0x55, 0x66]), Rgb8([255, 255, 255])]
    );
    let error = Palette::parse_inline("#112233,#11223G", 1, "job.yaml").unwrap_err();
    assert_eq!(
        error.to_string(),
        r##"job.yaml: palette 1 ("Palette 1"): colour 2 "#11223G" is not a hex colour (#RGB or #RRGGBB)"##
    );
}

#[test]
fn palettes_as_people_write_them() {
    // A byte-order mark, fields of the caller's own, spaces around colours.
    let json =
        "\u{feff}[{\"name\": \"a\", \"id\": 7, \"tags\": [\"warm\"], \"colors\": [\" #FFF\", \"#00aa11 \"]}]";
    let palettes = parse(json).unwrap();
    assert_eq!(palettes[0].colors, vec![Rgb8([255, 255, 255]), Rgb8([0, 0xAA, 0x11])]);
    let inline = Palette::parse_inline(" #FFF , #00aa11", 1, "--palette").unwrap();
    assert_eq!(inline.colors, palettes[0].colors, "trimmed alike");
    // Spaces inside a colour are still not a colour.
    let error = parse(r##"[{"name": "a", "colors": ["# FFF"]}]"##).unwrap_err();
    assert!(error.to_string().ends_with(r##"colour 1 "# FFF" is not a hex colour (#RGB or #RRGGBB)"##));
}
