//! MCP over streamable HTTP: one endpoint, `/mcp`. Requests are answered with one JSON
//! body, except a `tools/call` carrying a `progressToken` from a client that accepts
//! `text/event-stream`: that one is answered as an SSE stream of the plugin's
//! `notifications/progress` and then the response (whose errors travel in the stream with
//! status 200, also in the stateless generation, where the JSON path would answer 400 or
//! 404). DNS-rebinding protection first: the `Host` (and any `Origin`) must be a loopback
//! name unless the operator allowed more hosts.
//!
//! Handshake generations (`2025-11-25` and earlier): `initialize` mints an
//! `Mcp-Session-Id`; every later request must carry a live one (400 without, 404 for an
//! unknown one) and an `MCP-Protocol-Version` the server speaks (else 400); `DELETE` ends
//! the session. The stateless `2026-07-28`: no sessions; `MCP-Protocol-Version` and
//! `Mcp-Method` (and `Mcp-Name` for `tools/call`) must match the body (400 with -32020),
//! an unknown method is 404. Notifications and responses get 202. `GET` with a live session
//! opens the server's SSE stream, on which `notifications/tools/list_changed` arrives when a
//! reload or an enable changes the tool list (without a session, as in 2026-07-28, 405).
//! Sessions are capped and expire when idle ([`SessionCaps`]): `initialize` past the cap
//! gets 503 with `Retry-After` and a JSON-RPC error naming the cap. In a session,
//! `notifications/cancelled` cancels that session's request with the id it names (no other
//! session's): the cancelled request is answered 202 with no JSON-RPC response. A session's
//! tool calls run in that session (their resource handles are its own), and `DELETE` drops
//! what it holds.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub use super::mcp_sessions::SessionCaps;
use super::mcp_sessions::SessionTable;
use super::{MAX_BODY, read_body};
use crate::serve::jsonrpc::{self, INVALID_REQUEST, METHOD_NOT_FOUND, Request, RpcError};
use crate::serve::mcp::{
    HEADER_MISMATCH, MODERN, McpServer, NO_BATCHES, UNSUPPORTED_VERSION, check_id,
    supported_versions,
};
use crate::serve::progress::McpProgress;

const SESSION: &str = "mcp-session-id";
const VERSION: &str = "mcp-protocol-version";

#[derive(Clone)]
struct Endpoint {
    server: McpServer,
    sessions: Arc<SessionTable>,
    allowed_hosts: Arc<Vec<String>>,
}

/// The `/mcp` endpoint for `server`. `allowed_hosts` are host names (no port) accepted
/// besides `localhost`, `127.0.0.1` and `[::1]`.
pub fn router(server: McpServer, allowed_hosts: Vec<String>) -> Router {
    router_with_sessions(server, allowed_hosts, SessionCaps::default())
}

/// [`router`] with other caps on its sessions (how many may be alive, how long an idle one
/// lives).
pub fn router_with_sessions(
    server: McpServer,
    allowed_hosts: Vec<String>,
    caps: SessionCaps,
) -> Router {
    let endpoint = Endpoint {
        server,
        sessions: Arc::new(SessionTable::new(caps)),
        allowed_hosts: Arc::new(allowed_hosts),
    };
    Router::new()
        .route(
            "/mcp",
            post(handle_post).get(open_stream).delete(end_session),
        )
        .route("/metrics", axum::routing::get(metrics))
        .with_state(endpoint)
}

/// `GET /metrics`: the served tenant's plugins ([`super::metrics`]), under the same
/// `Host`/`Origin` check as `/mcp` and, on a remote router, its token check.
async fn metrics(State(endpoint): State<Endpoint>, headers: HeaderMap) -> Response {
    if let Err(refused) = endpoint.check_origin(&headers) {
        return *refused;
    }
    let server = &endpoint.server;
    let text = super::metrics::render(server.registry(), server.tenant());
    let content_type = [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)];
    axum::response::IntoResponse::into_response((content_type, text))
}

/// [`router`] for other machines (`airlock mcp --http ADDR --allow-remote`): every request
/// must also carry a bearer token (`airlock token create`, any role) of the served tenant:
/// 401 without a valid one, 403 for another tenant's.
pub fn remote_router(server: McpServer, allowed_hosts: Vec<String>) -> Router {
    let guard = server.clone();
    router(server, allowed_hosts).layer(axum::middleware::from_fn_with_state(guard, require_token))
}

async fn require_token(
    State(server): State<McpServer>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let refuse = |status: StatusCode, why: String| {
        let mut reply = rpc_reply(status, Value::Null, RpcError::new(INVALID_REQUEST, why));
        if status == StatusCode::UNAUTHORIZED {
            reply
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        reply
    };
    let Some(secret) = super::bearer_token(request.headers()) else {
        let why = "a bearer token is required (Authorization: Bearer …; `airlock token create`)";
        return refuse(StatusCode::UNAUTHORIZED, why.into());
    };
    match server.registry().token_holder(secret).await {
        Ok(Some(holder)) if holder.tenant == server.tenant() => next.run(request).await,
        Ok(Some(holder)) => refuse(
            StatusCode::FORBIDDEN,
            format!(
                "the token is for tenant `{}`; this server serves `{}`",
                holder.tenant,
                server.tenant()
            ),
        ),
        Ok(None) => refuse(StatusCode::UNAUTHORIZED, "the token is not valid".into()),
        Err(e) => {
            // The details (which name the database) go to the log, not to the client.
            tracing::warn!("a token could not be checked: {e}");
            let why = "the registry database is unavailable; retry shortly";
            refuse(StatusCode::SERVICE_UNAVAILABLE, why.into())
        }
    }
}

/// The server-to-client stream of a session: tool-list changes, as SSE `message` events.
async fn open_stream(State(endpoint): State<Endpoint>, headers: HeaderMap) -> Response {
    if let Err(refused) = endpoint.check_origin(&headers) {
        return *refused;
    }
    // No session: there is no stream to open (405). A session that is unknown or ended:
    // 404, which tells the client to start a new one.
    let Some(session) = header_text(&headers, SESSION) else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    if !endpoint.sessions.touch(session) {
        let error = RpcError::new(INVALID_REQUEST, "unknown or ended session");
        return rpc_reply(StatusCode::NOT_FOUND, Value::Null, error);
    }
    let (outbox, inbox) = tokio::sync::mpsc::unbounded_channel();
    // The follower stops when the client goes away and the stream (the receiver) drops.
    tokio::spawn(crate::serve::announce_tool_changes(
        endpoint.server.clone(),
        outbox,
    ));
    let events = futures_util::stream::unfold(inbox, |mut inbox| async move {
        let message = inbox.recv().await?;
        let event = Event::default().event("message").data(message.to_string());
        Some((Ok::<_, std::convert::Infallible>(event), inbox))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Whether the client takes an SSE response (streamable HTTP clients send
/// `Accept: application/json, text/event-stream`).
fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// A `tools/call` whose client sent a progress token, answered as an SSE stream (as
/// streamable HTTP allows): `notifications/progress` events while the call runs, then the
/// response. Errors travel in the stream as JSON-RPC errors (the status is already 200). In
/// a session the call is cancellable like any other; a cancelled one ends the stream with no
/// response. A client that goes away drops the stream, and with it the call.
fn stream_with_progress(
    endpoint: Endpoint,
    request: Request,
    session: Option<String>,
    mut progress: McpProgress,
) -> Response {
    let (outbox, inbox) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let id = request.id.clone().unwrap_or_default();
    let call = tokio::spawn(async move {
        let server = &endpoint.server;
        let notify = outbox.clone();
        let respond = Box::pin(server.respond_in(&request, session.as_deref().unwrap_or("")));
        let forward = |event| {
            if let Some(notification) = progress.notification(event) {
                let _ = notify.send(notification);
            }
        };
        let respond = crate::serve::progress::forwarding(respond, Some(forward));
        let (outcome, cancelled) = match &session {
            Some(session) => {
                let scoped = json!([session, id]);
                server.in_flight().run(&scoped, respond).await
            }
            None => (respond.await, false),
        };
        if !cancelled {
            let result = outcome.map(|r| r.unwrap_or_else(|| json!({})));
            let _ = outbox.send(jsonrpc::response(id, result));
        }
    });
    // The stream owns the call: a client that goes away drops both. It ends once the call
    // is done and its response sent (every sender is gone then).
    let state = (inbox, AbortOnDrop(call));
    let events = futures_util::stream::unfold(state, |(mut inbox, call)| async move {
        let message = inbox.recv().await?;
        let event = Event::default().event("message").data(message.to_string());
        Some((Ok::<_, std::convert::Infallible>(event), (inbox, call)))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn rpc_reply(status: StatusCode, id: Value, error: RpcError) -> Response {
    (status, axum::Json(jsonrpc::response(id, Err(error)))).into_response()
}

/// The host part of `Host` or `Origin` values (`name:port`, `scheme://name:port`).
fn host_name(value: &str) -> &str {
    let value = value.split_once("://").map_or(value, |(_, rest)| rest);
    let value = value.split('/').next().unwrap_or(value);
    match value.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => value.rsplit_once(':').map_or(value, |(host, _)| host),
    }
}

impl Endpoint {
    fn host_allowed(&self, value: &str) -> bool {
        let host = host_name(value);
        ["localhost", "127.0.0.1", "::1"].contains(&host)
            || self.allowed_hosts.iter().any(|h| h == host)
    }

    /// DNS-rebinding protection: a foreign `Host` or `Origin` is refused with 403.
    fn check_origin(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        for name in [header::HOST, header::ORIGIN] {
            if let Some(value) = headers.get(&name).and_then(|v| v.to_str().ok())
                && !self.host_allowed(value)
            {
                let error =
                    RpcError::new(INVALID_REQUEST, format!("{name} `{value}` is not allowed"));
                return Err(Box::new(rpc_reply(
                    StatusCode::FORBIDDEN,
                    Value::Null,
                    error,
                )));
            }
        }
        Ok(())
    }

    /// Handshake generations: the session and the version header.
    fn check_session(&self, headers: &HeaderMap, request: &Request) -> Result<(), Box<Response>> {
        let id = request.id.clone().unwrap_or(Value::Null);
        if let Some(version) = header_text(headers, VERSION)
            && !supported_versions().contains(&version)
        {
            let error = RpcError::new(
                INVALID_REQUEST,
                format!("unsupported MCP-Protocol-Version `{version}`"),
            );
            return Err(Box::new(rpc_reply(StatusCode::BAD_REQUEST, id, error)));
        }
        if request.method == "initialize" {
            return Ok(());
        }
        let Some(session) = header_text(headers, SESSION) else {
            let error = RpcError::new(
                INVALID_REQUEST,
                "missing Mcp-Session-Id (send initialize first)",
            );
            return Err(Box::new(rpc_reply(StatusCode::BAD_REQUEST, id, error)));
        };
        match self.sessions.touch(session) {
            true => Ok(()),
            false => {
                let error = RpcError::new(INVALID_REQUEST, "unknown or ended session");
                Err(Box::new(rpc_reply(StatusCode::NOT_FOUND, id, error)))
            }
        }
    }

    /// A new session id; past the cap, the 503 reply to send instead.
    fn new_session(&self, id: &Value) -> Result<Option<String>, Box<Response>> {
        self.sessions.open().map_err(|full| {
            let error = RpcError::new(crate::serve::errors::BUSY, full.message())
                .with_data(json!({"kind": "too-many-sessions", "cap": full.cap}));
            let mut reply = rpc_reply(StatusCode::SERVICE_UNAVAILABLE, id.clone(), error);
            let seconds = full.retry_after.as_secs().max(1);
            reply
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            Box::new(reply)
        })
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Stateless generation: the transport headers must repeat what the body says.
fn check_modern_headers(headers: &HeaderMap, request: &Request) -> Result<(), RpcError> {
    let body_version = request.params["_meta"]["io.modelcontextprotocol/protocolVersion"].as_str();
    let mismatch = |what: &str| RpcError::new(HEADER_MISMATCH, format!("header mismatch: {what}"));
    if body_version.is_none() {
        return Err(RpcError::invalid_params(
            "protocol 2026-07-28 requests carry `_meta` with `io.modelcontextprotocol/protocolVersion`",
        ));
    }
    if header_text(headers, VERSION) != body_version {
        return Err(mismatch(
            "MCP-Protocol-Version differs from _meta's protocolVersion",
        ));
    }
    if header_text(headers, "mcp-method") != Some(request.method.as_str()) {
        return Err(mismatch("Mcp-Method differs from the request's method"));
    }
    if request.method == "tools/call"
        && header_text(headers, "mcp-name") != request.params["name"].as_str()
    {
        return Err(mismatch("Mcp-Name differs from the tool's name"));
    }
    Ok(())
}

fn is_modern(headers: &HeaderMap, request: &Request) -> bool {
    header_text(headers, VERSION) == Some(MODERN)
        || request.params["_meta"]
            .get("io.modelcontextprotocol/protocolVersion")
            .is_some()
}

async fn handle_post(State(endpoint): State<Endpoint>, headers: HeaderMap, body: Body) -> Response {
    if let Err(refused) = endpoint.check_origin(&headers) {
        return *refused;
    }
    let bytes = match read_body(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(too_large) => return too_large.into_response(),
    };
    let request = match jsonrpc::parse_bytes(&bytes) {
        jsonrpc::Frame::Single(Ok(request)) => request,
        jsonrpc::Frame::Invalid(reply) | jsonrpc::Frame::Single(Err(reply)) => {
            return (StatusCode::BAD_REQUEST, axum::Json(reply)).into_response();
        }
        // A client's response (to a server request) is accepted like a notification.
        jsonrpc::Frame::Response => return StatusCode::ACCEPTED.into_response(),
        jsonrpc::Frame::Batch(_) => {
            let error = RpcError::new(INVALID_REQUEST, NO_BATCHES);
            return rpc_reply(StatusCode::BAD_REQUEST, Value::Null, error);
        }
    };
    if let Err(error) = check_id(&request) {
        return rpc_reply(StatusCode::BAD_REQUEST, Value::Null, error);
    }
    if request.is_notification() {
        // A session's client may cancel its own requests (by their ids in that session).
        if request.method == "notifications/cancelled"
            && let Some(session) = header_text(&headers, SESSION)
            && endpoint.sessions.touch(session)
        {
            let cancelled = json!([session, request.params["requestId"]]);
            endpoint.server.in_flight().cancel(&cancelled);
        }
        return StatusCode::ACCEPTED.into_response();
    }
    let modern = is_modern(&headers, &request);
    if modern {
        if let Err(error) = check_modern_headers(&headers, &request) {
            return rpc_reply(
                StatusCode::BAD_REQUEST,
                request.id.unwrap_or_default(),
                error,
            );
        }
    } else if let Err(refused) = endpoint.check_session(&headers, &request) {
        return *refused;
    }
    let id = request.id.clone().unwrap_or_default();
    if let Some(progress) = McpProgress::of_request(&request.params)
        && request.method == "tools/call"
        && accepts_event_stream(&headers)
    {
        let session = header_text(&headers, SESSION).filter(|_| !modern);
        return stream_with_progress(endpoint, request, session.map(str::to_string), progress);
    }
    // In a session, a request is cancellable by `notifications/cancelled` from the same
    // session; a cancelled one gets no JSON-RPC response (as MCP asks), just 202.
    let session = header_text(&headers, SESSION).filter(|_| !modern);
    let outcome = match session {
        Some(session) => {
            let scoped = json!([session, id]);
            let respond = endpoint.server.respond_in(&request, session);
            let (outcome, cancelled) = endpoint.server.in_flight().run(&scoped, respond).await;
            if cancelled {
                return StatusCode::ACCEPTED.into_response();
            }
            outcome
        }
        None => endpoint.server.respond(&request).await,
    };
    let status = match &outcome {
        Err(e) if modern && e.code == METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        Err(e)
            if modern
                && [
                    HEADER_MISMATCH,
                    UNSUPPORTED_VERSION,
                    jsonrpc::INVALID_PARAMS,
                ]
                .contains(&e.code) =>
        {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    };
    let result = outcome.map(|r| r.unwrap_or_else(|| json!({})));
    let opens_session = request.method == "initialize" && !modern && status == StatusCode::OK;
    let session = match opens_session {
        true => match endpoint.new_session(&id) {
            Ok(session) => session,
            Err(full) => return *full,
        },
        false => None,
    };
    let mut response = (status, axum::Json(jsonrpc::response(id, result))).into_response();
    if let Some(session) = session
        && let Ok(value) = HeaderValue::from_str(&session)
    {
        response.headers_mut().insert(SESSION, value);
    }
    response
}

async fn end_session(State(endpoint): State<Endpoint>, headers: HeaderMap) -> Response {
    if let Err(refused) = endpoint.check_origin(&headers) {
        return *refused;
    }
    let Some(session) = header_text(&headers, SESSION) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match endpoint.sessions.end(session) {
        true => {
            endpoint.server.end_session(session).await;
            StatusCode::NO_CONTENT.into_response()
        }
        false => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn host_names_are_taken_from_host_and_origin_values() {
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("http://localhost:3000"), "localhost");
        assert_eq!(host_name("[::1]:80"), "::1");
        assert_eq!(host_name("http://evil.example.com"), "evil.example.com");
        assert_eq!(host_name("example.org"), "example.org");
    }
}
