//! A real S3-compatible server on 127.0.0.1 (s3s with its file-system
//! backend, checking SigV4 signatures), and a proxy in front of it that
//! injects faults into chosen requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const ACCESS_KEY: &str = "variegate-test";
pub const SECRET_KEY: &str = "variegate-test-secret";
pub const BUCKET: &str = "variations";

/// An S3 server with one bucket, [`BUCKET`], serving from a temporary folder.
pub struct S3Server {
    pub endpoint: String,
    pub root: tempfile::TempDir,
    /// Serves while the value lives; dropped with it.
    _runtime: tokio::runtime::Runtime,
}

impl S3Server {
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        runtime.spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        S3Server { endpoint: format!("http://{address}"), root, _runtime: runtime }
    }

    /// object_store configuration for this server (path-style, plain http).
    pub fn config(&self) -> Vec<(&'static str, String)> {
        config_for(&self.endpoint)
    }

    /// Environment for the CLI to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        env_for(&self.endpoint)
    }
}

pub fn config_for(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("aws_endpoint", endpoint.to_string()),
        ("aws_access_key_id", ACCESS_KEY.into()),
        ("aws_secret_access_key", SECRET_KEY.into()),
        ("aws_region", "us-east-1".into()),
        ("aws_allow_http", "true".into()),
    ]
}

pub fn env_for(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}

/// What the proxy does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// Answer 503 Service Unavailable without passing it on.
    Unavailable,
    /// Close the connection without answering.
    Drop,
    /// Never answer (a minute), as a store that hangs.
    Hang,
    /// Answer 403 Access Denied, as a bucket policy that refuses a prefix.
    Forbidden,
}

/// Decides per PUT (numbered from 0 in arrival order) what to do.
pub type Policy = Arc<dyn Fn(usize) -> Fault + Send + Sync>;

/// Decides per PUT, given its number and its path, what to do.
pub type PathPolicy = Arc<dyn Fn(usize, &str) -> Fault + Send + Sync>;

/// Rewrites a request's path and query (given its method) on the way through.
pub type Rewrite = Arc<dyn Fn(&hyper::Method, &str) -> String + Send + Sync>;

/// Amends a response's head (given the request's method and the body) on the way back.
pub type Amend = Arc<dyn Fn(&hyper::Method, &mut hyper::http::response::Parts, &[u8]) + Send + Sync>;

/// A proxy in front of an [`S3Server`] that applies a [`Policy`] to PUT
/// requests and passes everything else through.
pub struct FaultProxy {
    pub endpoint: String,
    pub puts: Arc<AtomicUsize>,
    pub injected: Arc<AtomicUsize>,
    /// Serves while the value lives; dropped with it.
    _runtime: tokio::runtime::Runtime,
}

impl FaultProxy {
    pub fn start(upstream: &str, policy: Policy) -> FaultProxy {
        FaultProxy::start_by_path(upstream, Arc::new(move |n, _| policy(n)))
    }

    /// A proxy whose policy also sees each PUT's path.
    pub fn start_by_path(upstream: &str, policy: PathPolicy) -> FaultProxy {
        FaultProxy::start_rewriting(
            upstream,
            policy,
            Arc::new(|_, path| path.to_string()),
            Arc::new(|_, _, _| {}),
        )
    }

    /// A proxy that also rewrites each request's path and query, and
    /// amends each response's head.
    pub fn start_rewriting(upstream: &str, policy: PathPolicy, rewrite: Rewrite, amend: Amend) -> FaultProxy {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let (puts, injected) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let upstream = upstream.to_string();
        let (puts_seen, injected_seen) = (puts.clone(), injected.clone());
        runtime.spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let (client, upstream, policy) = (client.clone(), upstream.clone(), policy.clone());
                let (puts, injected, rewrite) = (puts_seen.clone(), injected_seen.clone(), rewrite.clone());
                let amend = amend.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let (client, upstream, policy) = (client.clone(), upstream.clone(), policy.clone());
                        let (rewrite, amend) = (rewrite.clone(), amend.clone());
                        let (puts, injected) = (puts.clone(), injected.clone());
                        async move {
                            let fault = if request.method() == hyper::Method::PUT {
                                policy(puts.fetch_add(1, Ordering::SeqCst), request.uri().path())
                            } else {
                                Fault::Pass
                            };
                            if fault != Fault::Pass {
                                injected.fetch_add(1, Ordering::SeqCst);
                            }
                            match fault {
                                Fault::Drop => Err("dropped on purpose"),
                                Fault::Hang => {
                                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                                    Err("hung on purpose")
                                }
                                Fault::Forbidden => Ok(Response::builder()
                                    .status(StatusCode::FORBIDDEN)
                                    .body(Full::new(Bytes::from_static(
                                        b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
                                    )))
                                    .unwrap()),
                                Fault::Unavailable => Ok(Response::builder()
                                    .status(StatusCode::SERVICE_UNAVAILABLE)
                                    .body(Full::new(Bytes::from_static(
                                        b"<Error><Code>SlowDown</Code></Error>",
                                    )))
                                    .unwrap()),
                                Fault::Pass => forward(&client, &upstream, &*rewrite, &*amend, request).await,
                            }
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        FaultProxy { endpoint: format!("http://{address}"), puts, injected, _runtime: runtime }
    }
}

async fn forward(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    upstream: &str,
    rewrite: &(dyn Fn(&hyper::Method, &str) -> String + Send + Sync),
    amend: &(dyn Fn(&hyper::Method, &mut hyper::http::response::Parts, &[u8]) + Send + Sync),
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, &'static str> {
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let body = body.collect().await.map_err(|_| "request body")?.to_bytes();
    let path = rewrite(&parts.method, parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let uri = format!("{upstream}{path}");
    let mut forwarded = Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        forwarded = forwarded.header(name, value);
    }
    let response = client.request(forwarded.body(Full::new(body)).unwrap()).await.map_err(|_| "upstream")?;
    let (mut parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|_| "response body")?.to_bytes();
    amend(&method, &mut parts, &body);
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// A plain HTTP/1.1 GET, independent of object_store: status, headers
/// (lower-cased names) and body.
pub fn http_get(url: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http("GET", url, &[], &[])
}

/// A plain HTTP/1.1 request, independent of object_store: status, headers
/// (lower-cased names) and body.
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let url = url::Url::parse(url).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let path = &url[url::Position::BeforePath..];
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, response[split + 4..].to_vec())
}
