//! The keys a batch adds beside its runs' folders (`<look>-<digest>` is the
//! batch's recipe folder, [`variegate_store::keys::recipe_folder`]):
//!
//! ```text
//! _index/<look>-<digest, 8 hex>/<hash of the image's identity, 16 hex>.json   resume markers
//! _results/<look>-<digest, 8 hex>/shard-I-of-N/<run>.jsonl                    results, cloud stores
//! _results/<look>-<digest, 8 hex>/shard-I-of-N.jsonl                          results, local folders
//! ```

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::shard::Shard;

/// The key of the resume marker of the image named `identity` in a batch
/// of `recipe_folder`.
pub fn marker(recipe_folder: &str, identity: &str) -> String {
    let hash = Sha256::digest(identity.as_bytes());
    let hash = u64::from_be_bytes(std::array::from_fn(|i| hash[i]));
    format!("_index/{recipe_folder}/{hash:016x}.json")
}

/// The key a batch's `run` copies its results of `shard` to, in a store
/// that is not a local folder: one object per run, so that no retry
/// replaces an earlier attempt's record.
pub fn results(recipe_folder: &str, shard: &Shard, run: &str) -> String {
    format!("{RESULTS}/{recipe_folder}/{}/{run}.jsonl", shard.file_name())
}

/// The folder of a batch's results in a store.
pub const RESULTS: &str = "_results";

/// `<look>-<digest>/shard-I-of-N.jsonl`: where a batch's results of `shard`
/// are written locally, below [`RESULTS`] in a local store's folder (or
/// below `./variegate-results/<store>/` for other stores).
pub fn results_file(recipe_folder: &str, shard: &Shard) -> PathBuf {
    [recipe_folder, &format!("{}.jsonl", shard.file_name())].iter().collect()
}
