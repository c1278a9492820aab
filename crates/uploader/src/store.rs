//! Where variations go: an `object_store` behind a URL, plus the key prefix
//! every run folder goes under.
//!
//! Local folders and memory are built here directly; `s3://`, `gs://` and
//! `az://` (`abfs://`) go through `object_store`'s builders, configured from
//! the usual environment variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`,
//! `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, ...), with the
//! retry policy of [`StoreOptions`].

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::azure::{MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};
use url::Url;

/// Why a store could not be opened or reached.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {location:?}: {reason}")]
    Invalid { location: String, reason: String },
    #[error(
        "store {location:?}: unsupported scheme {scheme:?} (use a local path, file://, memory://, s3://, gs:// or az://)"
    )]
    UnsupportedScheme { location: String, scheme: String },
    #[error("store {location:?} does not answer: {reason}")]
    Unreachable { location: String, reason: String },
}

/// How cloud stores retry, time out and sign links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Retries of a request that failed transiently (5xx, throttling,
    /// dropped connections, timeouts), with exponential backoff and jitter.
    pub retries: usize,
    /// No retry starts after this long since the first attempt of a request.
    pub deadline: Duration,
    /// How long a presigned link stays valid.
    pub url_ttl: Duration,
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
    Local,
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
        macro_rules! cloud {
            ($builder:ty) => {{
                let mut builder = <$builder>::from_env().with_url(location);
                for (key, value) in &config {
                    let key = key.parse().map_err(|e: object_store::Error| invalid(e.to_string()))?;
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
                let s3 = Arc::new(cloud!(AmazonS3Builder)?);
                Ok(store(s3.clone(), Kind::S3(s3), prefix()?))
            }
            "gs" => {
                let gcs = Arc::new(cloud!(GoogleCloudStorageBuilder)?);
                Ok(store(gcs.clone(), Kind::Gcs(gcs), prefix()?))
            }
            // abfs URLs name the container as user@account: the path is the prefix either way.
            "az" | "abfs" | "abfss" | "azure" => {
                let azure = Arc::new(cloud!(MicrosoftAzureBuilder)?);
                Ok(store(azure.clone(), Kind::Azure(azure), prefix()?))
            }
            scheme => Err(StoreError::UnsupportedScheme { location: location.into(), scheme: scheme.into() }),
        }
    }

    /// A folder on the local file system; created, with any parents, when
    /// the first object is stored. Files appear whole or not at all: each is
    /// written to a temporary name and renamed.
    pub fn local(dir: impl AsRef<std::path::Path>) -> Result<Store, object_store::Error> {
        let dir = std::path::absolute(dir.as_ref()).map_err(|source| object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(source),
        })?;
        let prefix = Path::from_absolute_path(&dir)?;
        let url =
            Url::from_directory_path(&dir).map(String::from).unwrap_or_else(|()| dir.display().to_string());
        Ok(Store {
            objects: Arc::new(LocalFileSystem::new()),
            prefix,
            url,
            kind: Kind::Local,
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

    /// Checks that the store answers before any work is done: a listing of
    /// the prefix, which needs the endpoint, the bucket and valid
    /// credentials. Local folders and memory always answer.
    pub async fn check(&self) -> Result<(), StoreError> {
        if matches!(self.kind, Kind::Local | Kind::Memory) {
            return Ok(());
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
    /// Whether puts may carry attributes (content type, metadata): the
    /// local file system refuses them.
    pub(crate) fn takes_attributes(&self) -> bool {
        !matches!(self.kind, Kind::Local)
    }
    /// Cloud stores take large objects in parts.
    pub(crate) fn is_cloud(&self) -> bool {
        !matches!(self.kind, Kind::Local | Kind::Memory)
    }

    /// A link to a stored key: presigned GET URLs for the clouds, valid for
    /// the store's `url_ttl`; `file://` URLs for local folders; `memory:///`.
    pub async fn url_of(&self, key: &str) -> Result<String, String> {
        let path = self.path_of(key);
        let ttl = self.url_ttl;
        let signed = match &self.kind {
            Kind::Memory => return Ok(format!("memory:///{path}")),
            Kind::Local => {
                return Ok(Url::from_file_path(format!("/{path}"))
                    .map(String::from)
                    .unwrap_or_else(|()| format!("file:///{path}")));
            }
            Kind::S3(s3) => s3.signed_url(Method::GET, &path, ttl).await,
            Kind::Gcs(gcs) => gcs.signed_url(Method::GET, &path, ttl).await,
            Kind::Azure(azure) => azure.signed_url(Method::GET, &path, ttl).await,
        };
        signed.map(String::from).map_err(|e| format!("signing a link to {key}: {}", one_line(&e)))
    }

    /// The full object path of a key relative to the prefix.
    pub fn path_of(&self, key: &str) -> Path {
        key.split('/').fold(self.prefix.clone(), |path, part| path.join(part))
    }
}

/// How long the check before a run may take, whatever the retry policy.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

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

/// An error and its causes on one line.
pub(crate) fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}
