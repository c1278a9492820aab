//! Storing real files into real stores: a local folder and memory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use object_store::{Attribute, ObjectStoreExt};
use variegate_uploader::{
    EncodedFile, Manifest, PaletteInfo, SourceInfo, Status, Store, StoreError, Upload, Uploader,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)
}

fn source() -> SourceInfo {
    SourceInfo {
        path: "testdata/coffee.png".into(),
        stem: "coffee".into(),
        sha256: "8f3a9c1d00000000000000000000000000000000000000000000000000000000".into(),
        width: 600,
        height: 400,
        format: "png".into(),
    }
}

/// Three uploads: two real PNG files and one variation that failed upstream.
fn uploads() -> Vec<Upload> {
    let png = |name: &str| EncodedFile {
        bytes: Bytes::from(std::fs::read(fixture(name)).unwrap()),
        content_type: "image/png".into(),
        extension: "png".into(),
    };
    let palette = |name: &str| PaletteInfo {
        name: name.into(),
        colors: vec!["#2B1B3D".into(), "#F0544F".into()],
        description: Some(format!("{name} tones")),
    };
    vec![
        Upload {
            index: 0,
            palette: palette("Sunset Coral"),
            file: Ok(png("reference/coffee/00.png")),
            thumbnail: None,
            timings_ms: BTreeMap::from([("encode".into(), 12.5)]),
        },
        Upload {
            index: 1,
            palette: palette("Nothing"),
            file: Err("palette \"Nothing\" has no colours".into()),
            thumbnail: None,
            timings_ms: BTreeMap::new(),
        },
        Upload {
            index: 2,
            palette: palette("Forest Floor"),
            file: Ok(png("reference/coffee/02.png")),
            thumbnail: Some(png("logo.png")),
            timings_ms: BTreeMap::new(),
        },
    ]
}

#[test]
fn local_folder_gets_files_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("variations/nested");
    let uploader = Uploader::new(Store::from_location(out.to_str().unwrap()).unwrap(), 2).unwrap();
    let report = store(&uploader, 3);

    assert!(report.manifest_error.is_none(), "{:?}", report.manifest_error);
    assert_eq!((report.manifest.stored, report.manifest.failed), (2, 1));
    assert!(!report.all_stored());
    let folder = out.join("coffee-8f3a9c1d");
    let first = std::fs::read(folder.join("00-sunset-coral.png")).unwrap();
    assert_eq!(first, std::fs::read(fixture("reference/coffee/00.png")).unwrap());
    assert!(folder.join("02-forest-floor.png").is_file());
    assert!(folder.join("thumbs/02-forest-floor.png").is_file());
    let files: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 4, "two images, thumbs/ and the manifest, no temporary files: {files:?}");

    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest, report.manifest);
    let v = &manifest.variations;
    assert_eq!(v.iter().map(|o| o.index).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(v[0].key.as_deref(), Some("coffee-8f3a9c1d/00-sunset-coral.png"));
    let url = format!("file://{}/coffee-8f3a9c1d/00-sunset-coral.png", out.display());
    assert_eq!(v[0].url.as_deref(), Some(url.as_str()));
    assert_eq!(v[2].thumbnail.as_deref(), Some("coffee-8f3a9c1d/thumbs/02-forest-floor.png"));
    assert_eq!(v[0].bytes, first.len() as u64);
    assert_eq!(v[0].status, Status::Stored);
    assert_eq!(v[0].description.as_deref(), Some("Sunset Coral tones"));
    assert_eq!(v[0].timings_ms["encode"], 12.5);
    assert!(v[0].timings_ms.contains_key("store"));
    assert_eq!(v[1].status, Status::Failed);
    assert_eq!(v[1].key, None);
    assert_eq!(v[1].error.as_deref(), Some("palette \"Nothing\" has no colours"));
    assert_eq!(manifest.store, format!("file://{}/", out.display()));
}

#[test]
fn same_job_same_keys() {
    let dir = tempfile::tempdir().unwrap();
    let keys = || {
        let uploader = Uploader::new(Store::local(dir.path()).unwrap(), 8).unwrap();
        let report = store(&uploader, 3);
        report.manifest.variations.into_iter().map(|o| o.key).collect::<Vec<_>>()
    };
    let first = keys();
    assert_eq!(first, keys());
    let count = walk(dir.path());
    assert_eq!(count, 4, "the second run overwrote the first");
}

/// Stores the uploads and the manifest, counting the progress callbacks.
fn store(uploader: &Uploader, total: usize) -> variegate_uploader::StoreReport {
    let mut seen = 0;
    let mut report = uploader.store_all(&source(), total, uploads(), |_| seen += 1);
    assert_eq!(seen, 3, "one progress call per variation");
    uploader.write_manifest(&mut report);
    report
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { walk(&p) } else { 1 })
        .sum()
}

#[test]
fn memory_store_keeps_content_types() {
    let memory = Store::from_location("memory://bucket/runs").unwrap();
    let objects = memory.objects().clone();
    let uploader = Uploader::new(memory, 1).unwrap();
    let report = store(&uploader, 3);
    assert!(report.manifest_error.is_none());

    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let get = |key: &str| runtime.block_on(async { objects.get(&key.into()).await.unwrap() });
    let image = get("bucket/runs/coffee-8f3a9c1d/02-forest-floor.png");
    assert_eq!(image.attributes.get(&Attribute::ContentType).map(|v| v.as_ref()), Some("image/png"));
    let bytes = runtime.block_on(image.bytes()).unwrap();
    assert_eq!(bytes, std::fs::read(fixture("reference/coffee/02.png")).unwrap());
    let manifest = get("bucket/runs/coffee-8f3a9c1d/manifest.json");
    assert_eq!(
        manifest.attributes.get(&Attribute::ContentType).map(|v| v.as_ref()),
        Some("application/json")
    );
}

#[test]
fn key_numbers_widen_with_the_palette_count() {
    let uploader = Uploader::new(Store::memory(), 4).unwrap();
    let report = store(&uploader, 150);
    assert_eq!(report.manifest.variations[2].key.as_deref(), Some("coffee-8f3a9c1d/002-forest-floor.png"));
}

#[test]
fn bad_locations() {
    let error = Store::from_location("ftp://example.com/x").unwrap_err();
    assert!(matches!(error, StoreError::UnsupportedScheme { .. }));
    assert_eq!(
        error.to_string(),
        r#"store "ftp://example.com/x": unsupported scheme "ftp" (use a local path, file://, memory://, s3://, gs:// or az://)"#
    );
    assert!(Store::from_location("file://host/not/local").is_err());
    assert!(Uploader::new(Store::memory(), 0).is_err());
}
