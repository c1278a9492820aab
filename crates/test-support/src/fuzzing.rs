//! What the fuzz tests share (`crates/core/tests/fuzz.rs`, and the batch
//! list's in `crates/batch/tests/list_fuzz.rs`): an allocator that counts
//! the bytes live, a deterministic stream of numbers, the mutations, and a
//! place for failing inputs. A fuzz test makes the allocator its own:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: CountingAllocator = CountingAllocator;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the bytes live, and the most at once since `PEAK` was last set.
pub struct CountingAllocator;

pub static LIVE: AtomicUsize = AtomicUsize::new(0);
pub static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// xorshift64*: a deterministic stream of numbers for the mutations.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// One to four mutations of `input`; `other` is a second seed to splice from.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if data.is_empty() {
            break;
        }
        let at = rng.below(data.len());
        match rng.below(6) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = [0x00, 0xFF, 0x7F, 0x80, 0x01][rng.below(5)],
            // Sizes and lengths (big-endian in PNG, little-endian in WebP):
            // nothing, huge, and 2048 and 2000, just within the budget.
            2 => {
                let value: [u8; 4] = [0u32, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, 0xFFFF, 0x4000, 0x0800, 0x07D0]
                    [rng.below(8)]
                .to_be_bytes();
                let value = if rng.below(2) == 0 { value } else { [value[3], value[2], value[1], value[0]] };
                let end = (at + 4).min(data.len());
                data[at..end].copy_from_slice(&value[..end - at]);
            }
            3 => data.truncate(at),
            4 => {
                let len = rng.below(64.min(data.len() - at) + 1);
                let slice = data[at..at + len].to_vec();
                let to = rng.below(data.len());
                data.splice(to..to, slice);
            }
            _ => {
                let from = rng.below(other.len());
                let len = rng.below(256.min(other.len() - from) + 1);
                let end = (at + len).min(data.len());
                data.splice(at..end, other[from..from + len].iter().copied());
            }
        }
    }
    data
}

/// Saves a failing input and says where.
pub fn keep(kind: &str, iteration: u64, input: &[u8]) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{iteration}.bin"));
    let _ = std::fs::write(&path, input);
    path.display().to_string()
}
