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

use std::path::{Path, PathBuf};

use crate::analyse::indexed;
use crate::colour::marks;
use crate::engine::config::MAX_SIZES;
use crate::large_buffer;
use crate::limits::MemoryEstimate;
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

const MARK_PIXELS: u64 = marks::MARK_PIXELS as u64;
const COUNT_PIXELS: u64 = indexed::COUNT_PIXELS as u64;

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
    /// The longest sides each variation is stored at, ascending, 0 for none
    /// ([`EngineBuilder::sizes`](crate::EngineBuilder::sizes)).
    pub sizes: [u32; MAX_SIZES],
    /// Longest side of each variation's preview, if any (all kept until the
    /// run ends, e.g. for a contact sheet).
    pub previews: Option<u32>,
    /// Bytes a pixel the look holds beyond the colour index and the
    /// per-colour tables ([`Look::memory_per_pixel`](crate::looks::Look::memory_per_pixel)).
    pub look_per_pixel: u64,
    /// Bytes a pixel each variation's encoder holds while it works
    /// ([`OutputFormat::encoder_bytes_per_pixel`](crate::OutputFormat::encoder_bytes_per_pixel)).
    pub encoder_per_pixel: u64,
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
        // Sizes: the largest is the variation's file (no larger than the
        // full-size one it replaces); each smaller one is another file, and
        // a lane resizes into one buffer at a time.
        let mut sides: Vec<u64> =
            self.sizes.iter().filter(|&&side| side > 0).map(|&side| u64::from(side).min(longest)).collect();
        sides.dedup();
        let smaller = &sides[..sides.len().saturating_sub(1)];
        let sized_files: u64 = smaller.iter().map(|&side| small(Some(side as u32))).sum();
        // A resize holds its output and one band's source rows twice over
        // (fast_image_resize's pass between its two, and with alpha the
        // rows premultiplied): 256 output rows, and the filter's reach.
        let resized = sides.iter().filter(|&&side| side < longest).max().map_or(0, |&side| {
            let band_rows = (256 * longest / side.max(1) + 16).min(longest);
            small(Some(side as u32)) + 2 * band_rows * longest * channels
        });
        MemoryEstimate {
            decode: self.file_bytes + declared * DECODE_PER_PIXEL,
            image: large_buffer::bytes_held(frame),
            analysis,
            // The PNG encoder holds its compressed bands and their joined
            // stream beside the file it writes.
            frames: lanes as u64
                * (frame + distinct * 3 + 2 * encoded_one + recoloured * self.encoder_per_pixel + resized),
            encoded: buffers as u64 * (encoded_one + sized_files + small(self.thumbnail))
                + self.palettes as u64 * small(self.previews),
            // PNG band buffers kept for the next files (banded_png.rs).
            program: PROGRAM
                + self.threads as u64 * PER_THREAD
                + crate::encode::banded_png::SPARE_BAND_BYTES as u64,
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
            sizes: [0; MAX_SIZES],
            previews: None,
            look_per_pixel: 0,
            encoder_per_pixel: 0,
        }
    }
}
