//! Lists at scale and as operators write them, on the real binary: a
//! million-line list read as a stream, one identity per image however it
//! is written, folders of links, store keys that look like URL syntax, and
//! shards that do what the flag or the scheduler says.

use crate::common;
use variegate_test_support::s3server;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::batch_support::*;
use s3server::{BUCKET, S3Server};
use serde_json::Value;

/// `variegate batch ... --palettes P` with `args`; exit code, peak RSS in
/// bytes (the process's own `VmHWM`: `common::peak_of`) and wall time, and
/// stderr.
fn measured_batch(args: &[&str], dir: &Path) -> (Option<i32>, u64, Duration, String) {
    let started = Instant::now();
    let palettes = fixture("palettes.json");
    let args = [&["batch"][..], args, &["--palettes", &palettes]].concat();
    let (code, stderr, peak) = common::peak_of(&args, dir);
    (code, peak, started.elapsed(), stderr)
}

#[test]
fn a_million_line_list_costs_a_shard_its_own_share() {
    let dir = tempfile::tempdir().unwrap();
    let mut list = std::io::BufWriter::new(std::fs::File::create(dir.path().join("list.jsonl")).unwrap());
    // Absolute paths, so that which images fall in the shard (by identity,
    // the absolute path) does not depend on the temporary folder's name.
    for i in 0..1_000_000 {
        use std::io::Write;
        writeln!(
            list,
            "{{\"image\": \"/missing/variegate/img-{i:07}.png\", \"id\": {i}, \"tags\": [\"catalogue\", \"spring\"], \"note\": \"an extra field that costs memory if kept\"}}"
        )
        .unwrap();
    }
    drop(list);
    let args = ["list.jsonl", "--out", "out", "--max-memory", "64M", "--shard", "0/200000", "-q"];
    let (code, peak, took, stderr) = measured_batch(&args, dir.path());
    // Its few images do not exist: each fails alone, named.
    assert_eq!(code, Some(3), "{stderr}");
    let first = stderr.lines().next().unwrap();
    assert!(
        first.starts_with("shard 0/200000 (--shard): ") && first.contains(" of 1000000 images"),
        "{first}"
    );
    assert!(peak < 100 << 20, "peak RSS {} MiB", peak >> 20);
    assert!(took < Duration::from_secs(10), "{took:?}");
    let lines = results(&dir.path().join("out"));
    assert!(!lines.is_empty() && lines.iter().all(|l| l["status"] == "failed" && l["id"].is_number()));
    eprintln!("1,000,000 lines, shard 0/200000: peak RSS {} MiB, {took:?}", peak >> 20);
}

#[test]
fn one_image_one_identity_however_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("imgs");
    std::fs::create_dir(&images).unwrap();
    for name in &photos().names[..3] {
        std::fs::copy(name, images.join(Path::new(name).file_name().unwrap())).unwrap();
    }
    let absolute = images.join("photo-00.jpg");
    let url = url::Url::from_file_path(&absolute).unwrap().to_string();
    // Five ways to write one image, each with fields of its own; one of
    // them named like a field of the results line.
    let ways = [
        "imgs/photo-00.jpg",
        "./imgs/photo-00.jpg",
        ".//imgs/photo-00.jpg",
        absolute.to_str().unwrap(),
        &url,
    ];
    let list: Vec<String> = ways
        .iter()
        .enumerate()
        .map(|(i, image)| serde_json::json!({"image": image, "row": i, "status": "todo"}).to_string())
        .collect();
    std::fs::write(dir.path().join("list.jsonl"), list.join("\n")).unwrap();
    let output = batch(&["list.jsonl", "--out", "out", "-q"], &[], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains(": 1 of 5 images;"), "{}", stderr(&output));
    let lines = results(&dir.path().join("out"));
    assert_eq!(lines.len(), 5, "a line a listing: {lines:?}");
    let rows: BTreeSet<u64> = lines.iter().map(|l| l["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, (0..5).collect());
    for line in &lines {
        assert_eq!(line["status"], "stored", "{line}");
        assert_eq!(line["fields"]["status"], "todo", "the row's own field is kept: {line}");
    }
    let folders: BTreeSet<&str> = lines.iter().map(|l| l["folder"].as_str().unwrap()).collect();
    assert_eq!(folders.len(), 1);
    assert_eq!(stored(&dir.path().join("out")).len(), 8, "done once");

    // A folder named three ways is one set of images: the resumes skip them all.
    let output = batch(&["imgs", "--out", "again", "-q"], &[], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    for folder in ["./imgs", images.to_str().unwrap()] {
        let output = batch(&[folder, "--out", "again", "--resume"], &[], dir.path());
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert!(stderr(&output).contains("3 images: 0 stored, 3 skipped"), "{folder}: {}", stderr(&output));
    }
}

#[test]
fn a_folder_of_links_is_listed_as_ls_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let links = dir.path().join("links");
    std::fs::create_dir(&links).unwrap();
    for name in &photos().names[..2] {
        std::os::unix::fs::symlink(name, links.join(Path::new(name).file_name().unwrap())).unwrap();
    }
    std::fs::copy(&photos().names[2], links.join("plain.png")).unwrap();
    std::os::unix::fs::symlink("/nowhere/gone.png", links.join("broken.png")).unwrap();
    std::fs::create_dir(links.join("folder.png")).unwrap();
    // What is not an image by its name is named too, as docs/batches.md promises.
    std::fs::create_dir(links.join("sub")).unwrap();
    std::fs::write(links.join("notes.txt"), "").unwrap();
    let output = batch(&["links", "--out", "out"], &[], dir.path());
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("3 of 3 images"), "{stderr}");
    assert!(stderr.contains("links: skipped 4 entries: "), "{stderr}");
    assert!(stderr.contains("links/broken.png (No such file or directory"), "{stderr}");
    assert!(stderr.contains("links/folder.png (a folder)"), "{stderr}");
    assert!(stderr.contains("links/notes.txt (not named .png, .jpg, .jpeg or .webp)"), "{stderr}");
    assert!(stderr.contains("links/sub (a folder)"), "{stderr}");
    assert_eq!(results(&dir.path().join("out")).len(), 3);
}

#[test]
fn store_keys_are_read_as_listed_not_as_urls() {
    let server = S3Server::start();
    let inputs = server.root.path().join(BUCKET).join("odd");
    std::fs::create_dir_all(&inputs).unwrap();
    let names = ["hash#1.png", "q?x=1.png", "lit%20pct.png", "space d.png"];
    for (name, photo) in names.iter().zip(&photos().names) {
        let photo = image::open(photo).unwrap();
        photo.save_with_format(inputs.join(name), image::ImageFormat::Png).unwrap();
    }
    let env = server.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let output = batch(&[&format!("s3://{BUCKET}/odd/"), "--out", "out", "-q"], &env, dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines = results(&dir.path().join("out"));
    let images: BTreeSet<&str> = lines.iter().map(|l| l["image"].as_str().unwrap()).collect();
    let expected: BTreeSet<String> = names.iter().map(|n| format!("s3://{BUCKET}/odd/{n}")).collect();
    assert_eq!(images, expected.iter().map(String::as_str).collect());
    assert!(lines.iter().all(|l| l["status"] == "stored"), "{lines:?}");

    // In a text list they are URLs: percent-encoded.
    let listed = format!("s3://{BUCKET}/odd/hash%231.png\ns3://{BUCKET}/odd/lit%2520pct.png\n");
    std::fs::write(dir.path().join("list.txt"), listed).unwrap();
    let output = batch(&["list.txt", "--out", "out2", "-q"], &env, dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn an_explicit_shard_wins_and_shards_without_an_index_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    // Slurm's id without its count used to fail even with --shard.
    let env = [("SLURM_ARRAY_TASK_ID", "7")];
    let output = batch(&[&list(), "--out", "out", "--shard", "1/3", "-q"], &env, dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).starts_with("shard 1/3 (--shard): "), "{}", stderr(&output));
    // --shards N without JOB_COMPLETION_INDEX used to do the whole list.
    let output = batch(&[&list(), "--out", "out", "--shards", "3"], &[], dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("JOB_COMPLETION_INDEX, which is not set"), "{}", stderr(&output));
    // A Slurm array that is not one range (a resubmitted subset) is refused.
    let subset = [
        ("SLURM_ARRAY_TASK_ID", "2"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_MAX", "2"),
        ("SLURM_ARRAY_TASK_COUNT", "2"),
    ];
    let output = batch(&[&list(), "--out", "out"], &subset, dir.path());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("not one range"), "{}", stderr(&output));
}

/// docs/batches.md's way to rerun failed shards of a Slurm array: resubmit
/// their ids with `--shard $SLURM_ARRAY_TASK_ID/N`, N the original count.
#[test]
fn failed_slurm_shards_are_rerun_by_id_with_the_original_count() {
    let Some(slurm) = Slurm::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let (ran, logs) = slurm.run_array(work.path(), "0,2", &[0, 2], Some(3));
    assert!(ran, "{logs}");
    let lines = results(&work.path().join("out"));
    let shards: BTreeSet<&str> = lines.iter().map(|l| l["shard"].as_str().unwrap()).collect();
    assert_eq!(shards, BTreeSet::from(["0/3", "2/3"]));
    // Exactly the images shards 0 and 2 of 3 take when run by hand.
    let by_hand = tempfile::tempdir().unwrap();
    for shard in ["0/3", "2/3"] {
        let output = batch(&[&list(), "--out", "out", "--shard", shard, "-q"], &[], by_hand.path());
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    let images = |lines: &[Value]| -> BTreeSet<String> {
        lines.iter().map(|l| l["image"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(images(&lines), images(&results(&by_hand.path().join("out"))));
    assert!(images(&lines).len() < photos().names.len(), "shard 1 was not run");
}

/// A file name is bytes: names that are not UTF-8, and the one that their
/// lossy reading would give, are three images with three records, each
/// named by a file URL that keeps every byte, and a resume skips each.
#[test]
fn names_that_are_not_utf8_keep_their_own_identity() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("odd");
    std::fs::create_dir(&folder).unwrap();
    let files: [(&[u8], &str); 3] = [
        (b"lat\xe9.png", "coffee.png"),
        (b"lat\xe8.jpg", "rocket.jpg"),
        (b"lat\xef\xbf\xbd.png", "logo.png"),
    ];
    for (name, photo) in files {
        std::fs::copy(fixture(photo), folder.join(std::ffi::OsStr::from_bytes(name))).unwrap();
    }
    let output = batch(&["odd", "--out", "out"], &[], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("3 images: 3 stored"), "{}", stderr(&output));
    let lines = results(&dir.path().join("out"));
    assert_eq!(lines.len(), 3, "{lines:?}");
    let folders: BTreeSet<&str> = lines.iter().map(|l| l["folder"].as_str().unwrap()).collect();
    assert_eq!(folders.len(), 3, "three images, three folders: {lines:?}");
    for line in &lines {
        // Each record is its own file's: the name in it leads back to the
        // file's bytes, whose size the stored manifest has.
        let image = line["image"].as_str().unwrap();
        let path = match image.starts_with("file://") {
            true => url::Url::parse(image).unwrap().to_file_path().unwrap(),
            false => dir.path().join(image),
        };
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("out").join(line["manifest"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let (width, height) = image::image_dimensions(&path).unwrap();
        assert_eq!(manifest["source"]["width"], width, "{line}");
        assert_eq!(manifest["source"]["height"], height, "{line}");
    }
    let urls = lines.iter().filter(|l| l["image"].as_str().unwrap().contains("lat%E")).count();
    assert_eq!(urls, 2, "the two names that are not UTF-8 are file URLs: {lines:?}");
    let output = batch(&["odd", "--out", "out", "--resume"], &[], dir.path());
    assert!(stderr(&output).contains("3 images: 0 stored, 3 skipped"), "{}", stderr(&output));
}

/// A batch shares its budget between the images in flight, but an image
/// too large for its share that fits the whole budget is made, alone: two
/// 2048x2048 photos in 300 MiB (a third each would refuse both).
#[test]
fn a_batch_makes_an_image_that_fits_the_whole_budget_alone() {
    let dir = tempfile::tempdir().unwrap();
    let photo = image::open(fixture("retina.jpg")).unwrap().to_rgb8();
    let frame = image::imageops::resize(&photo, 2048, 2048, image::imageops::FilterType::Triangle);
    frame.save(dir.path().join("a.png")).unwrap();
    image::imageops::flip_horizontal(&frame).save(dir.path().join("b.png")).unwrap();
    drop(frame);
    std::fs::write(dir.path().join("list.txt"), "a.png\nb.png\n").unwrap();
    let (code, peak, _, stderr) =
        measured_batch(&["list.txt", "--out", "out", "--max-memory", "300M"], dir.path());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("2 images: 2 stored"), "{stderr}");
    assert!(peak <= 300 << 20, "peak {} MiB", peak >> 20);
}
