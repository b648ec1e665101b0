//! A minimal MCP client over streamable HTTP: one keep-alive HTTP/1.1 connection (hyper's
//! client connection, the hyper that axum serves with), the handshake generation
//! (`initialize`, then requests carrying `Mcp-Session-Id` and `MCP-Protocol-Version`).

use std::net::SocketAddr;

use anyhow::{Context, Result, ensure};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const VERSION: &str = "2025-11-25";

pub struct McpClient {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    session: Option<String>,
}

impl McpClient {
    /// Opens the connection to the `/mcp` endpoint at `address`.
    pub async fn connect(address: SocketAddr) -> Result<McpClient> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(McpClient {
            sender,
            host: address.to_string(),
            session: None,
        })
    }

    /// POSTs `message`; returns the status, the session id header and the body (JSON, or
    /// null when empty).
    async fn post(&mut self, message: &Value) -> Result<(u16, Option<String>, Value)> {
        let mut request = hyper::Request::post("/mcp")
            .header("host", &self.host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", VERSION);
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        let request = request.body(Full::new(Bytes::from(message.to_string())))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.into_body().collect().await?.to_bytes();
        let body = match body.is_empty() {
            true => Value::Null,
            false => serde_json::from_slice(&body)
                .with_context(|| format!("status {status}: {}", String::from_utf8_lossy(&body)))?,
        };
        Ok((status, session, body))
    }

    /// `initialize` (keeping the session id) and `notifications/initialized`.
    pub async fn initialize(&mut self) -> Result<()> {
        let (status, session, body) = self
            .post(
                &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": VERSION, "capabilities": {},
                "clientInfo": {"name": "airlock-soak", "version": "1"}}}),
            )
            .await?;
        ensure!(status == 200, "initialize answered {status}: {body}");
        self.session = Some(session.context("initialize gave no Mcp-Session-Id")?);
        let (status, _, body) = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        ensure!(
            status == 202,
            "notifications/initialized answered {status}: {body}"
        );
        Ok(())
    }

    /// `tools/call` of `tool` with `arguments`; the JSON-RPC `result`.
    pub async fn call_tool(&mut self, id: u64, tool: &str, arguments: Value) -> Result<Value> {
        let (status, _, mut body) = self
            .post(
                &json!({"jsonrpc": "2.0", "id": id + 1, "method": "tools/call",
                "params": {"name": tool, "arguments": arguments}}),
            )
            .await?;
        ensure!(status == 200, "tools/call answered {status}: {body}");
        ensure!(
            body["id"] == id + 1,
            "tools/call {id} got the answer to {}",
            body["id"]
        );
        Ok(body["result"].take())
    }
}
