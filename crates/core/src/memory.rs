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
use std::path::{Path, PathBuf};

use crate::large_buffer;
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

/// Of [`ANALYSIS_PER_COLOUR`], k-means' points in blocks, one large buffer.
const KMEANS_BLOCK_PER_COLOUR: u64 = 12;

/// The colour marks, a bit per 24-bit colour: one bitmap per thread while
/// marking ([`MARK_PIXELS`] pixels at least each); or the one a PNG's
/// decoding marked, which the image keeps for the rest of its run (the
/// analysis and the variations are counted as alive together).
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
    /// Bytes a pixel each variation's encoder holds while it works
    /// ([`OutputFormat::encoder_bytes_per_pixel`](crate::OutputFormat::encoder_bytes_per_pixel)).
    pub encoder_per_pixel: u64,
}

/// A run's peak memory, bounded from above, by what holds it. See
/// [`MemoryPlan::estimate`].
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
        // The index, the marks, their running counts, the count tables and
        // k-means' blocks of points are large buffers: whole huge pages.
        let held = large_buffer::bytes_held;
        let blocks = distinct * KMEANS_BLOCK_PER_COLOUR;
        let analysis = held(recoloured * INDEX_PER_PIXEL)
            + recoloured * self.look_per_pixel
            + bitmaps * held(COLOUR_MARKS)
            + held(RUNNING_COUNTS)
            + distinct * ANALYSIS_PER_COLOUR
            + (held(blocks) - blocks)
            + count_tables * held(distinct * 8);
        let lanes = self.lanes.clamp(1, self.palettes.max(1));
        let buffers = self.palettes.max(1).min(lanes + self.waiting);
        // Worst case, an encoder stores the pixels as they are, plus its framing.
        // A painted PNG's file is a large buffer: whole huge pages.
        let encoded_one = large_buffer::bytes_held(frame + frame / 64 + 4096);
        // Thumbnails and previews never upscale: at most the image's side.
        let longest = u64::from(self.recoloured.0.max(self.recoloured.1));
        let small = |side: Option<u32>| {
            side.map_or(0, |side| {
                let side = u64::from(side).min(longest);
                side * side * channels + 4096
            })
        };
        MemoryEstimate {
            decode: self.file_bytes + declared * DECODE_PER_PIXEL,
            image: large_buffer::bytes_held(frame),
            analysis,
            // The PNG encoder holds its compressed bands and their joined
            // stream beside the file it writes.
            frames: lanes as u64
                * (frame + distinct * 3 + 2 * encoded_one + recoloured * self.encoder_per_pixel),
            encoded: buffers as u64 * (encoded_one + small(self.thumbnail))
                + self.palettes as u64 * small(self.previews),
            // PNG band buffers kept for the next files (banded_png.rs).
            program: PROGRAM + self.threads as u64 * PER_THREAD + crate::banded_png::SPARE_BAND_BYTES as u64,
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

/// The default budget: half the memory this process may use (the smallest
/// limit of its own cgroups and their ancestors, as Slurm's `--mem`,
/// systemd slices and containers set it, or else the machine's), or 8 GiB
/// where neither can be read.
pub fn default_max_memory() -> u64 {
    let machine = std::fs::read_to_string("/proc/meminfo").ok().and_then(|info| {
        let line = info.lines().find(|line| line.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    let cgroup = cgroup_memory_limit();
    match (machine, cgroup) {
        (Some(machine), Some(cgroup)) => machine.min(cgroup) / 2,
        (Some(memory), None) | (None, Some(memory)) => memory / 2,
        (None, None) => FALLBACK_MEMORY,
    }
}

/// The smallest memory limit on this process's cgroups (v1 and v2) and
/// their ancestors, if any is set.
fn cgroup_memory_limit() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    memory_limit_of(&cgroups, &mounts, |path| std::fs::read_to_string(path).ok())
}

/// [`cgroup_memory_limit`] from the two files' text, reading limit files
/// with `read`. Each group a memory hierarchy names in `/proc/self/cgroup`
/// is found under the mount of that hierarchy (`mountinfo`), and its limit
/// and every ancestor's up to the mount are read: `memory.max` (v2) or
/// `memory.limit_in_bytes` (v1); `max`, or v1's huge number, is no limit
/// in effect. A group outside the mount's root (a container without a
/// cgroup namespace of its own) is read from the mount point, the
/// container's own group.
fn memory_limit_of(cgroups: &str, mountinfo: &str, read: impl Fn(&Path) -> Option<String>) -> Option<u64> {
    let mut smallest: Option<u64> = None;
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(group)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let (version2, file) = match controllers {
            "" => (true, "memory.max"),
            _ if controllers.split(',').any(|c| c == "memory") => (false, "memory.limit_in_bytes"),
            _ => continue,
        };
        for mount in mountinfo.lines() {
            // `id parent major:minor root mount-point options ... - type source super-options`
            let Some((left, right)) = mount.split_once(" - ") else { continue };
            let (left, right): (Vec<&str>, Vec<&str>) =
                (left.split(' ').collect(), right.split(' ').collect());
            let (Some(root), Some(point), Some(kind)) = (left.get(3), left.get(4), right.first()) else {
                continue;
            };
            let memory = match version2 {
                true => *kind == "cgroup2",
                false => {
                    *kind == "cgroup" && right.get(2).is_some_and(|o| o.split(',').any(|o| o == "memory"))
                }
            };
            if !memory {
                continue;
            }
            let top = PathBuf::from(point);
            let below = Path::new(group).strip_prefix(root).unwrap_or(Path::new(""));
            let mut dir = top.join(below);
            loop {
                let limit = read(&dir.join(file)).and_then(|text| text.trim().parse::<u64>().ok());
                if let Some(limit) = limit {
                    smallest = Some(smallest.map_or(limit, |s| s.min(limit)));
                }
                if dir == top || !dir.pop() {
                    break;
                }
            }
        }
    }
    smallest
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

    /// The total a message gives and the sum of the parts it names.
    fn shown(estimate: &MemoryEstimate) -> (u64, u64) {
        let text = estimate.to_string();
        let (total, parts) = text.split_once(" MiB: ").unwrap();
        let parts = parts.split(" (").next().unwrap();
        let sum =
            parts.split(" + ").map(|part| part.rsplit(' ').nth(1).unwrap().parse::<u64>().unwrap()).sum();
        (total.parse().unwrap(), sum)
    }

    #[test]
    fn the_cgroup_limit_is_the_smallest_of_the_group_and_its_ancestors() {
        use std::collections::HashMap;
        let files: HashMap<&str, &str> = HashMap::from([
            // v2: the group, its parent and the root; `max` is no limit.
            ("/sys/fs/cgroup/slurm/job_7/step_0/memory.max", "max\n"),
            ("/sys/fs/cgroup/slurm/job_7/memory.max", "209715200\n"),
            ("/sys/fs/cgroup/slurm/memory.max", "1073741824\n"),
            ("/sys/fs/cgroup/memory.max", "max\n"),
            // v1, hybrid: a container's group seen from outside its namespace.
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "125829120\n"),
        ]);
        let read = |path: &Path| files.get(path.to_str().unwrap()).map(|text| text.to_string());
        let v2 = "0::/slurm/job_7/step_0\n";
        let v2_mounts = "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(memory_limit_of(v2, v2_mounts, read), Some(200 << 20));
        let v1 = "4:memory:/docker/abc\n3:cpu:/docker/abc\n0::/\n";
        let v1_mounts = "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                         41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        assert_eq!(memory_limit_of(v1, v1_mounts, read), Some(120 << 20));
        assert_eq!(memory_limit_of("0::/\n", "", read), None);
    }

    #[test]
    fn an_estimates_parts_add_up_to_its_total() {
        let plan = MemoryPlan { threads: 8, waiting: 3, thumbnail: Some(256), ..plan() };
        for plan in [plan, MemoryPlan { palettes: 1, lanes: 1, distinct_colours: Some(1), ..plan }] {
            let estimate = plan.estimate();
            let (total, sum) = shown(&estimate);
            assert_eq!(total, sum, "{estimate}");
            // Rounded up part by part: never under the estimate, at most a MiB a part over.
            assert!(total << 20 >= estimate.total() && (total - 6) << 20 <= estimate.total(), "{estimate}");
        }
    }

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
            encoder_per_pixel: 0,
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
    fn thumbnails_larger_than_the_image_cost_what_the_image_does() {
        let small = MemoryPlan { declared: (60, 40), recoloured: (60, 40), ..plan() };
        let huge = MemoryPlan { thumbnail: Some(1_000_000), previews: Some(1_000_000), ..small }.estimate();
        let own = MemoryPlan { thumbnail: Some(60), previews: Some(60), ..small }.estimate();
        assert_eq!(huge, own);
    }

    #[test]
    fn counted_colours_lower_the_worst_case() {
        let plan = plan();
        let counted = MemoryPlan { distinct_colours: Some(180_000), ..plan };
        assert!(counted.estimate().total() < plan.estimate().total());
    }
}
