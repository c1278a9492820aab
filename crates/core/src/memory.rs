//! The memory budget: an upper bound of a run's peak memory, worked out from
//! what is known before the pixels are allocated (the header's size, the
//! options, the palette count), so that an image that would not fit is
//! refused, or made with fewer variations at a time, instead of taking the
//! machine down.
//!
//! The bound is deliberately pessimistic where the truth is only known
//! later: an encoded variation is counted at the size of its raw pixels
//! (noise compresses no better; a photo's PNG is about half of it), and an
//! image is first taken to have as many distinct colours as pixels. When
//! that worst case does not fit, the engine counts the colours (one pass
//! over the pixels, before any per-colour table) and checks again.

use std::fmt;

use crate::pixels::Channels;

/// Bytes per pixel while decoding, at the size the file declares: the
/// decoder's own buffers (a progressive JPEG's coefficients are 2 bytes a
/// sample; a 16-bit PNG decodes to 8 bytes a pixel before it becomes 4),
/// plus a second copy for a turn (EXIF orientation) or a downscale.
const DECODE_PER_PIXEL: u64 = 12;

/// Bytes per pixel of the colour index every look keeps (a `u32` each).
const INDEX_PER_PIXEL: u64 = 4;

/// Bytes per distinct colour of the per-image analysis: the colour, its
/// CIELAB, its pixel count, its cluster labels, and k-means' working copies
/// (points in blocks, weights, labels and distances of the starts that run
/// at once), the partial count tables aside. Measured: a 2048x2048 image of
/// noise (4.2 million colours) peaks at 286 MB with the shift look, about
/// 28 bytes a colour of it.
const ANALYSIS_PER_COLOUR: u64 = 40;

/// The colour marks, a bit per 24-bit colour: one bitmap per thread while
/// marking ([`MARK_PIXELS`] pixels at least each).
const COLOUR_MARKS: u64 = 2 << 20;

/// The marks' running counts, a `u32` per 64 colours.
const RUNNING_COUNTS: u64 = 1 << 20;

/// Fewest pixels per bitmap while marking colours (see
/// `indexed::mark_colours`).
pub(crate) const MARK_PIXELS: u64 = 1 << 18;

/// Pixels per partial count table while counting each colour's pixels (see
/// `IndexedImage::counts`): one table of 8 bytes a colour per this many
/// pixels, at most one per thread.
pub(crate) const COUNT_PIXELS: u64 = 1 << 20;

/// The program itself, its allocator's arenas, the uploader's runtime.
const PROGRAM: u64 = 24 << 20;

/// Each worker thread: its stack as touched, thread-locals, allocator
/// caches (1000 threads measured about 36 KiB each on a small image).
const PER_THREAD: u64 = 64 << 10;

/// The largest budget [`default_max_memory`] falls back to when the
/// machine's memory cannot be read.
const FALLBACK_MEMORY: u64 = 8 << 30;

/// Everything a run's memory depends on, as known before decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Size of the encoded file, held while it is decoded.
    pub file_bytes: u64,
    /// Width and height the file declares.
    pub declared: (u32, u32),
    /// Width and height recoloured (after any downscale).
    pub recoloured: (u32, u32),
    /// RGB or RGBA.
    pub channels: Channels,
    /// Distinct colours of the image, once counted; `None` before, when
    /// every pixel is taken to have its own.
    pub distinct_colours: Option<u64>,
    /// Palettes of the run.
    pub palettes: usize,
    /// Variations made at once: each holds a frame of pixels and a colour
    /// table.
    pub lanes: usize,
    /// Worker threads of the pool.
    pub threads: usize,
    /// Finished variations that may wait beyond the ones being made: the
    /// channel's capacity plus what its consumer holds (an uploader's
    /// stores at once).
    pub waiting: usize,
    /// Longest side of each variation's thumbnail, if any.
    pub thumbnail: Option<u32>,
    /// Longest side of each variation's preview, if any (all kept until the
    /// run ends, e.g. for a contact sheet).
    pub previews: Option<u32>,
    /// Bytes a pixel the look holds beyond the colour index and the
    /// per-colour tables ([`Look::memory_per_pixel`](crate::Look::memory_per_pixel)).
    pub look_per_pixel: u64,
}

/// A run's peak memory, bounded from above, by what holds it. See
/// [`MemoryPlan::estimate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Reading and decoding: the file and the decoder's buffers.
    pub decode: u64,
    /// The pixels recoloured.
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

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "about {} (image {}, analysis {}, {} at a time {}, {} encoded {}; decoding {})",
            Size(self.total()),
            Size(self.image),
            Size(self.analysis),
            self.lanes,
            Size(self.frames),
            self.buffers,
            Size(self.encoded),
            Size(self.decode),
        )
    }
}

impl MemoryPlan {
    /// An upper bound of the run's peak memory (see the module docs).
    pub fn estimate(&self) -> MemoryEstimate {
        let pixels = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
        let (declared, recoloured) = (pixels(self.declared), pixels(self.recoloured));
        let channels = self.channels.count() as u64;
        let frame = recoloured * channels;
        let distinct = self.distinct_colours.unwrap_or(recoloured.min(1 << 24));
        let count_tables = (self.threads.max(1) as u64).min(recoloured.div_ceil(COUNT_PIXELS));
        let bitmaps = (self.threads.max(1) as u64).min(recoloured.div_ceil(MARK_PIXELS));
        let analysis = recoloured * (INDEX_PER_PIXEL + self.look_per_pixel)
            + bitmaps * COLOUR_MARKS
            + RUNNING_COUNTS
            + distinct * ANALYSIS_PER_COLOUR
            + count_tables * distinct * 8;
        let lanes = self.lanes.clamp(1, self.palettes.max(1));
        let buffers = self.palettes.max(1).min(lanes + self.waiting);
        // Worst case, an encoder stores the pixels as they are, plus its framing.
        let encoded_one = frame + frame / 64 + 4096;
        let small = |side: Option<u32>| {
            side.map_or(0, |side| {
                let side = u64::from(side);
                side * side * channels + 4096
            })
        };
        MemoryEstimate {
            decode: self.file_bytes + declared * DECODE_PER_PIXEL,
            image: frame,
            analysis,
            // The PNG encoder holds its compressed bands and their joined
            // stream beside the file it writes.
            frames: lanes as u64 * (frame + distinct * 3 + 2 * encoded_one),
            encoded: buffers as u64 * (encoded_one + small(self.thumbnail))
                + self.palettes as u64 * small(self.previews),
            program: PROGRAM + self.threads as u64 * PER_THREAD,
            lanes,
            buffers,
        }
    }

    /// The most variations at once, up to `lanes`, whose estimate fits in
    /// `budget`, or `None` if not even one does.
    pub fn lanes_within(&self, budget: u64) -> Option<usize> {
        let fits = |lanes| MemoryPlan { lanes, ..*self }.estimate().total() <= budget;
        (1..=self.lanes.clamp(1, self.palettes.max(1))).rev().find(|&lanes| fits(lanes))
    }
}

/// The default budget: half the memory this process may use (its cgroup's
/// limit, as in a container, or else the machine's), or 8 GiB where neither
/// can be read.
pub fn default_max_memory() -> u64 {
    let machine = std::fs::read_to_string("/proc/meminfo").ok().and_then(|info| {
        let line = info.lines().find(|line| line.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    let cgroup = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok()?.trim().parse::<u64>().ok());
    match (machine, cgroup) {
        (Some(machine), Some(cgroup)) => machine.min(cgroup) / 2,
        (Some(memory), None) | (None, Some(memory)) => memory / 2,
        (None, None) => FALLBACK_MEMORY,
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

    fn plan() -> MemoryPlan {
        MemoryPlan {
            file_bytes: 3 << 20,
            declared: (2048, 2048),
            recoloured: (2048, 2048),
            channels: Channels::Rgb,
            distinct_colours: None,
            palettes: 7,
            lanes: 2,
            threads: 2,
            waiting: 10,
            thumbnail: None,
            previews: None,
            look_per_pixel: 0,
        }
    }

    #[test]
    fn more_lanes_cost_more_and_fewer_fit_a_smaller_budget() {
        let plan = plan();
        let (one, two) = (MemoryPlan { lanes: 1, ..plan }.estimate(), plan.estimate());
        assert!(two.total() > one.total());
        assert_eq!(plan.lanes_within(two.total()), Some(2));
        assert_eq!(plan.lanes_within(two.total() - 1), Some(1));
        assert_eq!(plan.lanes_within(one.total() - 1), None);
        // Never more lanes than palettes.
        assert_eq!(MemoryPlan { lanes: 1000, palettes: 3, ..plan }.estimate().lanes, 3);
    }

    #[test]
    fn counted_colours_lower_the_worst_case() {
        let plan = plan();
        let counted = MemoryPlan { distinct_colours: Some(180_000), ..plan };
        assert!(counted.estimate().total() < plan.estimate().total());
    }
}
