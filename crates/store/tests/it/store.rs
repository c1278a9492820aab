//! Storing real jobs (the engine on the bundled photos) into real stores: a
//! local folder and memory. Keys named by the recipe, the manifest, a
//! cancelled job's record, and what a killed run left behind.

use variegate_test_support::jobs;

use std::time::Duration;

use jobs::{Keep, files, fixture, job, palettes};
use object_store::{Attribute, ObjectStoreExt};
use variegate_core::looks::RemapLook;
use variegate_core::{Engine, OutputFormat, Palette};
use variegate_store::{Failure, METADATA_NAMES, Manifest, RunStatus, Status, Store, StoreError, Uploader};

/// Two good palettes around an empty one.
fn three_palettes() -> Vec<Palette> {
    let mut palettes = palettes();
    palettes.truncate(2);
    palettes.insert(1, Palette { name: "Nothing".into(), colors: vec![], description: None });
    palettes
}

#[test]
fn local_folder_gets_files_thumbnails_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("variations/nested");
    let uploader =
        Uploader::builder(Store::from_location(out.to_str().unwrap()).unwrap()).uploads(2).build().unwrap();
    uploader.check().unwrap();
    assert!(!dir.path().join("variations").exists(), "the check leaves nothing behind");
    let engine = Engine::builder().thumbnail(Some(64)).build().unwrap();
    let mut keep = Keep::default();
    let report = uploader.store_observed(job(&engine, "coffee.png", three_palettes()), &mut keep);

    assert!(report.manifest_error.is_none(), "{:?}", report.manifest_error);
    let manifest = &report.manifest;
    assert_eq!((manifest.stored, manifest.failed, manifest.spilled, manifest.cancelled), (2, 1, 0, 0));
    assert_eq!((manifest.status, report.status()), (RunStatus::Partial, RunStatus::Partial));
    assert_eq!(keep.outcomes.len(), 3, "one outcome a palette, as it came");

    let folder = manifest.folder.clone();
    assert!(folder.starts_with("coffee-cc02f8ca/shift-"), "{folder}");
    assert_eq!(&folder[22..], &manifest.digest[..8], "the run folder ends with the recipe digest");
    let v = &manifest.variations;
    assert_eq!(v.iter().map(|o| o.index).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(v[0].key.as_deref(), Some(format!("{folder}/00-sunset-coral.png").as_str()));
    assert_eq!(
        std::fs::read(out.join(v[0].key.as_deref().unwrap())).unwrap(),
        keep.bytes[&0],
        "the engine's bytes"
    );
    let url = format!("file://{}/{folder}/00-sunset-coral.png", out.display());
    assert_eq!(v[0].url.as_deref(), Some(url.as_str()));
    assert_eq!(v[2].thumbnail.as_deref(), Some(format!("{folder}/thumbs/02-deep-ocean.png").as_str()));
    let thumb = image::open(out.join(v[2].thumbnail.as_deref().unwrap())).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (64, 43));
    assert_eq!((v[0].width, v[0].height, v[0].bytes), (Some(600), Some(400), keep.bytes[&0].len() as u64));
    assert_eq!(v[0].status, Status::Stored);
    assert!(v[0].timings.made.encode > Duration::ZERO && v[0].timings.store > Duration::ZERO);
    assert_eq!(v[1].status, Status::Failed);
    assert_eq!(v[1].key, None);
    assert_eq!(v[1].error.as_ref().unwrap().to_string(), "palette \"Nothing\" has no colours");
    assert!(matches!(v[1].error, Some(Failure::Made(_))), "typed to the end: {:?}", v[1].error);
    assert_eq!(manifest.store, format!("file://{}/", out.display()));
    assert_eq!(manifest.recipe.thumbnail, Some(64));

    // The stored manifest is the report's, and reads back.
    let stored: Manifest =
        serde_json::from_slice(&std::fs::read(out.join(&report.manifest_key)).unwrap()).unwrap();
    assert_eq!(
        stored.variations[1].error.as_ref().unwrap().to_string(),
        "palette \"Nothing\" has no colours"
    );
    assert_eq!(serde_json::to_value(&stored).unwrap(), serde_json::to_value(manifest).unwrap());
    assert_eq!(
        files(&out),
        [
            format!("{folder}/00-sunset-coral.png"),
            format!("{folder}/02-deep-ocean.png"),
            format!("{folder}/manifest.json"),
            format!("{folder}/thumbs/00-sunset-coral.png"),
            format!("{folder}/thumbs/02-deep-ocean.png"),
        ],
        "no staging file, nothing else"
    );
}

#[test]
fn same_recipe_same_keys_and_bytes_other_recipes_other_keys() {
    let dir = tempfile::tempdir().unwrap();
    let run = |engine: &Engine, palettes: Vec<Palette>| {
        let uploader = Uploader::new(Store::local(dir.path()).unwrap()).unwrap();
        let report = uploader.store_job(job(engine, "rocket.jpg", palettes));
        assert_eq!(report.status(), RunStatus::Complete);
        report.manifest.variations.into_iter().map(|o| o.key.unwrap()).collect::<Vec<_>>()
    };
    let shift = Engine::builder().build().unwrap();
    let first = run(&shift, palettes());
    let snapshot =
        |keys: &[String]| keys.iter().map(|k| std::fs::read(dir.path().join(k)).unwrap()).collect::<Vec<_>>();
    let bytes = snapshot(&first);
    assert_eq!(run(&shift, palettes()), first, "the same recipe, the same keys");
    assert_eq!(snapshot(&first), bytes, "and the same bytes");

    let mut other_colour = palettes();
    other_colour[3].colors[0].0[0] ^= 1;
    let others = [
        run(&Engine::builder().seed(7).build().unwrap(), palettes()),
        run(&Engine::builder().look(RemapLook::new(false)).build().unwrap(), palettes()),
        run(&Engine::builder().format(OutputFormat::Jpeg { quality: 80 }).build().unwrap(), palettes()),
        run(&shift, other_colour),
    ];
    let mut all: Vec<&String> = first.iter().chain(others.iter().flatten()).collect();
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), count, "no two recipes share a key");
    assert_eq!(snapshot(&first), bytes, "earlier files untouched");
    assert_eq!(files(dir.path()).len(), 5 * 8, "five recipes of seven images and a manifest");
}

#[test]
fn memory_store_keeps_content_types_and_metadata() {
    let memory = Store::from_location("memory://bucket/runs").unwrap();
    let objects = memory.objects().clone();
    let uploader = Uploader::builder(memory).uploads(1).build().unwrap();
    let report = uploader.store_job(job(&Engine::builder().build().unwrap(), "coffee.png", three_palettes()));
    assert!(report.manifest_error.is_none());

    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let get = |key: &str| {
        runtime.block_on(async { objects.get(&format!("bucket/runs/{key}").into()).await.unwrap() })
    };
    let image = get(report.manifest.variations[2].key.as_deref().unwrap());
    assert_eq!(image.attributes.get(&Attribute::ContentType).map(|v| v.as_ref()), Some("image/png"));
    let metadata = |name: &str| {
        image.attributes.get(&Attribute::Metadata(name.to_string().into())).map(|v| v.to_string())
    };
    assert_eq!(METADATA_NAMES, ["palette_name", "palette_description", "palette_colors"]);
    assert_eq!(metadata("palette_name").as_deref(), Some("Deep Ocean"));
    assert_eq!(metadata("palette_colors").as_deref().map(|c| c.starts_with(r##"["#"##)), Some(true));
    let manifest = get(&report.manifest_key);
    assert_eq!(
        manifest.attributes.get(&Attribute::ContentType).map(|v| v.as_ref()),
        Some("application/json")
    );
}

#[test]
fn key_numbers_widen_with_the_palette_count() {
    let engine = Engine::builder().max_side(Some(16)).build().unwrap();
    let many: Vec<Palette> = palettes().into_iter().cycle().take(101).collect();
    let report = Uploader::new(Store::memory()).unwrap().store_job(job(&engine, "coffee.png", many));
    let key = report.manifest.variations[2].key.clone().unwrap();
    assert!(key.ends_with("/002-forest-floor.png"), "{key}");
}

#[test]
fn a_cancelled_job_is_recorded_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let uploader = Uploader::builder(Store::local(dir.path()).unwrap()).uploads(1).build().unwrap();
    let engine = Engine::builder().threads(2).channel_capacity(1).build().unwrap();
    let many: Vec<Palette> = palettes().into_iter().cycle().take(40).collect();
    let job = job(&engine, "retina.jpg", many);
    let canceller = job.canceller().clone();

    /// Cancels the job as soon as two variations are stored.
    struct CancelAfterTwo(variegate_core::Canceller, usize);
    impl variegate_store::Observer for CancelAfterTwo {
        fn finished(&mut self, outcome: &variegate_store::Outcome) {
            self.1 += usize::from(outcome.status == Status::Stored);
            if self.1 == 2 {
                self.0.cancel("test");
            }
        }
    }
    let report = uploader.store_observed(job, &mut CancelAfterTwo(canceller, 0));
    let manifest = &report.manifest;
    assert_eq!(manifest.variations.len(), 40);
    assert_eq!((manifest.status, manifest.interrupted.as_deref()), (RunStatus::Interrupted, Some("test")));
    assert_eq!(manifest.stored + manifest.cancelled, 40, "{manifest:?}");
    assert!(manifest.cancelled >= 30, "{} cancelled", manifest.cancelled);
    for outcome in &manifest.variations {
        let on_disk = outcome.key.as_ref().is_some_and(|key| dir.path().join(key).is_file());
        assert_eq!(on_disk, outcome.status == Status::Stored, "{outcome:?}");
    }
    let stored: Manifest =
        serde_json::from_slice(&std::fs::read(dir.path().join(&report.manifest_key)).unwrap()).unwrap();
    assert_eq!(stored.cancelled, manifest.cancelled);
    assert!(!dir.path().join(".variegate-staging").exists());
}

#[test]
fn a_run_removes_what_a_killed_run_left_half_written() {
    let dir = tempfile::tempdir().unwrap();
    // What a process killed mid-write leaves: its staging folder, with a
    // lock file no process holds and a half-written file.
    let leftover = dir.path().join(".variegate-staging/4242-1-0");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("lock"), b"").unwrap();
    std::fs::write(leftover.join("0.partial"), b"half a png").unwrap();
    let uploader = Uploader::new(Store::local(dir.path()).unwrap()).unwrap();
    let report = uploader.store_job(job(&Engine::builder().build().unwrap(), "coffee.png", palettes()));
    assert_eq!(report.status(), RunStatus::Complete);
    drop(uploader);
    assert!(!dir.path().join(".variegate-staging").exists(), "{:?}", files(dir.path()));
    assert_eq!(files(dir.path()).len(), 8);
}

#[test]
fn bad_locations_and_options() {
    let error = Store::from_location("ftp://example.com/x").unwrap_err();
    assert!(matches!(error, StoreError::UnsupportedScheme { .. }));
    assert_eq!(
        error.to_string(),
        r#"store "ftp://example.com/x": unsupported scheme "ftp" (use a local path, file://, memory://, s3://, gs:// or az://)"#
    );
    assert!(Store::from_location("file://host/not/local").is_err());
    assert!(Uploader::builder(Store::memory()).uploads(0).build().is_err());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let error = Uploader::new(Store::local(&file).unwrap()).unwrap().check().unwrap_err();
    assert_eq!(error.to_string(), format!("store {}: cannot write there: not a folder", file.display()));
    let spill = Uploader::builder(Store::memory()).spill_dir(file.join("spill")).build().unwrap();
    let error = spill.check().unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("spill folder {}/spill: cannot write there: ", file.display())),
        "{error}"
    );
    let _ = fixture("coffee.png");
}

#[test]
fn keep_existing_leaves_stored_objects_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder().build().unwrap();
    for store in [Store::local(dir.path()).unwrap(), Store::memory()] {
        let objects = store.objects().clone();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let first = Uploader::new(store.clone()).unwrap().store_job(job(&engine, "rocket.jpg", palettes()));
        let key = first.manifest.variations[2].key.clone().unwrap();
        // Something else at one key: the keeping uploader must not replace it.
        let path = store.path_of(&key);
        runtime.block_on(objects.put(&path, bytes::Bytes::from_static(b"already here").into())).unwrap();
        let keeping = Uploader::builder(store.clone()).keep_existing(true).build().unwrap();
        let again = keeping.store_job(job(&engine, "rocket.jpg", palettes()));
        assert_eq!(again.status(), RunStatus::Complete, "what is there counts as stored");
        let kept = runtime.block_on(async { objects.get(&path).await.unwrap().bytes().await.unwrap() });
        assert_eq!(&kept[..], b"already here");
        let replacing = Uploader::new(store).unwrap().store_job(job(&engine, "rocket.jpg", palettes()));
        assert_eq!(replacing.status(), RunStatus::Complete);
        let replaced = runtime.block_on(async { objects.get(&path).await.unwrap().bytes().await.unwrap() });
        assert_ne!(&replaced[..], b"already here", "without it, objects are replaced");
    }
    assert!(!dir.path().join(".variegate-staging").exists());
}
