//! A loopback web server for the outbound-HTTP tests, plain or over TLS with a throwaway CA
//! (rcgen). It records every request it receives and answers by path:
//!
//! - `/v1/hello` → 200 `hello from v1` (text/plain);
//! - `/v1/echo` → 200, JSON `{method, path, host, body}` of the request as received;
//! - `/v1/redirect?to=URL` → 302 to `URL`;
//! - `/v1/big?n=N` → 200 with N bytes and a `Content-Length`;
//! - `/v1/stream?n=N` → 200 with N bytes chunked (no length announced);
//! - `/v1/hang` → reads the request and never answers;
//! - anything else → 200 `reached PATH` (tests assert such paths are never requested).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub host: Option<String>,
}

/// A running server; stops when dropped.
pub struct WebServer {
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

/// A throwaway CA and a server certificate it signed for `localhost` and `127.0.0.1`.
pub struct Tls {
    /// The CA certificate, PEM (what a policy's `[http] ca` file holds).
    pub ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl Tls {
    pub fn new() -> Tls {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        Tls {
            ca_pem: ca.pem(),
            config: Arc::new(config),
        }
    }

    /// Writes the CA certificate to `dir/name`.
    pub fn write_ca(&self, dir: &Path, name: &str) {
        std::fs::write(dir.join(name), &self.ca_pem).unwrap();
    }
}

impl Default for Tls {
    fn default() -> Self {
        Tls::new()
    }
}

impl WebServer {
    /// Starts on a free loopback port (127.0.0.1), over TLS when `tls` is given.
    pub async fn start(tls: Option<&Tls>) -> WebServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.config.clone()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, log).await;
                            }
                        }
                        None => serve(stream, log).await,
                    }
                });
            }
        });
        WebServer {
            address,
            seen,
            task,
        }
    }

    /// `http://127.0.0.1:PORT` (or `https://`).
    pub fn origin(&self, https: bool) -> String {
        let scheme = if https { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The paths of every request received so far.
    pub fn paths(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.path).collect()
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, log: Arc<Mutex<Vec<Seen>>>) {
    let Some((head, body)) = read_request(&mut stream).await else {
        return;
    };
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let host = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("host"))
        .map(|(_, value)| value.trim().to_string());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let seen = Seen {
        method: method.clone(),
        path: path.to_string(),
        host: host.clone(),
    };
    log.lock().unwrap().push(seen);
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let n = || {
        param("n")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    };
    match path {
        "/v1/hello" => respond(&mut stream, 200, "text/plain", &[], b"hello from v1").await,
        "/v1/echo" => {
            let echo = json!({"method": method, "path": target, "host": host, "body": String::from_utf8_lossy(&body)});
            respond(
                &mut stream,
                200,
                "application/json",
                &[],
                echo.to_string().as_bytes(),
            )
            .await
        }
        "/v1/redirect" => {
            let to = param("to").unwrap_or_default();
            respond(
                &mut stream,
                302,
                "text/plain",
                &[("location", &to)],
                b"moved",
            )
            .await
        }
        "/v1/big" => {
            respond(
                &mut stream,
                200,
                "application/octet-stream",
                &[],
                &vec![b'x'; n()],
            )
            .await
        }
        "/v1/stream" => stream_chunks(&mut stream, n()).await,
        "/v1/hang" => std::future::pending::<()>().await,
        other => {
            let text = format!("reached {other}");
            respond(&mut stream, 200, "text/plain", &[], text.as_bytes()).await
        }
    }
}

/// Reads a request head and (by `Content-Length`) its body.
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buffer.len() > 1 << 20 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let header = |wanted: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[end + 4..].to_vec();
    // Read the whole body before answering: closing with unread bytes resets the
    // connection under the client.
    while chunked && !body.ends_with(b"0\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

/// `n` bytes in 64 KiB chunks, chunked transfer coding, no length announced.
async fn stream_chunks<S: AsyncWrite + Unpin>(stream: &mut S, n: usize) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = vec![b'y'; 64 * 1024];
    let mut left = n;
    while left > 0 {
        let size = left.min(chunk.len());
        let frame = format!("{size:x}\r\n");
        let ok = stream.write_all(frame.as_bytes()).await.is_ok()
            && stream.write_all(&chunk[..size]).await.is_ok()
            && stream.write_all(b"\r\n").await.is_ok();
        if !ok {
            return;
        }
        left -= size;
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let _ = stream.shutdown().await;
}
