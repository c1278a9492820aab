//! What a run may hold and what it would, for the messages that say so:
//! the memory estimate's parts, sizes as people write and read them, and
//! the largest file an image within a pixel budget can be. A leaf: the
//! errors that report these and the plans that compute them both use it.

use std::fmt;

/// A run's peak memory, bounded from above, by what holds it. See
/// [`MemoryPlan::estimate`](crate::memory::MemoryPlan::estimate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Reading and decoding: the file and the decoder's buffers.
    pub decode: u64,
    /// The pixels recoloured (in huge pages when large).
    pub image: u64,
    /// The per-image analysis: the colour index and per-colour tables.
    pub analysis: u64,
    /// Variations being made: a frame, a colour table and the encoder's
    /// working copies each.
    pub frames: u64,
    /// Encoded variations not yet stored, thumbnails and previews.
    pub encoded: u64,
    /// The program and its threads.
    pub program: u64,
    /// Variations made at once, as planned.
    pub lanes: usize,
    /// Encoded variations counted in `encoded`.
    pub buffers: usize,
}

impl MemoryEstimate {
    /// The peak: decoding comes before the rest is allocated, so the larger
    /// of the two phases, plus the program.
    pub fn total(&self) -> u64 {
        let run = self.image + self.analysis + self.frames + self.encoded;
        self.decode.max(run) + self.program
    }
}

/// The estimate as its parts, in MiB rounded up, and their sum: whichever
/// phase is larger, decoding or the run, plus the program, e.g.
/// `102 MiB: image 12 MiB + analysis 20 MiB + 2 at a time 38 MiB + 3 encoded 8 MiB + program 25 MiB`.
/// The sum shown is the sum of the parts shown.
impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |bytes: u64| bytes.div_ceil(1 << 20);
        let program = mib(self.program);
        let run = [
            ("image".to_string(), mib(self.image)),
            ("analysis".to_string(), mib(self.analysis)),
            (format!("{} at a time", self.lanes), mib(self.frames)),
            (format!("{} encoded", self.buffers), mib(self.encoded)),
        ];
        let run_total: u64 = run.iter().map(|(_, size)| size).sum();
        let parts: Vec<(String, u64)> =
            if self.decode > self.image + self.analysis + self.frames + self.encoded {
                vec![("decoding".into(), mib(self.decode)), ("program".into(), program)]
            } else {
                run.into_iter().chain([("program".into(), program)]).collect()
            };
        let total: u64 = parts.iter().map(|(_, size)| size).sum();
        let shown: Vec<String> = parts.iter().map(|(name, size)| format!("{name} {size} MiB")).collect();
        write!(f, "{total} MiB: {}", shown.join(" + "))?;
        if parts.len() == 2 {
            write!(f, " (the run after it: {run_total} MiB)")?;
        }
        Ok(())
    }
}

/// Parses a size such as `512M`, `2G`, `1.5G`, `400MiB` or `1048576`:
/// K, M, G and T are powers of 1024, and a trailing `B` or `iB` is allowed.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let upper = trimmed.to_ascii_uppercase();
    let number = upper.strip_suffix("IB").or_else(|| upper.strip_suffix('B')).unwrap_or(&upper);
    let (digits, shift) = match number.as_bytes().last() {
        Some(b'K') => (&number[..number.len() - 1], 10),
        Some(b'M') => (&number[..number.len() - 1], 20),
        Some(b'G') => (&number[..number.len() - 1], 30),
        Some(b'T') => (&number[..number.len() - 1], 40),
        _ => (number, 0),
    };
    let invalid = || format!("{trimmed:?} is not a size (e.g. 512M, 2G, 1.5G)");
    let value: f64 = digits.trim().parse().map_err(|_| invalid())?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes >= u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes as u64)
}

/// Bytes for people: `512 MiB`, `1.3 GiB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0 as f64;
        match self.0 {
            0..1024 => write!(f, "{} B", self.0),
            1024..0x10_0000 => write!(f, "{:.0} KiB", bytes / 1024.0),
            0x10_0000..0x4000_0000 => write!(f, "{:.0} MiB", bytes / f64::from(1 << 20)),
            _ => write!(f, "{:.1} GiB", bytes / f64::from(1 << 30)),
        }
    }
}

/// The largest file an image of `max_pixels` can be: its pixels at 16-bit
/// RGBA stored uncompressed (8 bytes a pixel), plus 64 MiB of metadata
/// (profiles, EXIF, text). The decoders' allocation limit too.
pub(crate) fn largest_file(max_pixels: u64) -> u64 {
    max_pixels.saturating_mul(8).saturating_add(64 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("400MiB"), Ok(400 << 20));
        assert_eq!(parse_size("64KB"), Ok(64 << 10));
        assert_eq!(parse_size(" 1048576 "), Ok(1 << 20));
        for bad in ["", "M", "-1G", "0", "1Q", "1e30T", "NaN", "1MBB"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Size(400 << 20).to_string(), "400 MiB");
        assert_eq!(Size(3 << 29).to_string(), "1.5 GiB");
    }
}
