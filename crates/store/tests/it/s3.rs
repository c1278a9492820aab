//! Storing real jobs into a real S3-compatible server on 127.0.0.1: objects,
//! content types, metadata read back through presigned links, manifest,
//! stable keys, injected faults, spilling, a store that hangs after a
//! cancellation, and stores that are not there.

use variegate_test_support::jobs;
use variegate_test_support::s3server;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jobs::{Keep, job, named_palettes, noise_2048, palettes};
use s3server::{BUCKET, Fault, FaultProxy, S3Server, config_for, http_get};
use variegate_core::Engine;
use variegate_store::{Failure, RunStatus, Status, Store, StoreError, StoreOptions, StoreReport, Uploader};

fn open(endpoint: &str, options: StoreOptions) -> Store {
    Store::open_with_config(&format!("s3://{BUCKET}/runs"), options, config_for(endpoint)).unwrap()
}

/// Stores a job of the seven palettes on coffee.png, keeping its bytes.
fn store_coffee(uploader: &Uploader) -> (StoreReport, Keep) {
    let mut keep = Keep::default();
    let engine = Engine::builder().build().unwrap();
    let report = uploader.store_observed(job(&engine, "coffee.png", named_palettes()), &mut keep);
    (report, keep)
}

#[test]
fn objects_metadata_links_and_manifest() {
    let server = S3Server::start();
    let uploader =
        Uploader::builder(open(&server.endpoint, StoreOptions::default())).uploads(4).build().unwrap();
    uploader.check().unwrap();
    let (report, keep) = store_coffee(&uploader);
    let errors: Vec<_> = report.manifest.variations.iter().map(|o| &o.error).collect();
    assert_eq!(report.status(), RunStatus::Complete, "{errors:?}");
    assert_eq!(report.manifest.stored, 7);

    for outcome in &report.manifest.variations {
        let key = outcome.key.as_deref().unwrap();
        // Read back independently of object_store: a plain GET of the presigned link.
        let url = outcome.url.as_deref().unwrap();
        assert!(url.contains("X-Amz-Signature="), "{url}");
        let (status, headers, body) = http_get(url);
        assert_eq!(status, 200, "{key}");
        assert_eq!(body, keep.bytes[&outcome.index], "{key}");
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(header("content-type"), Some("image/png"));
        let colours: Vec<String> = outcome.palette.colors.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            header("x-amz-meta-palette_colors"),
            Some(serde_json::to_string(&colours).unwrap().as_str())
        );
        if outcome.index == 6 {
            // Non-ASCII survives as percent-encoded UTF-8.
            assert_eq!(header("x-amz-meta-palette_name"), Some("Caf%C3%A9 Cr%C3%A8me"));
            assert_eq!(
                header("x-amz-meta-palette_description"),
                Some("Caf%C3%A9 Cr%C3%A8me, %C3%A0 la carte")
            );
        } else {
            assert_eq!(header("x-amz-meta-palette_name"), Some(outcome.palette.name.as_str()));
        }
    }
    let folder = &report.manifest.folder;
    assert_eq!(
        report.manifest.variations[6].key.as_deref(),
        Some(format!("{folder}/06-caf-cr-me.png").as_str())
    );
    let manifest = server.root.path().join(BUCKET).join("runs").join(&report.manifest_key);
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    assert_eq!(manifest["stored"], 7);
    assert_eq!(manifest["store"], format!("s3://{BUCKET}/runs"));
    assert_eq!(manifest["recipe"]["look"], "shift");
    let (status, _, _) = http_get(report.manifest_url.as_deref().unwrap());
    assert_eq!(status, 200, "the manifest's link works");

    // The same job again writes the same keys, and the same bytes.
    let (again, _) = store_coffee(&uploader);
    let keys = |r: &StoreReport| r.manifest.variations.iter().map(|o| o.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&report), keys(&again));
    let stored =
        std::fs::read_dir(server.root.path().join(BUCKET).join("runs").join(folder)).unwrap().count();
    assert_eq!(stored, 8, "seven images and the manifest");
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
    let uploader =
        Uploader::builder(open(&proxy.endpoint, options)).uploads(4).spill_dir(spill.path()).build().unwrap();
    let (report, _) = store_coffee(&uploader);
    let injected = proxy.injected.load(Ordering::SeqCst);
    eprintln!(
        "faults injected: {injected}, PUTs seen: {}, stored: {}",
        proxy.puts.load(Ordering::SeqCst),
        report.manifest.stored
    );
    assert!(injected >= 3, "faults were injected: {injected}");
    let errors: Vec<_> = report.manifest.variations.iter().map(|o| &o.error).collect();
    assert_eq!(report.status(), RunStatus::Complete, "{errors:?}");
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
    let uploader =
        Uploader::builder(open(&proxy.endpoint, options)).uploads(1).spill_dir(spill.path()).build().unwrap();
    let (report, keep) = store_coffee(&uploader);
    let manifest = &report.manifest;
    eprintln!(
        "faults injected: {}, stored: {}, spilled: {}",
        proxy.injected.load(Ordering::SeqCst),
        manifest.stored,
        manifest.spilled
    );
    assert_eq!((manifest.stored, manifest.spilled, manifest.failed), (3, 4, 0));
    assert_eq!(report.status(), RunStatus::Partial);
    let spilled: Vec<_> = manifest.variations.iter().filter(|o| o.status == Status::Spilled).collect();
    assert_eq!(spilled.len(), 4);
    for outcome in spilled {
        let path = outcome.spill_path.as_deref().unwrap();
        assert_eq!(
            std::fs::read(path).unwrap(),
            keep.bytes[&outcome.index],
            "spilled bytes are the variation"
        );
        assert!(path.ends_with(outcome.key.as_deref().unwrap()), "{}", path.display());
        let error = outcome.error.as_ref().unwrap().to_string();
        assert!(error.contains("503"), "{error}");
    }
    // The manifest could not be stored either: it is spilled too.
    assert!(matches!(report.manifest_error, Some(Failure::Store { .. })), "{:?}", report.manifest_error);
    assert_eq!(
        report.manifest_spill_path.as_deref(),
        Some(spill.path().join(&report.manifest_key).as_path())
    );
    assert!(!spill.path().join(".variegate-staging").exists());
}

#[test]
fn after_a_cancellation_a_hung_store_gets_only_the_grace_period() {
    let server = S3Server::start();
    // The first two PUTs go through; every later one hangs.
    let proxy =
        FaultProxy::start(&server.endpoint, Arc::new(|n| if n < 2 { Fault::Pass } else { Fault::Hang }));
    let spill = tempfile::tempdir().unwrap();
    let uploader = Uploader::builder(open(&proxy.endpoint, StoreOptions::default()))
        .uploads(2)
        .spill_dir(spill.path())
        .grace(Duration::from_secs(1))
        .build()
        .unwrap();
    let engine = Engine::builder().build().unwrap();
    let job = job(&engine, "coffee.png", palettes());
    let canceller = job.canceller().clone();

    /// Cancels once two variations are stored; the store hangs from then on.
    struct CancelAfterTwo(variegate_core::Canceller, usize, Option<Instant>);
    impl variegate_store::Observer for CancelAfterTwo {
        fn finished(&mut self, outcome: &variegate_store::Outcome) {
            self.1 += usize::from(outcome.status == Status::Stored);
            if self.1 == 2 && self.0.cancel("SIGTERM") {
                self.2 = Some(Instant::now());
            }
        }
    }
    let mut observer = CancelAfterTwo(canceller, 0, None);
    let report = uploader.store_observed(job, &mut observer);
    let took = observer.2.unwrap().elapsed();
    let manifest = &report.manifest;
    assert_eq!(
        (manifest.status, manifest.stored, manifest.stored + manifest.spilled + manifest.cancelled),
        (RunStatus::Interrupted, 2, 7)
    );
    // One grace period for the puts and the manifest's put together; not the store's 120 s deadline.
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Puts under way were abandoned, their bytes kept in the spill folder.
    let abandoned: Vec<_> = manifest
        .variations
        .iter()
        .filter(|o| {
            o.error.as_ref().is_some_and(|e| e.to_string().contains("not stored within the 1 s grace"))
        })
        .collect();
    assert!(!abandoned.is_empty(), "puts under way were abandoned: {:?}", manifest.variations);
    for outcome in abandoned {
        assert_eq!(outcome.status, Status::Spilled);
        assert!(std::fs::read(outcome.spill_path.as_ref().unwrap()).unwrap().starts_with(b"\x89PNG"));
    }
    let spilled: variegate_store::Manifest =
        serde_json::from_slice(&std::fs::read(report.manifest_spill_path.as_deref().unwrap()).unwrap())
            .unwrap();
    assert_eq!(spilled.cancelled, manifest.cancelled, "the record was kept locally");
}

fn check_fails(store: Store) -> (String, Duration) {
    let started = Instant::now();
    let error = Uploader::new(store).unwrap().check().unwrap_err();
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
    let uploader =
        Uploader::builder(open(&server.endpoint, StoreOptions::default())).uploads(2).build().unwrap();
    let image = noise_2048();
    let engine = Engine::builder().build().unwrap();
    let mut keep = Keep::default();
    let job = engine.start(image, palettes()[..1].to_vec()).unwrap();
    let report = uploader.store_observed(job, &mut keep);
    assert_eq!(report.status(), RunStatus::Complete, "{:?}", report.manifest.variations[0].error);
    let size = keep.bytes[&0].len();
    assert!(size > 8 << 20, "{size} bytes");
    let (status, headers, body) = http_get(report.manifest.variations[0].url.as_deref().unwrap());
    assert_eq!(status, 200);
    assert!(body == keep.bytes[&0], "the parts were put back together");
    // S3 marks objects made from parts with an ETag ending in -<parts>.
    let etag = headers.iter().find(|(k, _)| k == "etag").map(|(_, v)| v.as_str()).unwrap_or_default();
    assert!(etag.trim_matches('"').ends_with(&format!("-{}", size.div_ceil(8 << 20))), "ETag {etag}");
}
