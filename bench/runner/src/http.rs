//! One GET to a loopback web server: through the `fetch` plugin (the `http` capability:
//! grant check, one resolution, blocklist, connect, request, body into the guest) against
//! the same request from native Rust (hyper's HTTP/1.1 client over a fresh connection).
//! Both open a new connection per request, as Airlock's sender does (it keeps no pool), and
//! read the whole 100-byte body: the difference is the sandbox's cost on an HTTP call.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The body every request gets.
const BODY: &[u8] = b"{\"status\":\"ok\",\"city\":\"Oslo\",\"temperature\":-3.5,\"wind\":4.2,\"updated\":\"2026-12-01T03:00:00Z\"}";

/// Starts the server on a free 127.0.0.1 port; returns its address.
pub async fn serve() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream));
        }
    });
    Ok(address)
}

async fn answer(mut stream: TcpStream) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        BODY.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(BODY).await;
    let _ = stream.shutdown().await;
}

/// `n` native GETs of `/v1/weather`, each on a new connection, body read whole.
pub async fn native(address: SocketAddr, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let body = native_get(address).await.expect("native GET");
        assert_eq!(body.len(), BODY.len());
    }
    start.elapsed()
}

async fn native_get(address: SocketAddr) -> Result<Bytes> {
    let stream = TcpStream::connect(address).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = hyper::Request::get("/v1/weather")
        .header(hyper::header::HOST, address.to_string())
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    Ok(response.into_body().collect().await?.to_bytes())
}

/// The `fetch` plugin loaded from a folder made here: `component`, a manifest granting
/// `http://127.0.0.1:*/v1`, and a policy allowing it with 127.0.0.1 exempt from the
/// blocklist.
pub async fn plugin(runtime: &airlock::Runtime, component: &str) -> Result<airlock::Plugin> {
    let folder = std::env::temp_dir().join(format!("airlock-bench-fetch-{}", std::process::id()));
    std::fs::create_dir_all(&folder)?;
    let bytes = std::fs::read(component).with_context(|| format!("reading {component}"))?;
    std::fs::write(folder.join("fetch.wasm"), &bytes)?;
    let grant = r#"["http://127.0.0.1:*/v1"]"#;
    let manifest = format!(
        "[plugin]\nname = \"fetch\"\nversion = \"0.1.0\"\ncomponent = \"fetch.wasm\"\nsha256 = \"{}\"\n\n[capabilities]\nhttp = {grant}\n",
        airlock::digest::Sha256::of(&bytes)
    );
    std::fs::write(folder.join("airlock.toml"), manifest)?;
    let policy = airlock::policy::Policy::parse(
        &format!(
            "[network]\nallow-local = [\"127.0.0.1/32\"]\n\n[plugins.fetch]\nhttp = {grant}\n"
        ),
        std::path::Path::new("bench-policy.toml"),
        &folder,
    )?;
    let plugin = runtime
        .load_dir(&folder, &policy, airlock::LoadOptions::default())
        .await?;
    let _ = std::fs::remove_dir_all(&folder);
    Ok(plugin)
}

/// Checks the plugin gets the same response the native client does.
pub async fn check(plugin: &airlock::Plugin, address: SocketAddr) -> Result<()> {
    let out = plugin
        .call_tool(
            "fetch",
            &arguments(address),
            &airlock::CallContext::default(),
        )
        .await?;
    if out["status"] != 200 || out["bytes"] != BODY.len() {
        bail!("fetch answered {out}");
    }
    Ok(())
}

/// The `fetch` tool's arguments for the benchmark's GET.
pub fn arguments(address: SocketAddr) -> serde_json::Value {
    json!({"url": format!("http://{address}/v1/weather")})
}
