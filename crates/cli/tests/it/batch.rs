//! `variegate batch` on the real binary: shards by flag and by each array
//! engine's variables, resume after SIGKILL, two processes on one shard,
//! images that fail alone, lists of every kind, and bad lists.

use variegate_test_support::s3server;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::batch_support::*;
use s3server::{BUCKET, S3Server};
use serde_json::Value;

/// For shard `i` of 3: the extra arguments and the environment.
type ShardWay = fn(usize) -> (Vec<String>, Vec<(&'static str, String)>);

#[test]
fn shards_by_flag_and_by_each_engines_variables_are_disjoint_and_complete() {
    let all: BTreeSet<String> = photos().names.iter().cloned().collect();
    let ways: [(&str, ShardWay); 4] = [
        ("--shard", |i| (vec!["--shard".into(), format!("{i}/3")], vec![])),
        ("Slurm", |i| {
            let vars = [("SLURM_ARRAY_TASK_ID", (i + 1).to_string()), ("SLURM_ARRAY_TASK_MIN", "1".into())];
            (vec![], vars.into_iter().chain([("SLURM_ARRAY_TASK_COUNT", "3".to_string())]).collect())
        }),
        ("AWS Batch", |i| {
            (
                vec![],
                vec![("AWS_BATCH_JOB_ARRAY_INDEX", i.to_string()), ("AWS_BATCH_JOB_ARRAY_SIZE", "3".into())],
            )
        }),
        ("Kubernetes", |i| {
            (vec!["--shards".into(), "3".into()], vec![("JOB_COMPLETION_INDEX", i.to_string())])
        }),
    ];
    let mut by_flag: Vec<BTreeSet<String>> = Vec::new();
    for (engine, shard_args) in ways {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        for i in 0..3 {
            let (args, env) = shard_args(i);
            let mut argv = vec![list(), "--out".into(), "out".into(), "-q".into()];
            argv.extend(args);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let output = batch(&argv, &env, dir.path());
            assert_eq!(output.status.code(), Some(0), "{engine} {i}: {}", stderr(&output));
            let first = stderr(&output).lines().next().unwrap_or_default().to_string();
            assert!(first.starts_with(&format!("shard {i}/3 ({engine}): ")), "{first}");
            let lines = results(&dir.path().join("out"));
            let mine: BTreeSet<String> = lines
                .iter()
                .filter(|l| l["shard"] == format!("{i}/3"))
                .map(|l| l["image"].as_str().unwrap().into())
                .collect();
            assert!(!mine.is_empty(), "{engine} {i}: every shard has some of 24 images");
            seen.push(mine);
        }
        for a in 0..3 {
            for b in a + 1..3 {
                assert!(seen[a].is_disjoint(&seen[b]), "{engine}: shards {a} and {b} share images");
            }
        }
        let union: BTreeSet<String> = seen.iter().flatten().cloned().collect();
        assert_eq!(union, all, "{engine}: the shards cover the list");
        if by_flag.is_empty() {
            by_flag = seen;
        } else {
            assert_eq!(seen, by_flag, "{engine}: the same shards as --shard I/3");
        }
        let files = stored(&dir.path().join("out"));
        assert_eq!(files.len(), 24 * 8, "24 images, seven variations and a manifest each");
    }
}

/// Starts a batch of the 24 photos into `dir/out` and reads its stderr
/// until `stored` images are stored; the rest of the lines stay to read.
fn start_until_stored(
    dir: &Path,
    extra: &[&str],
    stored: usize,
) -> (std::process::Child, std::io::Lines<BufReader<std::process::ChildStderr>>) {
    let palettes = fixture("palettes.json");
    let mut child = Command::new(BIN)
        .args(["batch", &list(), "--palettes", &palettes, "--out", "out"])
        .args(extra)
        .current_dir(dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut done = 0;
    while done < stored {
        done += usize::from(lines.next().unwrap().unwrap().starts_with("stored "));
    }
    (child, lines)
}

#[test]
fn a_batch_killed_mid_way_resumes_without_redoing_or_leaving_anything() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _lines) = start_until_stored(dir.path(), &["--in-flight", "1"], 8);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = results(&dir.path().join("out"));
    let finished = images_with(&before, "stored");
    assert!(finished.len() >= 8 && finished.len() < 24, "{}", finished.len());

    let output = batch(&[&list(), "--out", "out", "--resume"], &[], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let after: Vec<Value> = results(&dir.path().join("out")).split_off(before.len());
    assert_eq!(after.len(), 24, "one line per image of the resumed run");
    assert_eq!(images_with(&after, "skipped"), finished, "what was done is skipped");
    let all: BTreeSet<String> = photos().names.iter().cloned().collect();
    let redone: BTreeSet<String> = all.difference(&finished).cloned().collect();
    assert_eq!(images_with(&after, "stored"), redone, "the rest is stored");
    // Every image once, whole, and nothing else: no staging, no partial files.
    let files = stored(&dir.path().join("out"));
    assert_eq!(
        files.len(),
        24 * 8,
        "{:?}",
        files.keys().filter(|k| !k.ends_with(".png")).collect::<Vec<_>>()
    );
    for (name, bytes) in &files {
        if name.ends_with(".json") {
            let manifest: Value = serde_json::from_slice(bytes).unwrap();
            assert_eq!(manifest["status"], "complete", "{name}");
        } else {
            assert!(image::load_from_memory(bytes).is_ok(), "{name} is whole");
        }
    }
}

#[test]
fn two_processes_on_one_shard_leave_valid_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let palettes = fixture("palettes.json");
    let spawn = || {
        Command::new(BIN)
            .args(["batch", &list(), "--palettes", &palettes, "--out", "out", "-q"])
            .current_dir(dir.path())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    for child in [first, second] {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    let alone = tempfile::tempdir().unwrap();
    let output = batch(&[&list(), "--out", "out", "-q"], &[], alone.path());
    assert_eq!(output.status.code(), Some(0));
    let (together, reference) = (stored(&dir.path().join("out")), stored(&alone.path().join("out")));
    assert_eq!(together.keys().collect::<Vec<_>>(), reference.keys().collect::<Vec<_>>());
    for (name, bytes) in &together {
        if name.ends_with(".json") {
            let manifest: Value = serde_json::from_slice(bytes).unwrap();
            assert_eq!(
                (manifest["status"].as_str(), manifest["stored"].as_u64()),
                (Some("complete"), Some(7)),
                "{name}"
            );
        } else {
            assert_eq!(bytes, &reference[name], "{name}: the same bytes");
        }
    }
    let lines = results(&dir.path().join("out"));
    assert_eq!(lines.len(), 48, "both runs' lines, none lost or torn");
    assert!(walk(&dir.path().join("out")).iter().all(|p| !p.to_string_lossy().contains("staging")));
}

#[test]
fn bad_images_fail_alone_and_jsonl_fields_are_carried_through() {
    let dir = tempfile::tempdir().unwrap();
    let names = &photos().names;
    let lines = [
        format!(r#"{{"image": "{}", "id": 1, "tags": ["a"]}}"#, names[0]),
        format!(r#"{{"image": "{}", "id": 2}}"#, fixture("bad/missing.png")),
        format!(r#"{{"image": "{}", "id": 3}}"#, fixture("bad/truncated.png")),
        format!(r#"{{"image": "{}", "id": 4, "status": "mine"}}"#, names[1]),
    ];
    std::fs::write(dir.path().join("list.jsonl"), lines.join("\n")).unwrap();
    let output = batch(&["list.jsonl", "--out", "out"], &[], dir.path());
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let results = results(&dir.path().join("out"));
    let by_id: BTreeMap<u64, &Value> = results.iter().map(|l| (l["id"].as_u64().unwrap(), l)).collect();
    assert_eq!(by_id.len(), 4);
    assert_eq!((by_id[&1]["status"].as_str(), by_id[&1]["tags"][0].as_str()), (Some("stored"), Some("a")));
    assert_eq!(by_id[&4]["status"], "stored", "the line's own status wins over an extra field");
    for id in [2, 3] {
        assert_eq!(by_id[&id]["status"], "failed");
        assert!(by_id[&id]["error"].as_str().unwrap().starts_with(by_id[&id]["image"].as_str().unwrap()));
    }
    let errors: Vec<String> =
        stderr(&output).lines().filter(|l| l.starts_with("error: ")).map(String::from).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains(": failed: "), "{errors:?}");
}

#[test]
fn folders_and_store_prefixes_are_lists_too() {
    // A folder: its images, sorted.
    let dir = tempfile::tempdir().unwrap();
    let folder = photos().dir.path().to_str().unwrap().to_string();
    let output = batch(&[&folder, "--out", "out", "-q", "--shard", "0/4"], &[], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let from_folder = results(&dir.path().join("out"));
    assert!(from_folder.iter().all(|l| l["image"].as_str().unwrap().starts_with(&folder)));

    // A prefix on S3: listed, read and stored through object_store.
    let server = S3Server::start();
    let inputs = server.root.path().join(BUCKET).join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    for name in &photos().names[..5] {
        std::fs::copy(name, inputs.join(Path::new(name).file_name().unwrap())).unwrap();
    }
    std::fs::write(inputs.join("notes.txt"), "not an image").unwrap();
    let env = server.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let prefix = format!("s3://{BUCKET}/in/");
    let out = format!("s3://{BUCKET}/out");
    let output = batch(&[&prefix, "--out", &out], &env, dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("5 of 5 images"), "{text}");
    assert!(text.contains(&format!("results stored in {out}/_results/")), "{text}");
    let bucket_out = server.root.path().join(BUCKET).join("out");
    let manifests = walk(&bucket_out).into_iter().filter(|p| p.ends_with("manifest.json")).count();
    assert_eq!(manifests, 5);
    let line = results(&bucket_out).remove(0);
    assert!(line["image"].as_str().unwrap().starts_with(&prefix), "{line}");

    // A list file in the bucket, naming images in the bucket.
    let lists = server.root.path().join(BUCKET).join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    let names: Vec<String> = photos().names[..3]
        .iter()
        .map(|n| format!("{prefix}{}", Path::new(n).file_name().unwrap().to_str().unwrap()))
        .collect();
    std::fs::write(lists.join("three.txt"), names.join("\n")).unwrap();
    let listed = format!("s3://{BUCKET}/lists/three.txt");
    let output = batch(&[&listed, "--out", &format!("s3://{BUCKET}/out2"), "-q"], &env, dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines = results(&server.root.path().join(BUCKET).join("out2"));
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["status"] == "stored"), "{lines:?}");
}

#[test]
fn empty_unreadable_and_malformed_lists_are_fatal_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.txt"), "# nothing here\n\n").unwrap();
    std::fs::write(dir.path().join("bad.jsonl"), "{\"image\": \"a.png\"}\n{\"id\": 2}\n").unwrap();
    for (list, expected) in [
        ("empty.txt", "empty.txt: no images in the list".to_string()),
        ("missing.txt", "missing.txt: cannot read the list: ".to_string()),
        ("bad.jsonl", "bad.jsonl: line 2: no \"image\" field with a path or URL".to_string()),
    ] {
        let output = batch(&[list, "--out", "out"], &[], dir.path());
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{list}: {stderr}");
        assert!(stderr.starts_with(&format!("error: {expected}")), "{list}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!dir.path().join("out").exists(), "nothing written");
    }
    let output = batch(&[&list(), "--shard", "3/3"], &[], dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let output = batch(&[&list()], &[("JOB_COMPLETION_INDEX", "1")], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("give --shards N"), "{}", stderr(&output));
}

#[test]
fn sigterm_stops_a_batch_with_a_true_record_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, lines) = start_until_stored(dir.path(), &[], 6);
    // SAFETY: kill(2) on our own child, not yet waited for.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(child.wait().unwrap().code(), Some(143), "{rest:?}");
    let last = rest.last().unwrap();
    assert!(
        last.starts_with("interrupted by SIGTERM: of 24 images, ")
            && last.ends_with("run again with --resume"),
        "{last}"
    );
    let before = results(&dir.path().join("out"));
    // The results file accounts for every image of the shard, made or not.
    assert_eq!(before.len(), 24, "{before:?}");
    assert!(images_with(&before, "stored").len() < 24, "it stopped early");
    for line in &before {
        let manifest = dir.path().join("out").join(line["manifest"].as_str().unwrap_or("none"));
        let status = line["status"].as_str().unwrap();
        let made = status == "stored" || (status == "cancelled" && manifest.is_file());
        assert!(made || (status == "not_started" && line["manifest"].is_null()), "{line}");
    }
    assert!(!rest.iter().any(|line| line.contains("cancelled: cancelled")), "said once: {rest:?}");
    let not_started = images_with(&before, "not_started").len();
    assert!(last.contains(&format!(", {not_started} not started;")), "{last}");
    let output = batch(&[&list(), "--out", "out", "--resume", "-q"], &[], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let after: Vec<Value> = results(&dir.path().join("out")).split_off(before.len());
    assert_eq!(images_with(&after, "skipped"), images_with(&before, "stored"));
    assert_eq!(stored(&dir.path().join("out")).len(), 24 * 8);
}

#[test]
fn a_slurm_array_job_takes_every_image_exactly_once() {
    let Some(slurm) = Slurm::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let (ran, logs) = slurm.run_array(work.path(), "0-2", &[0, 1, 2], None);
    assert!(ran, "{logs}");
    for i in 0..3 {
        assert!(logs.contains(&format!("shard {i}/3 (Slurm): ")), "{logs}");
    }
    let lines = results(&work.path().join("out"));
    let mut taken: Vec<String> = lines.iter().map(|l| l["image"].as_str().unwrap().to_string()).collect();
    taken.sort();
    let mut all = photos().names.clone();
    all.sort();
    assert_eq!(taken, all, "every image exactly once over the three tasks");
    let shards: BTreeSet<&str> = lines.iter().map(|l| l["shard"].as_str().unwrap()).collect();
    assert_eq!(shards, BTreeSet::from(["0/3", "1/3", "2/3"]));
    assert_eq!(stored(&work.path().join("out")).len(), 24 * 8);
}

#[test]
fn results_that_cannot_all_be_written_make_the_exit_code_say_so_and_resume_repairs_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("full")).unwrap();
    // Four pages of tmpfs, three of them taken: room for a few results
    // lines, not for 24. Then space is freed, a torn line is left as a
    // killed writer leaves one, and the batch resumed.
    let script = format!(
        "mount -t tmpfs -o size=16k tmpfs full || exit 99
        head -c 12288 /dev/zero > full/filler
        \"$BIN\" batch '{list}' --palettes '{palettes}' --out out -q --results full/r.jsonl; echo exit=$? >&2
        tail -c 1 full/r.jsonl | od -c | head -1 >&2
        rm full/filler
        printf '{{\"image\": \"photo-' >> full/r.jsonl
        \"$BIN\" batch '{list}' --palettes '{palettes}' --out out -q --results full/r.jsonl --resume; echo resumed=$? >&2
        cat full/r.jsonl; cat full/r.jsonl.torn >&2",
        list = list(),
        palettes = fixture("palettes.json")
    );
    let output = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env("BIN", BIN)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = stderr(&output);
    if output.status.code() == Some(99) || !output.status.success() && stderr.contains("unshare") {
        eprintln!("skipped: private tmpfs mounts are not allowed here");
        return;
    }
    assert!(stderr.contains("exit=3"), "{stderr}");
    assert!(stderr.contains("error: results not all written to full/r.jsonl"), "{stderr}");
    assert!(stderr.contains("0000000  \\n"), "a failed line was cut back off: {stderr}");
    assert!(stderr.contains("its last line was cut off (17 bytes"), "{stderr}");
    assert!(stderr.contains("resumed=0"), "{stderr}");
    assert_eq!(stored(&dir.path().join("out")).len(), 24 * 8, "every image stored all the same");
    let lines: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let taken: BTreeSet<String> = lines.iter().map(|l| l["image"].as_str().unwrap().to_string()).collect();
    assert_eq!(taken.len(), 24, "every image has its line");
    assert!(stderr.contains("{\"image\": \"photo-\n"), "the torn line was kept aside: {stderr}");
}

/// A retry from a fresh working folder (a new pod) keeps every attempt's
/// results in the store: one object per run, never replaced.
#[test]
fn retries_keep_every_attempts_results_in_a_cloud_store() {
    let server = S3Server::start();
    let env = server.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = format!("s3://{BUCKET}/retried");
    let names = &photos().names[..4];
    let first = tempfile::tempdir().unwrap();
    std::fs::write(first.path().join("list.txt"), names.join("\n")).unwrap();
    let output = batch(&["list.txt", "--out", &out, "-q"], &env, first.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let second = tempfile::tempdir().unwrap();
    std::fs::write(second.path().join("list.txt"), names.join("\n")).unwrap();
    let output = batch(&["list.txt", "--out", &out, "--resume"], &env, second.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("4 images: 0 stored, 4 skipped"), "{}", stderr(&output));

    let stored_results = server.root.path().join(BUCKET).join("retried").join("_results");
    let objects: Vec<PathBuf> =
        walk(&stored_results).into_iter().filter(|p| p.extension().is_some_and(|e| e == "jsonl")).collect();
    assert_eq!(objects.len(), 2, "one object a run: {objects:?}");
    let lines = results(&server.root.path().join(BUCKET).join("retried"));
    assert_eq!(lines.len(), 8, "both attempts' lines");
    assert_eq!(images_with(&lines, "stored").len(), 4);
    assert_eq!(images_with(&lines, "skipped").len(), 4);
    let runs: BTreeSet<&str> = lines.iter().map(|l| l["run"].as_str().unwrap()).collect();
    assert_eq!(runs.len(), 2);
}
