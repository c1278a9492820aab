//! Fuzzing the batch list: real text and JSONL lists, mutated as the image
//! fuzzing mutates files (`crates/core/tests/fuzz.rs`), read as a batch
//! reads its LIST. Every input must give entries or one typed, one-line
//! error naming the list: no panic, no hang, memory in proportion to the
//! list; and every entry must land in exactly one shard of any count.
//!
//! Runs for VARIEGATE_FUZZ_SECONDS (default 10; CI 60). A failing input is
//! saved under `target/fuzz-failures/` and named in the failure.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use variegate_batch::{Batch, BatchOptions, Shard};
use variegate_core::Engine;
use variegate_store::{Store, StoreOptions, Uploader};
use variegate_test_support::fuzzing::{CountingAllocator, LIVE, PEAK, Rng, keep, mutate};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Lists as people write them: comments, blank lines, URLs, odd names, a
/// byte-order mark; JSONL with extra fields of every JSON type.
const TEXT: &str = "\u{feff}# catalogue, part 1\n\nphotos/a.jpg\n  photos/b b.png  \n\
s3://bucket/in/c.webp\ngs://bucket/d.JPG\n# done\n../up/e.jpeg\nphotos/a.jpg\n\
caf\u{e9}/\u{1f600}.png\r\nfile:///abs/f.png\n";
const JSONL: &str = "{\"image\": \"a.jpg\", \"id\": 7, \"tags\": [\"x\", \"y\"]}\n\n\
{\"image\": \"s3://bucket/b.png\", \"meta\": {\"w\": 2048, \"ok\": true, \"n\": null}, \"score\": -1.5e3}\n\
# a comment\n{\"image\": \"  c.webp  \", \"status\": \"ours\", \"image2\": \"\\u00e9\"}\n";

/// Pieces spliced in: what breaks line and JSON parsers.
const PIECES: &[&str] = &[
    "\n",
    "\r\n",
    "\r",
    "\u{feff}",
    "#",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    "\"image\":",
    "\"image\": 3",
    ",",
    ":",
    "\0",
    "..",
    "/",
    "://",
    "s3://",
    "\u{2028}",
    "1e999",
    "-0",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

/// What reading a list of `n` bytes may allocate at most.
fn allowed(n: usize) -> usize {
    64 * n + (1 << 20)
}

#[test]
fn mutated_lists_give_entries_or_one_line_errors() {
    let seconds = std::env::var("VARIEGATE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("memory://", StoreOptions::default()).unwrap();
    let uploader = Uploader::builder(store).build().unwrap();
    let engine = Engine::builder().threads(1).build().unwrap();
    let batch = Batch::new(engine, uploader, Vec::new(), BatchOptions::default());
    let shards: Vec<Vec<Shard>> =
        (1..=4).map(|n| (0..n).map(|i| Shard::parse(&format!("{i}/{n}")).unwrap()).collect()).collect();

    let seeds = [TEXT.as_bytes(), JSONL.as_bytes()];
    let mut rng = Rng(0x5EED_1157);
    let (started, mut inputs, mut listed, mut refused) = (Instant::now(), 0u64, 0u64, 0u64);
    while started.elapsed() < Duration::from_secs(seconds) {
        let (seed, other) = (seeds[rng.below(2)], seeds[rng.below(2)]);
        let mut input = mutate(&mut rng, seed, other);
        for _ in 0..rng.below(3) {
            let at = rng.below(input.len() + 1);
            let piece = PIECES[rng.below(PIECES.len())].as_bytes();
            input.splice(at..at, piece.iter().copied());
        }
        let path = dir.path().join(format!("list-{}.{}", inputs % 4, ["txt", "jsonl"][rng.below(2)]));
        std::fs::write(&path, &input).unwrap();
        let list = path.to_str().unwrap();

        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let took = Instant::now();
        let read = catch_unwind(AssertUnwindSafe(|| batch.read_list(list)));
        let (peak, took) = (PEAK.load(Ordering::Relaxed).saturating_sub(before), took.elapsed());
        let fail = |what: String| -> ! {
            panic!("input {inputs}: {what}; saved as {}", keep("list", inputs, &input))
        };
        if peak > allowed(input.len()) {
            fail(format!("{peak} bytes allocated for a list of {}", input.len()));
        }
        if took > Duration::from_secs(2) {
            fail(format!("took {took:?}"));
        }
        match read {
            Err(_) => fail("panicked".into()),
            Ok(Err(error)) => {
                let message = error.to_string();
                if message.contains('\n') || !message.starts_with(list) {
                    fail(format!("error not one line naming the list: {message:?}"));
                }
                refused += 1;
            }
            Ok(Ok(list)) => {
                let entries = list.entries;
                if entries.len() != list.listed {
                    fail(format!("{} of {} entries kept for the whole list", entries.len(), list.listed));
                }
                for entry in &entries {
                    let image = &entry.image;
                    if image.is_empty() || image.trim() != image || image.contains('\n') {
                        fail(format!("entry {image:?}"));
                    }
                    let image = &entry.identity();
                    if serde_json::to_string(&entry.extra).unwrap().contains('\n') {
                        fail(format!("extra fields of {image:?} span lines"));
                    }
                    for of_n in &shards {
                        if of_n.iter().filter(|shard| shard.contains(image)).count() != 1 {
                            fail(format!("{image:?} is not in exactly one of {} shards", of_n.len()));
                        }
                    }
                }
                if entries.is_empty() {
                    fail("an empty list was accepted".into());
                }
                listed += 1;
            }
        }
        inputs += 1;
    }
    println!("{inputs} lists in {seconds} s: {listed} read, {refused} refused");
    assert!(listed > 0 && refused > 0, "{listed} read, {refused} refused: the mutations reach both sides");
}
