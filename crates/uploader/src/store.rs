//! Where variations go: an `object_store` behind a URL, plus the key prefix
//! every run folder goes under.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use url::Url;

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {location:?}: {reason}")]
    Invalid { location: String, reason: String },
    #[error("store {location:?}: unsupported scheme {scheme:?} (use a local path, file:// or memory://)")]
    UnsupportedScheme { location: String, scheme: String },
}

/// An object store and the prefix under which runs are stored.
#[derive(Clone, Debug)]
pub struct Store {
    objects: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Local,
    Memory,
}

impl Store {
    /// Opens a store from a URL or a local path:
    /// `./variations`, `/abs/dir`, `file:///abs/dir`, `memory://` or `memory://some/prefix`.
    /// Nothing is created or written until the first put.
    pub fn from_location(location: &str) -> Result<Store, StoreError> {
        let invalid = |reason: String| StoreError::Invalid { location: location.into(), reason };
        if !location.contains("://") {
            return Store::local(location).map_err(|e| invalid(e.to_string()));
        }
        let url = Url::parse(location).map_err(|e| invalid(e.to_string()))?;
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
        Ok(Store { objects: Arc::new(LocalFileSystem::new()), prefix, url, kind: Kind::Local })
    }

    /// A store in this process's memory, for tests and dry runs.
    pub fn memory() -> Store {
        Store {
            objects: Arc::new(InMemory::new()),
            prefix: Path::default(),
            url: "memory://".into(),
            kind: Kind::Memory,
        }
    }

    /// The underlying `object_store`, e.g. to read results back.
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }
    /// Where keys start: every run folder goes under it.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }
    /// The store as the user named it, normalised (`file:///abs/dir/`, `memory://`).
    pub fn url(&self) -> &str {
        &self.url
    }
    /// Whether puts may carry attributes (content type, metadata): the
    /// local file system refuses them.
    pub(crate) fn takes_attributes(&self) -> bool {
        self.kind != Kind::Local
    }
    /// A URL for a stored key: `file:///abs/path` for local folders,
    /// `memory:///path` in memory.
    pub fn url_of(&self, key: &str) -> String {
        let path = self.path_of(key);
        match self.kind {
            Kind::Memory => format!("memory:///{path}"),
            Kind::Local => Url::from_file_path(format!("/{path}"))
                .map(String::from)
                .unwrap_or_else(|()| format!("file:///{path}")),
        }
    }

    /// The full object path of a key relative to the prefix.
    pub fn path_of(&self, key: &str) -> Path {
        key.split('/').fold(self.prefix.clone(), |path, part| path.join(part))
    }
}
