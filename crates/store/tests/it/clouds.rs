//! Azure and Google Cloud Storage for real: real jobs stored into Azurite
//! and fake-gcs-server on 127.0.0.1 (see `emulators`), every object read
//! back through its link by a plain HTTP client, stores that are not there
//! or refuse the key failing the check, and injected faults retried.

use variegate_test_support::emulators;
use variegate_test_support::jobs;
use variegate_test_support::s3server;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use emulators::{AZURE_KEY, Azurite, BUCKET, FakeGcs};
use jobs::{Keep, job, named_palettes, noise_2048, palettes};
use s3server::{Fault, FaultProxy, Policy, http_get};
use variegate_core::Engine;
use variegate_store::{RunStatus, Store, StoreError, StoreOptions, Uploader};

/// Stores coffee.png's seven variations, then reads each object back
/// through its link with a plain HTTP client: bytes, content type, and the
/// metadata under `meta` (`x-ms-meta-`, `x-goog-meta-`).
fn stored_objects_read_back_through_their_links(store: Store, meta: &str, signed: &str) {
    let uploader = Uploader::builder(store).uploads(4).build().unwrap();
    uploader.check().unwrap();
    let mut keep = Keep::default();
    let engine = Engine::builder().build().unwrap();
    let report = uploader.store_observed(job(&engine, "coffee.png", named_palettes()), &mut keep);
    let errors: Vec<_> = report.manifest.variations.iter().map(|o| &o.error).collect();
    assert_eq!(report.status(), RunStatus::Complete, "{errors:?}");

    for outcome in &report.manifest.variations {
        let url = outcome.url.as_deref().unwrap();
        assert!(url.contains(signed), "a signed link: {url}");
        let (status, headers, body) = http_get(url);
        assert_eq!(status, 200, "{url}");
        assert!(body == keep.bytes[&outcome.index], "{}: the stored bytes", outcome.palette.name);
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(header("content-type"), Some("image/png"));
        let colours: Vec<String> = outcome.palette.colors.iter().map(|c| c.to_string()).collect();
        let colours = serde_json::to_string(&colours).unwrap();
        assert_eq!(header(&format!("{meta}palette_colors")), Some(colours.as_str()));
        let (name, description) = match outcome.index {
            6 => ("Caf%C3%A9 Cr%C3%A8me", "Caf%C3%A9 Cr%C3%A8me, %C3%A0 la carte".to_string()),
            _ => (outcome.palette.name.as_str(), format!("{}, %C3%A0 la carte", outcome.palette.name)),
        };
        assert_eq!(header(&format!("{meta}palette_name")), Some(name));
        assert_eq!(header(&format!("{meta}palette_description")), Some(description.as_str()));
    }
    let (status, _, body) = http_get(report.manifest_url.as_deref().unwrap());
    assert_eq!(status, 200);
    let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(manifest, serde_json::to_value(&report.manifest).unwrap());
}

/// The check fails within seconds, saying the store does not answer.
fn check_fails(store: Store, expected: &[&str]) {
    let started = Instant::now();
    let error = Uploader::new(store).unwrap().check().unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(matches!(error, StoreError::Unreachable { .. }), "{error:?}");
    let text = error.to_string();
    assert!(expected.iter().any(|e| text.contains(e)), "{text}");
}

/// Every third PUT answered 503 and every fifth connection dropped: all
/// seven still stored.
fn faults() -> Policy {
    Arc::new(|n| match n {
        n if n % 3 == 1 => Fault::Unavailable,
        n if n % 5 == 2 => Fault::Drop,
        _ => Fault::Pass,
    })
}

fn retried_until_stored(store: Store, proxy: &FaultProxy) {
    let uploader = Uploader::builder(store).uploads(4).build().unwrap();
    let report = uploader.store_job(job(&Engine::builder().build().unwrap(), "rocket.jpg", palettes()));
    let injected = proxy.injected.load(Ordering::SeqCst);
    eprintln!("faults injected: {injected}, PUTs seen: {}", proxy.puts.load(Ordering::SeqCst));
    assert!(injected >= 3, "{injected}");
    let errors: Vec<_> = report.manifest.variations.iter().map(|o| &o.error).collect();
    assert_eq!(report.status(), RunStatus::Complete, "{errors:?}");
}

fn options() -> StoreOptions {
    StoreOptions { retries: 5, deadline: Duration::from_secs(30), ..Default::default() }
}

fn azure(endpoint: &str, container: &str, key: &str) -> Store {
    Store::open_with_config(&format!("az://{container}/runs"), options(), Azurite::config(endpoint, key))
        .unwrap()
}

#[test]
fn azure_objects_metadata_and_sas_links() {
    let Some(azurite) = Azurite::start() else { return };
    stored_objects_read_back_through_their_links(
        azure(&azurite.endpoint, BUCKET, AZURE_KEY),
        "x-ms-meta-",
        "sig=",
    );
}

#[test]
fn azure_missing_container_and_wrong_key_fail_the_check() {
    let Some(azurite) = Azurite::start() else { return };
    check_fails(azure(&azurite.endpoint, "no-such-container", AZURE_KEY), &["404", "ContainerNotFound"]);
    let wrong = "d3JvbmcgYnV0IHdlbGwgZm9ybWVkIGtleSBvZiBzaXh0eSBmb3VyIGJ5dGVzIGxvbmcgZm9yIHRlc3Rpbmc=";
    check_fails(
        azure(&azurite.endpoint, BUCKET, wrong),
        &["403", "AuthorizationFailure", "AuthenticationFailed"],
    );
}

#[test]
fn azure_transient_faults_are_retried() {
    let Some(azurite) = Azurite::start() else { return };
    let base = azurite.endpoint.trim_end_matches(&format!("/{}", emulators::AZURE_ACCOUNT));
    let proxy = FaultProxy::start(base, faults());
    let endpoint = format!("{}/{}", proxy.endpoint, emulators::AZURE_ACCOUNT);
    retried_until_stored(azure(&endpoint, BUCKET, AZURE_KEY), &proxy);
}

#[test]
fn azure_large_objects_go_up_in_blocks() {
    let Some(azurite) = Azurite::start() else { return };
    let uploader = Uploader::new(azure(&azurite.endpoint, BUCKET, AZURE_KEY)).unwrap();
    let image = noise_2048();
    let mut keep = Keep::default();
    let job = Engine::builder().build().unwrap().start(image, palettes()[..1].to_vec()).unwrap();
    let report = uploader.store_observed(job, &mut keep);
    assert_eq!(report.status(), RunStatus::Complete, "{:?}", report.manifest.variations[0].error);
    assert!(keep.bytes[&0].len() > 8 << 20);
    let (status, _, body) = http_get(report.manifest.variations[0].url.as_deref().unwrap());
    assert_eq!(status, 200);
    assert!(body == keep.bytes[&0], "the blocks were put back together");
}

fn gcs(fake: &FakeGcs, bucket: &str) -> Store {
    Store::open_with_config(&format!("gs://{bucket}/runs"), options(), fake.config()).unwrap()
}

#[test]
fn gcs_objects_metadata_and_signed_links() {
    let Some(fake) = FakeGcs::start() else { return };
    stored_objects_read_back_through_their_links(gcs(&fake, BUCKET), "x-goog-meta-", "X-Goog-Signature=");
}

#[test]
fn gcs_missing_bucket_fails_the_check() {
    let Some(fake) = FakeGcs::start() else { return };
    // Real GCS answers 404 NoSuchBucket; fake-gcs-server says so with a 500.
    check_fails(gcs(&fake, "no-such-bucket"), &["404", "NoSuchBucket", "no bucket named no-such-bucket"]);
}

#[test]
fn gcs_transient_faults_are_retried() {
    let Some(fake) = FakeGcs::start_with(faults()) else { return };
    retried_until_stored(gcs(&fake, BUCKET), &fake.proxy);
}
