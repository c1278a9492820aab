//! Deterministic shares of a list, for array jobs on many machines.
//!
//! An image belongs to shard `hash(identity) mod count`, where the identity
//! is the image as the list names it and the hash is SHA-256: the same on
//! every machine, and appending to a list never moves earlier images
//! between shards. The shard comes from `--shard I/N` (which wins over any
//! variables), or from the environment of the engine running the job:
//!
//! | engine | variables | shard |
//! | --- | --- | --- |
//! | Slurm job array | `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT` (`SLURM_ARRAY_TASK_STEP`, `SLURM_ARRAY_TASK_MAX`) | (id - min) / step of count; an array that is not one range is refused |
//! | AWS Batch array job | `AWS_BATCH_JOB_ARRAY_INDEX`, `AWS_BATCH_JOB_ARRAY_SIZE` | index of size |
//! | Kubernetes Indexed Job | `JOB_COMPLETION_INDEX`, with `--shards N` (the Job's completions) | index of N |

use std::fmt;

use sha2::{Digest, Sha256};

/// One share of a list: `index` of `count`, counted from 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which share, from 0.
    pub index: u64,
    /// How many shares.
    pub count: u64,
    /// Where it came from: `--shard`, `Slurm`, `AWS Batch`, `Kubernetes`, or `whole list`.
    pub source: &'static str,
}

impl Shard {
    /// The whole list.
    pub fn all() -> Shard {
        Shard { index: 0, count: 1, source: "whole list" }
    }

    /// Parses `I/N`, with `I` from 0 to `N - 1`.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let not_i_of_n = || ShardError::NotIOfN(text.into());
        let (index, count) = text.split_once('/').ok_or_else(not_i_of_n)?;
        let number = |part: &str| part.trim().parse::<u64>().map_err(|_| not_i_of_n());
        Shard::new(number(index)?, number(count)?, "--shard")
    }

    fn new(index: u64, count: u64, source: &'static str) -> Result<Shard, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Shard { index, count, source })
    }

    /// The shard the environment names (see the module docs), if any.
    /// `shards` is `--shards N`, which Kubernetes needs. `var` reads a
    /// variable (`std::env::var(..).ok()` in a process).
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
        shards: Option<u64>,
    ) -> Result<Option<Shard>, ShardError> {
        let number = |name: &'static str| -> Result<Option<u64>, ShardError> {
            match var(name) {
                None => Ok(None),
                Some(value) => {
                    value.trim().parse().map(Some).map_err(|_| ShardError::NotANumber { name, value })
                }
            }
        };
        let missing = |set, missing| move || ShardError::Missing { set, missing };
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let count = number("SLURM_ARRAY_TASK_COUNT")?
                .ok_or_else(missing("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"))?;
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            // A resubmitted subset (`--array=3,5`) is not one range: its
            // count and minimum say nothing of the original array.
            if let Some(max) = number("SLURM_ARRAY_TASK_MAX")?
                && max.checked_sub(min).map(|span| span / step + 1) != Some(count)
            {
                return Err(ShardError::NotOneRange { count, min, max });
            }
            let index = id.checked_sub(min).ok_or(ShardError::BelowMin)? / step;
            return Shard::new(index, count, "Slurm").map(Some);
        }
        if let Some(index) = number("AWS_BATCH_JOB_ARRAY_INDEX")? {
            let count = number("AWS_BATCH_JOB_ARRAY_SIZE")?
                .ok_or_else(missing("AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE"))?;
            return Shard::new(index, count, "AWS Batch").map(Some);
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = shards.ok_or(ShardError::NoShards)?;
            return Shard::new(index, count, "Kubernetes").map(Some);
        }
        Ok(None)
    }

    /// Whether the image named `identity` belongs to this shard.
    pub fn contains(&self, identity: &str) -> bool {
        let hash = Sha256::digest(identity.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash[..8]);
        u64::from_be_bytes(first) % self.count == self.index
    }

    /// `I-of-N`, for file names.
    pub fn file_name(&self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }
}

/// Why no shard could be taken from `--shard` or the environment.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// `--shard` is not of the form `I/N`.
    #[error("{0:?} is not I/N")]
    NotIOfN(String),
    /// The index is not below the count, or the count is 0.
    #[error("shard {index}/{count}: the index must be below the count, and the count at least 1")]
    OutOfRange {
        /// The index given.
        index: u64,
        /// The count given.
        count: u64,
    },
    /// A variable is not a number.
    #[error("{name}={value:?} is not a number")]
    NotANumber {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A variable is set without the one it needs.
    #[error("{set} is set but {missing} is not")]
    Missing {
        /// The variable set.
        set: &'static str,
        /// The one missing.
        missing: &'static str,
    },
    /// A resubmitted subset of a Slurm array (`--array=0,2`).
    #[error(
        "this Slurm array is not one range ({count} tasks from {min} to {max}): give each task \
         --shard $SLURM_ARRAY_TASK_ID/N with the N of the original array"
    )]
    NotOneRange {
        /// `SLURM_ARRAY_TASK_COUNT`.
        count: u64,
        /// `SLURM_ARRAY_TASK_MIN`.
        min: u64,
        /// `SLURM_ARRAY_TASK_MAX`.
        max: u64,
    },
    /// `SLURM_ARRAY_TASK_ID` is below `SLURM_ARRAY_TASK_MIN`.
    #[error("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")]
    BelowMin,
    /// A Kubernetes Indexed Job without `--shards`.
    #[error("JOB_COMPLETION_INDEX is set: give --shards N, the Job's completions")]
    NoShards,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn shards_split_a_list_in_disjoint_complete_stable_parts() {
        let names: Vec<String> = (0..1000).map(|i| format!("s3://bucket/in/{i:04}.jpg")).collect();
        let shards: Vec<Shard> = (0..3).map(|i| Shard::parse(&format!("{i}/3")).unwrap()).collect();
        let mut sizes = [0; 3];
        for name in &names {
            let owners: Vec<usize> = (0..3).filter(|&i| shards[i].contains(name)).collect();
            assert_eq!(owners.len(), 1, "{name} in exactly one shard");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| (280..390).contains(&n)), "about a third each: {sizes:?}");
        // The hash is SHA-256 of the name: the same on every machine and run.
        assert!(
            Shard::parse("2/3").unwrap().contains("photos/cat.jpg"),
            "computed independently with Python hashlib"
        );
        assert_eq!(Shard::all().to_string(), "0/1");
        assert!(Shard::parse("3/3").is_err() && Shard::parse("0/0").is_err() && Shard::parse("a/b").is_err());
    }

    #[test]
    fn each_engines_variables() {
        let slurm =
            [("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "4"), ("SLURM_ARRAY_TASK_COUNT", "3")];
        assert_eq!(
            Shard::from_env(env(&slurm), None).unwrap(),
            Some(Shard { index: 1, count: 3, source: "Slurm" })
        );
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(Shard::from_env(env(&stepped), None).unwrap().unwrap().index, 2);
        let aws = [("AWS_BATCH_JOB_ARRAY_INDEX", "2"), ("AWS_BATCH_JOB_ARRAY_SIZE", "3")];
        assert_eq!(
            Shard::from_env(env(&aws), None).unwrap(),
            Some(Shard { index: 2, count: 3, source: "AWS Batch" })
        );
        let k8s = [("JOB_COMPLETION_INDEX", "0")];
        assert_eq!(
            Shard::from_env(env(&k8s), Some(3)).unwrap(),
            Some(Shard { index: 0, count: 3, source: "Kubernetes" })
        );
        assert_eq!(Shard::from_env(env(&k8s), None), Err(ShardError::NoShards));
        assert_eq!(Shard::from_env(env(&[]), None).unwrap(), None);
        assert!(
            Shard::from_env(
                env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "3"), ("AWS_BATCH_JOB_ARRAY_SIZE", "3")]),
                None
            )
            .is_err()
        );
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "x")]), None).is_err());
        let ranged = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "3"),
            ("SLURM_ARRAY_TASK_MAX", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(Shard::from_env(env(&ranged), None).unwrap().unwrap().index, 2);
        let subset = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "3"),
            ("SLURM_ARRAY_TASK_MAX", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ];
        assert!(Shard::from_env(env(&subset), None).unwrap_err().to_string().contains("not one range"));
    }
}
