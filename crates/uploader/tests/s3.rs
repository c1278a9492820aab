//! Storing into a real S3-compatible server on 127.0.0.1: objects, content
//! types, metadata read back through presigned links, manifest, stable keys,
//! injected faults, spilling, and stores that are not there.

mod s3server;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use s3server::{BUCKET, Fault, FaultProxy, S3Server, config_for, http_get};
use variegate_uploader::{
    EncodedFile, PaletteInfo, SourceInfo, Status, Store, StoreError, StoreOptions, StoreReport, Upload,
    Uploader,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)
}

fn source() -> SourceInfo {
    SourceInfo {
        path: "coffee.png".into(),
        stem: "coffee".into(),
        sha256: "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7".into(),
        width: 600,
        height: 400,
        format: "png".into(),
    }
}

/// The seven reference images of coffee.png, as seven variations.
fn uploads() -> Vec<Upload> {
    let names = [
        "Sunset Coral",
        "Deep Ocean",
        "Forest Floor",
        "Neon Arcade",
        "Desert Clay",
        "Mono Slate",
        "Café Crème",
    ];
    names
        .iter()
        .enumerate()
        .map(|(index, name)| Upload {
            index,
            palette: PaletteInfo {
                name: name.to_string(),
                colors: vec!["#2B1B3D".into(), "#FDE8C9".into()],
                description: Some(format!("{name}, à la carte")),
            },
            file: Ok(EncodedFile {
                bytes: Bytes::from(
                    std::fs::read(fixture(&format!("reference/coffee/{index:02}.png"))).unwrap(),
                ),
                content_type: "image/png".into(),
                extension: "png".into(),
            }),
            thumbnail: None,
            timings_ms: BTreeMap::new(),
        })
        .collect()
}

fn open(endpoint: &str, options: StoreOptions) -> Store {
    Store::open_with_config(&format!("s3://{BUCKET}/runs"), options, config_for(endpoint)).unwrap()
}

fn store_all(uploader: &Uploader) -> StoreReport {
    let mut report = uploader.store_all(&source(), 7, uploads(), |_| {});
    uploader.write_manifest(&mut report);
    report
}

#[test]
fn objects_metadata_links_and_manifest() {
    let server = S3Server::start();
    let uploader = Uploader::new(open(&server.endpoint, StoreOptions::default()), 4).unwrap();
    uploader.check().unwrap();
    let report = store_all(&uploader);
    assert!(
        report.all_stored(),
        "{:?}",
        report.manifest.variations.iter().map(|o| &o.error).collect::<Vec<_>>()
    );
    assert_eq!(report.manifest.stored, 7);

    for outcome in &report.manifest.variations {
        let key = outcome.key.as_deref().unwrap();
        // Read back independently of object_store: a plain GET of the presigned link.
        let url = outcome.url.as_deref().unwrap();
        assert!(url.contains("X-Amz-Signature="), "{url}");
        let (status, headers, body) = http_get(url);
        assert_eq!(status, 200, "{key}");
        let expected = std::fs::read(fixture(&format!("reference/coffee/{:02}.png", outcome.index))).unwrap();
        assert_eq!(body, expected, "{key}");
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(header("content-type"), Some("image/png"));
        assert_eq!(header("x-amz-meta-palette-colors"), Some(r##"["#2B1B3D","#FDE8C9"]"##));
        if outcome.index == 6 {
            // Non-ASCII survives as percent-encoded UTF-8.
            assert_eq!(header("x-amz-meta-palette-name"), Some("Caf%C3%A9 Cr%C3%A8me"));
            assert_eq!(
                header("x-amz-meta-palette-description"),
                Some("Caf%C3%A9 Cr%C3%A8me, %C3%A0 la carte")
            );
        } else {
            assert_eq!(header("x-amz-meta-palette-name"), Some(outcome.name.as_str()));
        }
    }
    assert_eq!(report.manifest.variations[6].key.as_deref(), Some("coffee-cc02f8ca/06-caf-cr-me.png"));
    let manifest = server.root.path().join(BUCKET).join("runs/coffee-cc02f8ca/manifest.json");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    assert_eq!(manifest["stored"], 7);
    assert_eq!(manifest["store"], format!("s3://{BUCKET}/runs"));

    // The same job again writes the same keys.
    let again = store_all(&uploader);
    let keys = |r: &StoreReport| r.manifest.variations.iter().map(|o| o.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&report), keys(&again));
    let stored =
        std::fs::read_dir(server.root.path().join(BUCKET).join("runs/coffee-cc02f8ca")).unwrap().count();
    assert!(stored >= 8, "seven images and the manifest");
}

#[test]
fn transient_faults_are_retried_until_everything_is_stored() {
    let server = S3Server::start();
    // Every third PUT gets a 503, every fifth has its connection dropped.
    let policy: s3server::Policy = Arc::new(|n| match n {
        n if n % 3 == 1 => Fault::Unavailable,
        n if n % 5 == 2 => Fault::Drop,
        _ => Fault::Pass,
    });
    let proxy = FaultProxy::start(&server.endpoint, policy);
    let options = StoreOptions { retries: 5, deadline: Duration::from_secs(30), ..Default::default() };
    let spill = tempfile::tempdir().unwrap();
    let uploader = Uploader::new(open(&proxy.endpoint, options), 4).unwrap().with_spill_dir(spill.path());
    let report = store_all(&uploader);
    let injected = proxy.injected.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "faults injected: {injected}, PUTs seen: {}, stored: {}",
        proxy.puts.load(std::sync::atomic::Ordering::SeqCst),
        report.manifest.stored
    );
    assert!(injected >= 3, "faults were injected: {injected}");
    assert!(
        report.all_stored(),
        "{:?}",
        report.manifest.variations.iter().map(|o| &o.error).collect::<Vec<_>>()
    );
    assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0, "nothing spilled");
}

#[test]
fn a_store_that_breaks_mid_run_spills_what_it_could_not_take() {
    let server = S3Server::start();
    // The first three PUTs go through; then every PUT fails.
    let proxy = FaultProxy::start(
        &server.endpoint,
        Arc::new(|n| if n < 3 { Fault::Pass } else { Fault::Unavailable }),
    );
    let options = StoreOptions { retries: 2, deadline: Duration::from_secs(5), ..Default::default() };
    let spill = tempfile::tempdir().unwrap();
    let uploader = Uploader::new(open(&proxy.endpoint, options), 1).unwrap().with_spill_dir(spill.path());
    let report = store_all(&uploader);
    let manifest = &report.manifest;
    eprintln!(
        "faults injected: {}, stored: {}, spilled: {}",
        proxy.injected.load(std::sync::atomic::Ordering::SeqCst),
        manifest.stored,
        manifest.spilled
    );
    assert_eq!((manifest.stored, manifest.spilled, manifest.failed), (3, 4, 4));
    for outcome in &manifest.variations[3..] {
        assert_eq!(outcome.status, Status::Spilled);
        let path = outcome.spill_path.as_deref().unwrap();
        let expected = std::fs::read(fixture(&format!("reference/coffee/{:02}.png", outcome.index))).unwrap();
        assert_eq!(std::fs::read(path).unwrap(), expected, "spilled bytes are the variation");
        assert!(outcome.error.as_deref().unwrap().contains("503"), "{:?}", outcome.error);
    }
    // The manifest could not be stored either: it is spilled too.
    let error = report.manifest_error.as_deref().unwrap();
    assert!(error.contains("saved to"), "{error}");
    assert!(spill.path().join("coffee-cc02f8ca/manifest.json").is_file());
}

fn check_fails(store: Store) -> (String, Duration) {
    let started = Instant::now();
    let error = Uploader::new(store, 1).unwrap().check().unwrap_err();
    assert!(matches!(error, StoreError::Unreachable { .. }), "{error:?}");
    (error.to_string(), started.elapsed())
}

#[test]
fn unusable_stores_fail_the_check_fast() {
    let server = S3Server::start();
    // Nothing listens on a port we bound and released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (error, took) = check_fails(open(&format!("http://{closed}"), StoreOptions::default()));
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(error.starts_with(&format!("store \"s3://{BUCKET}/runs\" does not answer: ")), "{error}");

    let missing_bucket = Store::open_with_config(
        "s3://no-such-bucket/x",
        StoreOptions::default(),
        config_for(&server.endpoint),
    )
    .unwrap();
    let (error, took) = check_fails(missing_bucket);
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(error.contains("no-such-bucket") || error.contains("NoSuchBucket"), "{error}");

    let mut wrong = config_for(&server.endpoint);
    wrong[2].1 = "not-the-secret".into();
    let (error, _) = check_fails(
        Store::open_with_config(&format!("s3://{BUCKET}"), StoreOptions::default(), wrong).unwrap(),
    );
    assert!(error.contains("403") || error.contains("Signature"), "{error}");
}

#[test]
fn unknown_schemes_and_bad_urls_are_refused() {
    let error = Store::from_location("ftp://example.com/x").unwrap_err();
    assert!(matches!(error, StoreError::UnsupportedScheme { .. }), "{error}");
    assert!(Store::from_location("s3://").is_err());
}

#[test]
fn large_objects_go_up_in_parts() {
    let server = S3Server::start();
    let uploader = Uploader::new(open(&server.endpoint, StoreOptions::default()), 2).unwrap();
    // 20 MiB that do not compress: three parts of at most 8 MiB.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let large: Vec<u8> = (0..20 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut upload = uploads().remove(0);
    upload.file = Ok(EncodedFile {
        bytes: Bytes::from(large.clone()),
        content_type: "image/png".into(),
        extension: "png".into(),
    });
    let report = uploader.store_all(&source(), 1, [upload], |_| {});
    assert!(report.all_stored(), "{:?}", report.manifest.variations[0].error);
    let (status, headers, body) = http_get(report.manifest.variations[0].url.as_deref().unwrap());
    assert_eq!(status, 200);
    assert!(body == large, "the parts were put back together");
    // S3 marks objects made from parts with an ETag ending in -<parts>.
    let etag = headers.iter().find(|(k, _)| k == "etag").map(|(_, v)| v.as_str()).unwrap_or_default();
    assert!(etag.trim_matches('"').ends_with("-3"), "ETag {etag}");
}
