//! Zeroed working buffers of a mebibyte or more, in 2 MiB transparent huge
//! pages where Linux offers them.
//!
//! The analysis allocates a few large buffers per image (the colour marks,
//! the index, the pixel counts, k-means' blocks), as the PNG decoder does
//! its pixels and the PNG encoder its file, and writes every byte of them
//! at once. In a fresh process each 4 KiB page of them is a page fault,
//! and on a virtual machine a fault is dear: a large share of a small
//! image's analysis (docs/performance-history.md, "page faults, huge
//! pages"). A huge page is one fault for 512 of them. So a large buffer is
//! allocated in whole huge pages, aligned
//! to one, and advised `MADV_HUGEPAGE`, which takes effect where transparent
//! huge pages are `always` or `madvise` (the usual defaults); elsewhere it
//! is an ordinary allocation and works the same. It still comes from the
//! global allocator, not a mapping of its own: when the analysis frees it,
//! the encoders that follow reuse the memory, already faulted in (mapped
//! and unmapped on its own, the faults only moved to the encoders).
//!
//! A large buffer holds whole huge pages once touched: up to 2 MiB more
//! than its length, which the memory budget counts.

use std::ops::{Deref, DerefMut};

use bytemuck::Zeroable;

/// Buffers this large or larger are allocated in huge pages.
#[cfg(target_os = "linux")]
const LARGE: usize = 1 << 20;

/// A transparent huge page on x86-64 and most aarch64 kernels.
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

/// The memory a buffer of `bytes` holds once written: whole huge pages if
/// it is large, for the memory budget.
pub(crate) fn bytes_held(bytes: u64) -> u64 {
    #[cfg(target_os = "linux")]
    if bytes >= LARGE as u64 {
        return bytes.next_multiple_of(HUGE_PAGE as u64);
    }
    bytes
}

/// `len` zeroed values of `T`, as a slice: see the module docs. Plain
/// data only (`Copy`: nothing to drop).
pub(crate) struct LargeBuffer<T: Zeroable + Copy> {
    storage: Storage<T>,
}

enum Storage<T> {
    Heap(Vec<T>),
    #[cfg(target_os = "linux")]
    HugePages(HugePages<T>),
}

impl<T: Zeroable + Copy> LargeBuffer<T> {
    /// `len` values, every byte zero.
    pub(crate) fn zeroed(len: usize) -> LargeBuffer<T> {
        #[cfg(target_os = "linux")]
        {
            let bytes = len.saturating_mul(size_of::<T>());
            if bytes >= LARGE
                && let Some(pages) = HugePages::zeroed(len, bytes)
            {
                return LargeBuffer { storage: Storage::HugePages(pages) };
            }
        }
        LargeBuffer { storage: Storage::Heap(bytemuck::zeroed_vec(len)) }
    }
}

impl<T: Zeroable + Copy> LargeBuffer<T> {
    /// The values as a `Vec`: the one they are in, or a copy.
    pub(crate) fn into_vec(self) -> Vec<T> {
        match self.storage {
            Storage::Heap(values) => values,
            #[cfg(target_os = "linux")]
            Storage::HugePages(pages) => pages.slice().to_vec(),
        }
    }
}

impl<T: Zeroable + Copy> std::fmt::Debug for LargeBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LargeBuffer({} values)", self.len())
    }
}

impl<T: Zeroable + Copy> Clone for LargeBuffer<T> {
    /// A copy, allocated as [`LargeBuffer::zeroed`] allocates.
    fn clone(&self) -> Self {
        let mut copy = LargeBuffer::zeroed(self.len());
        copy.copy_from_slice(self);
        copy
    }
}

impl<T: Zeroable + Copy> From<Vec<T>> for LargeBuffer<T> {
    /// The values as they are, on the heap.
    fn from(values: Vec<T>) -> Self {
        LargeBuffer { storage: Storage::Heap(values) }
    }
}

impl<T: Zeroable + Copy> Deref for LargeBuffer<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.storage {
            Storage::Heap(values) => values,
            #[cfg(target_os = "linux")]
            Storage::HugePages(pages) => pages.slice(),
        }
    }
}

impl<T: Zeroable + Copy> DerefMut for LargeBuffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.storage {
            Storage::Heap(values) => values,
            #[cfg(target_os = "linux")]
            Storage::HugePages(pages) => pages.slice_mut(),
        }
    }
}

impl<'a, T: Zeroable + Copy> IntoIterator for &'a LargeBuffer<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// `len` values of `T` at the start of an allocation of whole huge pages,
/// aligned to one; freed on drop.
#[cfg(target_os = "linux")]
struct HugePages<T> {
    values: std::ptr::NonNull<T>,
    len: usize,
    layout: std::alloc::Layout,
}

#[cfg(target_os = "linux")]
impl<T> HugePages<T> {
    /// `None` if `bytes` rounded up to huge pages is no valid layout; the
    /// caller then allocates as usual.
    fn zeroed(len: usize, bytes: usize) -> Option<HugePages<T>> {
        let rounded = bytes.checked_next_multiple_of(HUGE_PAGE)?;
        let layout = std::alloc::Layout::from_size_align(rounded, HUGE_PAGE).ok()?;
        // SAFETY: the layout's size is not zero (bytes >= LARGE).
        let start = unsafe { std::alloc::alloc(layout) };
        let Some(values) = std::ptr::NonNull::new(start.cast::<T>()) else {
            std::alloc::handle_alloc_error(layout);
        };
        // SAFETY: the allocation just made. Advice only: where the kernel
        // has no huge pages (or memory that is already mapped is reused),
        // the pages stay as they are, so the result is not checked.
        unsafe { libc::madvise(start.cast(), rounded, libc::MADV_HUGEPAGE) };
        // SAFETY: `bytes` inside the allocation. Fresh pages come zeroed
        // from the kernel, but memory the allocator reuses does not.
        unsafe { std::ptr::write_bytes(start, 0, bytes) };
        Some(HugePages { values, len, layout })
    }

    fn slice(&self) -> &[T] {
        // SAFETY: `len` values inside the allocation, aligned (a huge-page
        // boundary), zeroed (valid: `T: Zeroable`) or since written through
        // `slice_mut`.
        unsafe { std::slice::from_raw_parts(self.values.as_ptr(), self.len) }
    }

    fn slice_mut(&mut self) -> &mut [T] {
        // SAFETY: as `slice`, and `&mut self` makes it the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.values.as_ptr(), self.len) }
    }
}

#[cfg(target_os = "linux")]
impl<T> Drop for HugePages<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout, freed once. The
        // values need no drop (`LargeBuffer` holds `Copy` types only).
        unsafe { std::alloc::dealloc(self.values.as_ptr().cast(), self.layout) };
    }
}

// SAFETY: owns its values as a Vec does; sending or sharing it sends or
// shares `T`s.
#[cfg(target_os = "linux")]
unsafe impl<T: Send> Send for HugePages<T> {}
// SAFETY: as above.
#[cfg(target_os = "linux")]
unsafe impl<T: Sync> Sync for HugePages<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_buffers_are_zeroed_and_writable() {
        let large = 1 << 20;
        for len in [0, 1, 1000, large / 8 - 1, large / 8, 3 * large / 8 + 5] {
            let mut buffer = LargeBuffer::<u64>::zeroed(len);
            assert_eq!(buffer.len(), len);
            assert!(buffer.iter().all(|&value| value == 0));
            buffer.iter_mut().enumerate().for_each(|(i, value)| *value = i as u64);
            assert!(buffer.iter().enumerate().all(|(i, &value)| value == i as u64));
        }
    }

    #[test]
    fn large_buffers_start_on_a_huge_page() {
        let buffer = LargeBuffer::<u32>::zeroed(1 << 20);
        #[cfg(target_os = "linux")]
        assert_eq!(buffer.as_ptr() as usize % HUGE_PAGE, 0);
        assert_eq!(buffer.len(), 1 << 20);
    }
}
