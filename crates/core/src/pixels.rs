//! The two small value types every stage shares: the channel layout of a
//! buffer of pixels, and one 8-bit sRGB colour.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether pixels carry an alpha channel. Alpha is passed through untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channels {
    /// Three bytes a pixel: red, green, blue.
    Rgb,
    /// Four bytes a pixel: red, green, blue, alpha (not premultiplied).
    Rgba,
}

impl Channels {
    /// Bytes a pixel: 3 or 4.
    pub fn count(self) -> usize {
        match self {
            Channels::Rgb => 3,
            Channels::Rgba => 4,
        }
    }
}

/// One 8-bit sRGB colour. Written and read as `#RRGGBB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rgb8(pub [u8; 3]);

impl Rgb8 {
    /// Parses `#RGB` or `#RRGGBB`, in any case.
    pub fn parse_hex(text: &str) -> Option<Rgb8> {
        let digits = text.strip_prefix('#')?;
        // Checked here rather than left to `palette`, which slices by byte and
        // would panic on a multi-byte character.
        if !matches!(digits.len(), 3 | 6) || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let rgb = palette::Srgb::<u8>::from_str(digits).ok()?;
        Some(Rgb8([rgb.red, rgb.green, rgb.blue]))
    }

    /// The sum R+G+B, by which the shift look orders colours from dark to light.
    pub fn brightness(self) -> u32 {
        self.0.iter().map(|&c| u32::from(c)).sum()
    }
}

impl fmt::Display for Rgb8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02X}{g:02X}{b:02X}")
    }
}

impl Serialize for Rgb8 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rgb8 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Rgb8, D::Error> {
        let text = String::deserialize(deserializer)?;
        Rgb8::parse_hex(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("{text:?} is not a hex colour (#RGB or #RRGGBB)"))
        })
    }
}

/// Lower-case hex of some bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_long_hex_in_any_case() {
        assert_eq!(Rgb8::parse_hex("#fA0"), Some(Rgb8([0xFF, 0xAA, 0x00])));
        assert_eq!(Rgb8::parse_hex("#2b1B3d"), Some(Rgb8([0x2B, 0x1B, 0x3D])));
        for bad in ["", "#", "2B1B3D", "#11223G", "#1234", "#+f+f+f", "#ééé", "#12345678"] {
            assert_eq!(Rgb8::parse_hex(bad), None, "{bad:?}");
        }
        assert_eq!(Rgb8([0x2B, 0x1B, 0x3D]).to_string(), "#2B1B3D");
    }

    #[test]
    fn serialises_as_hex_text() {
        let colour = Rgb8([0x2B, 0x1B, 0x3D]);
        let json = serde_json::to_string(&colour).unwrap();
        assert_eq!(json, r##""#2B1B3D""##);
        assert_eq!(serde_json::from_str::<Rgb8>(&json).unwrap(), colour);
        assert!(serde_json::from_str::<Rgb8>(r#""red""#).is_err());
    }
}
