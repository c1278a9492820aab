//! Where variations go: an `object_store` behind a URL, plus the key prefix
//! every run folder goes under.
//!
//! Local folders are written by [`crate::local`] (staged where nothing else
//! looks, never left half-written) and read through `object_store`; memory
//! is `object_store`'s; `s3://`, `gs://` and `az://` (`abfs://`) go through
//! `object_store`'s builders, configured from the usual environment
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`,
//! `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, ...), with the
//! retry policy of [`StoreOptions`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::azure::{MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, BackoffConfig, MultipartUpload, ObjectStore, PutMode, PutMultipartOptions,
    PutOptions, PutPayload, RetryConfig,
};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use url::Url;
use variegate_core::one_line;

use crate::error::{ObjectError, StoreError};
use crate::local::{LocalDir, probe};

/// How cloud stores retry, time out and sign links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Retries of a request that failed transiently (5xx, throttling,
    /// dropped connections, timeouts), with exponential backoff and jitter.
    /// Default 5.
    pub retries: usize,
    /// No retry starts after this long since the first attempt of a
    /// request. Default 120 s.
    pub deadline: Duration,
    /// How long a presigned link stays valid. Default 3600 s; whole
    /// seconds in [`StoreOptions::URL_TTL_SECONDS`].
    pub url_ttl: Duration,
}

impl StoreOptions {
    /// The lives a presigned link may have, in seconds: S3 signs for 7 days
    /// at most, and a link must last a second. The command line's and
    /// Python's range.
    pub const URL_TTL_SECONDS: std::ops::RangeInclusive<u64> = 1..=604_800;
    /// The shortest deadline, in seconds: the command line's and Python's.
    pub const MIN_DEADLINE_SECONDS: u64 = 1;
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { retries: 5, deadline: Duration::from_secs(120), url_ttl: Duration::from_secs(3600) }
    }
}

/// An object store and the prefix under which runs are stored.
#[derive(Clone, Debug)]
pub struct Store {
    objects: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    kind: Kind,
    url_ttl: Duration,
}

#[derive(Clone, Debug)]
enum Kind {
    Local(Arc<LocalDir>),
    Memory,
    S3(Arc<AmazonS3>),
    Gcs(Arc<GoogleCloudStorage>),
    Azure(Arc<MicrosoftAzure>),
}

impl Store {
    /// Opens a store from a URL or a local path with default options. See
    /// [`Store::open`].
    pub fn from_location(location: &str) -> Result<Store, StoreError> {
        Store::open(location, StoreOptions::default())
    }

    /// Opens a store from a URL or a local path: `./variations`, `/abs/dir`,
    /// `file:///abs/dir`, `memory://[prefix]`, `s3://bucket/prefix`,
    /// `gs://bucket/prefix`, `az://container/prefix` (or `abfs://`).
    /// Nothing is contacted, created or written: see [`Store::check`].
    pub fn open(location: &str, options: StoreOptions) -> Result<Store, StoreError> {
        Store::open_with_config(location, options, std::iter::empty::<(&str, &str)>())
    }

    /// [`Store::open`], with `object_store` configuration keys applied over
    /// the environment's, e.g. `("aws_endpoint", "http://127.0.0.1:9000")`.
    pub fn open_with_config<K: AsRef<str>, V: Into<String>>(
        location: &str,
        options: StoreOptions,
        config: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Store, StoreError> {
        let config: Vec<(String, String)> =
            config.into_iter().map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.into())).collect();
        let invalid = |reason: String| StoreError::Invalid { location: location.into(), reason };
        if !location.contains("://") {
            return Store::local(location).map_err(|e| invalid(e.to_string()));
        }
        let url = Url::parse(location).map_err(|e| invalid(e.to_string()))?;
        let prefix = || Path::parse(url.path().trim_matches('/')).map_err(|e| invalid(e.to_string()));
        let store = |objects: Arc<dyn ObjectStore>, kind, prefix| Store {
            objects,
            prefix,
            url: location.to_string(),
            kind,
            url_ttl: options.url_ttl,
        };
        // A variable read beside the prefixed ones, checked as they are.
        let checked_variable = |name: &str| -> Result<Option<String>, StoreError> {
            let value = variable(name);
            if let Some(value) = &value {
                check_setting(name, value)
                    .map_err(|reason| invalid(format!("environment variable {name} {reason}")))?;
            }
            Ok(value)
        };
        macro_rules! cloud {
            ($builder:ty, $prefix:literal, $extras:expr) => {{
                // As the builder's own `from_env`, but a variable set to
                // nothing counts as unset, as schedulers and shells write it
                // (`AWS_ALLOW_HTTP=` does not parse as a boolean).
                let mut builder: $builder = $extras(<$builder>::default())?;
                for (name, value) in environment($prefix) {
                    if let Ok(key) = name.to_ascii_lowercase().parse() {
                        check_setting(&name, &value)
                            .map_err(|reason| invalid(format!("environment variable {name} {reason}")))?;
                        builder = builder.with_config(key, value);
                    }
                }
                let mut builder = builder.with_url(location);
                for (name, value) in &config {
                    let key = name.parse().map_err(|e: object_store::Error| invalid(e.to_string()))?;
                    check_setting(name, value)
                        .map_err(|reason| invalid(format!("storage option {name} {reason}")))?;
                    builder = builder.with_config(key, value);
                }
                builder.with_retry(retry(options)).build().map_err(|e| invalid(e.to_string()))
            }};
        }
        match url.scheme() {
            "file" => {
                let dir = url.to_file_path().map_err(|()| invalid("not a local file path".into()))?;
                Store::local(dir).map_err(|e| invalid(e.to_string()))
            }
            "memory" => {
                let prefix = format!("{}{}", url.host_str().unwrap_or(""), url.path());
                let prefix = Path::parse(prefix.trim_matches('/')).map_err(|e| invalid(e.to_string()))?;
                Ok(Store { prefix, url: location.into(), ..Store::memory() })
            }
            // The three cloud builders share no trait, but the same steps:
            // environment, URL, the caller's configuration, our retry policy.
            "s3" | "s3a" => {
                let s3 = Arc::new(cloud!(AmazonS3Builder, "AWS_", Ok::<_, StoreError>)?);
                Ok(store(s3.clone(), Kind::S3(s3), prefix()?))
            }
            "gs" => {
                let gcs = Arc::new(cloud!(
                    GoogleCloudStorageBuilder,
                    "GOOGLE_",
                    |builder: GoogleCloudStorageBuilder| {
                        Ok(match checked_variable("SERVICE_ACCOUNT")? {
                            Some(path) => builder.with_service_account_path(path),
                            None => builder,
                        })
                    }
                )?);
                Ok(store(gcs.clone(), Kind::Gcs(gcs), prefix()?))
            }
            // abfs URLs name the container as user@account: the path is the prefix either way.
            "az" | "abfs" | "abfss" | "azure" => {
                let azure =
                    Arc::new(cloud!(MicrosoftAzureBuilder, "AZURE_", |builder: MicrosoftAzureBuilder| {
                        Ok(match checked_variable("IDENTITY_ENDPOINT")? {
                            Some(endpoint) => builder.with_msi_endpoint(endpoint),
                            None => builder,
                        })
                    })?);
                Ok(store(azure.clone(), Kind::Azure(azure), prefix()?))
            }
            scheme => Err(StoreError::UnsupportedScheme { location: location.into(), scheme: scheme.into() }),
        }
    }

    /// A folder on the local file system; created, with any parents, when
    /// the first object is stored. Files appear whole or not at all: each is
    /// written under a staging folder of this process's
    /// (`.variegate-staging/`) and renamed into place, and no exit leaves
    /// one half-written in sight (see the crate docs).
    pub fn local(dir: impl AsRef<std::path::Path>) -> Result<Store, object_store::Error> {
        let dir = crate::local::resolve_dots(dir.as_ref()).map_err(|source| {
            object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(source) }
        })?;
        let prefix = Path::from_absolute_path(&dir)?;
        let url =
            Url::from_directory_path(&dir).map(String::from).unwrap_or_else(|()| dir.display().to_string());
        Ok(Store {
            objects: Arc::new(LocalFileSystem::new()),
            prefix,
            url,
            kind: Kind::Local(Arc::new(LocalDir::new(dir))),
            url_ttl: StoreOptions::default().url_ttl,
        })
    }

    /// A store in this process's memory, for tests and dry runs.
    pub fn memory() -> Store {
        Store {
            objects: Arc::new(InMemory::new()),
            prefix: Path::default(),
            url: "memory://".into(),
            kind: Kind::Memory,
            url_ttl: StoreOptions::default().url_ttl,
        }
    }

    /// Checks that the store takes objects before any work is done: a
    /// local folder takes files (a probe file in it, or in its nearest
    /// existing ancestor if it is still to be made; removed again); a cloud
    /// store lists the prefix, which needs the endpoint, the bucket and
    /// valid credentials.
    pub async fn check(&self) -> Result<(), StoreError> {
        match &self.kind {
            Kind::Memory => return Ok(()),
            Kind::Local(dir) => {
                return probe(dir.root(), true).map_err(|error| StoreError::NotWritable {
                    what: "store",
                    path: dir.root().to_path_buf(),
                    reason: error.to_string(),
                });
            }
            Kind::S3(_) | Kind::Gcs(_) | Kind::Azure(_) => {}
        }
        let unreachable = |reason: String| StoreError::Unreachable { location: self.url.clone(), reason };
        tokio::time::timeout(CHECK_TIMEOUT, self.objects.list_with_delimiter(Some(&self.prefix)))
            .await
            .map_err(|_| unreachable(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())))?
            .map(drop)
            .map_err(|e| unreachable(one_line(&e)))
    }

    /// The underlying `object_store`, e.g. to read results back.
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }
    /// Where keys start: every run folder goes under it.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }
    /// The store as the user named it, normalised for local folders (`file:///abs/dir/`).
    pub fn url(&self) -> &str {
        &self.url
    }
    /// Where a key (or a folder of keys) is, for people: the store's URL and
    /// the key, e.g. `s3://bucket/prefix/coffee-cc02f8ca/shift-1f2e3d4c`.
    pub fn location_of(&self, key: &str) -> String {
        match self.url.trim_end_matches('/') {
            // `memory://` has no bucket: its keys follow the `//`.
            root if root.ends_with(':') => format!("{root}//{key}"),
            root => format!("{root}/{key}"),
        }
    }
    /// The folder of a local store; `None` for others.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_dir().map(|dir| dir.root())
    }
    /// The local folder, for a local store.
    pub(crate) fn local_dir(&self) -> Option<&Arc<LocalDir>> {
        match &self.kind {
            Kind::Local(dir) => Some(dir),
            _ => None,
        }
    }

    /// Stores one object: content type and `metadata` as attributes where
    /// the store takes them, in parts when it is large. With
    /// `keep_existing`, an object already at the key is left as it is and
    /// the put counts as done (conditional create, where the store has it).
    /// A local folder takes no attributes; its write runs on a blocking thread.
    pub(crate) async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
        metadata: &[(&'static str, String)],
        keep_existing: bool,
    ) -> Result<(), ObjectError> {
        if let Kind::Local(dir) = &self.kind {
            let (dir, owned_key) = (dir.clone(), key.to_string());
            return match tokio::task::spawn_blocking(move || dir.write(&owned_key, &bytes, keep_existing))
                .await
            {
                Ok(Ok(_path)) => Ok(()),
                Ok(Err(error)) => Err(ObjectError::Local(error.to_string())),
                Err(error) => Err(ObjectError::Task(error.to_string())),
            };
        }
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.to_string().into());
        for (name, value) in metadata {
            attributes.insert(Attribute::Metadata((*name).into()), header_safe(value).into());
        }
        let path = self.path_of(key);
        let failed = ObjectError::from;
        if !matches!(self.kind, Kind::Memory) && bytes.len() > PART_SIZE {
            let options = PutMultipartOptions { attributes, ..Default::default() };
            let mut upload =
                AbortOnDrop(Some(self.objects.put_multipart_opts(&path, options).await.map_err(failed)?));
            let result = upload.send(bytes).await.map_err(failed);
            if result.is_ok() {
                upload.0 = None;
            }
            result
        } else {
            let mode = if keep_existing { PutMode::Create } else { PutMode::Overwrite };
            let options = PutOptions { attributes, mode, ..Default::default() };
            match self.objects.put_opts(&path, PutPayload::from(bytes), options).await {
                Ok(_) => Ok(()),
                Err(object_store::Error::AlreadyExists { .. }) if keep_existing => Ok(()),
                Err(error) => Err(failed(error)),
            }
        }
    }

    /// A link to a stored key: presigned GET URLs for the clouds, valid for
    /// the store's `url_ttl`; `file://` URLs for local folders; `memory:///`.
    pub async fn url_of(&self, key: &str) -> Result<String, ObjectError> {
        let path = self.path_of(key);
        let ttl = self.url_ttl;
        let signed = match &self.kind {
            Kind::Memory => return Ok(format!("memory:///{path}")),
            Kind::Local(dir) => {
                let file = dir.path_of(key);
                return Ok(Url::from_file_path(&file)
                    .map(String::from)
                    .unwrap_or_else(|()| format!("file://{}", file.display())));
            }
            Kind::S3(s3) => s3.signed_url(Method::GET, &path, ttl).await,
            Kind::Gcs(gcs) => gcs.signed_url(Method::GET, &path, ttl).await,
            Kind::Azure(azure) => azure.signed_url(Method::GET, &path, ttl).await,
        };
        signed.map(String::from).map_err(|e| ObjectError::Link { key: key.into(), reason: one_line(&e) })
    }

    /// The full object path of a key relative to the prefix.
    pub fn path_of(&self, key: &str) -> Path {
        key.split('/').fold(self.prefix.clone(), |path, part| path.join(part))
    }
}

/// How long the check before a run may take, whatever the retry policy.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Objects larger than this go up in parts of this size on cloud stores.
const PART_SIZE: usize = 8 << 20;

/// A multipart upload that is aborted unless it completed: when it fails,
/// or when its put is dropped half-way (a run out of time after a signal),
/// so that no parts linger in the bucket.
struct AbortOnDrop(Option<Box<dyn MultipartUpload>>);

impl AbortOnDrop {
    /// Sends `bytes` in parts of [`PART_SIZE`], all at once, then completes.
    async fn send(&mut self, bytes: Bytes) -> object_store::Result<()> {
        let Some(upload) = self.0.as_mut() else { return Ok(()) };
        let parts: Vec<_> = (0..bytes.len())
            .step_by(PART_SIZE)
            .map(|start| upload.put_part(bytes.slice(start..bytes.len().min(start + PART_SIZE)).into()))
            .collect();
        futures::future::try_join_all(parts).await?;
        upload.complete().await.map(drop)
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let (Some(mut upload), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move {
                if let Err(error) = upload.abort().await {
                    tracing::warn!(error = %one_line(&error), "could not abort a multipart upload");
                }
            });
        }
    }
}

/// User metadata travels as HTTP headers: percent-encode everything that is
/// not printable ASCII (and `%` itself, so decoding is unambiguous).
/// The environment's variables whose names start with `prefix` and whose
/// values are set to something (and are UTF-8, as the cloud builders' own
/// `from_env` reads them).
fn environment(prefix: &str) -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(key, value)| key.starts_with(prefix) && !value.is_empty())
        .collect()
}

/// Why a store setting (`name`, an environment variable's or a
/// configuration key) is not fit for the header or URL it goes into, if it
/// is not: object_store panics on some (a region with a line break read
/// from a file, an endpoint without a scheme, a token with a control
/// character). Endpoints are http(s) URLs with a host and no spaces; key
/// material in JSON may hold line breaks, and file paths spaces; nothing
/// else holds a space or a control character.
fn check_setting(name: &str, value: &str) -> Result<(), String> {
    let name = name.to_ascii_lowercase();
    let json = name.contains("service_account_key");
    let path = name.ends_with("_path")
        || name.ends_with("_file")
        || name.ends_with("service_account")
        || name.ends_with("application_credentials");
    if !json && let Some(c) = value.chars().find(|c| c.is_control()) {
        let what = match c {
            '\n' | '\r' => "a line break in it (read from a file?)",
            _ => "a control character in it",
        };
        return Err(format!("has {what}: U+{:04X}", c as u32));
    }
    if name.contains("endpoint") || name.ends_with("_url") {
        if value.contains(char::is_whitespace) {
            return Err(format!("{value:?} is not a URL: it has a space"));
        }
        let url = Url::parse(value).map_err(|e| format!("{value:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{value:?} is not an http:// or https:// URL with a host"));
        }
    } else if !json && !path && value.contains(char::is_whitespace) {
        return Err("has a space in it".into());
    }
    Ok(())
}

/// The variable `name`, if it is set to something.
fn variable(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn header_safe(text: &str) -> String {
    const UNSAFE: &AsciiSet = &CONTROLS.add(b'%');
    utf8_percent_encode(text, UNSAFE).to_string()
}

fn retry(options: StoreOptions) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            base: 2.0,
        },
        max_retries: options.retries,
        retry_timeout: options.deadline,
    }
}
