//! HTTP front ends on `axum`: the admin and tool API ([`admin`], bearer tokens, per-tenant)
//! and the MCP streamable HTTP transport ([`mcp`]). Both read bodies through
//! [`read_body`], which caps their size, and report failures in one stable JSON shape:
//! `{"error": {"code": "<kind>", "message": "…", "details": …}}`. The admin API also
//! serves the web console ([`console`]) and refuses cross-site browser requests
//! ([`same_origin`]).

pub mod admin;
pub mod console;
mod logs;
pub mod mcp;
mod mcp_sessions;
pub mod metrics;
mod openapi;

use std::future::Future;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::jsonrpc::RpcError;

/// The default cap on request bodies: 4 MiB.
pub const MAX_BODY: usize = 4 << 20;

/// Serves `app` on `listener` until `shutdown` resolves; requests in flight then finish
/// before this returns, and long-lived responses (log streams) are told to end
/// ([`Closing`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (closed, closing) = tokio::sync::watch::channel(false);
    let app = app.layer(axum::Extension(Closing(closing)));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = closed.send(true);
        })
        .await
}

/// Turns `true` when [`serve`] begins its graceful shutdown; a handler streaming a
/// response that would otherwise never end (a log tail) ends it then, so the shutdown can
/// finish. Reaches handlers as an `axum::Extension`.
#[derive(Clone)]
pub struct Closing(pub tokio::sync::watch::Receiver<bool>);

/// Cross-site request refusal for the admin API and the console: a browser request that
/// another site's page makes (`Sec-Fetch-Site: cross-site`, or an `Origin` whose host and
/// port are not this request's `Host`) is refused with 403, code `cross-origin`, before any
/// handler runs. Requests without those headers (API clients, curl) pass; the bearer token
/// is checked after. The console keeps its token in session storage and sends it in
/// `Authorization`, never in a cookie, so a forged request would carry no credential
/// anyway; this check also keeps another site from reading the unauthenticated routes.
pub async fn same_origin(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match cross_origin(request.headers()) {
        Some(why) => ApiError::new(StatusCode::FORBIDDEN, "cross-origin", why).into_response(),
        None => next.run(request).await,
    }
}

/// Why `headers` mark a cross-origin browser request, if they do.
fn cross_origin(headers: &axum::http::HeaderMap) -> Option<String> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site") == Some("cross-site") {
        return Some("a request from another site's page is refused (Sec-Fetch-Site)".into());
    }
    let origin = text("origin")?;
    let host = text("host").unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    match origin_host.eq_ignore_ascii_case(host) && !host.is_empty() {
        true => None,
        false => Some(format!(
            "Origin `{}` is not this server (`{}`): cross-origin requests are refused",
            airlock::text::escape(origin),
            airlock::text::escape(host)
        )),
    }
}

/// An API failure: an HTTP status and the stable error body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }

    /// The HTTP rendering of an Airlock method failure.
    pub fn from_rpc(error: RpcError) -> Self {
        use super::errors::*;
        use super::jsonrpc::*;
        let status = match error.code {
            PARSE_ERROR | INVALID_REQUEST | INVALID_PARAMS => StatusCode::BAD_REQUEST,
            METHOD_NOT_FOUND | NOT_FOUND => StatusCode::NOT_FOUND,
            DEPENDENCY => StatusCode::CONFLICT,
            REGISTRY | INTERNAL_ERROR => StatusCode::INTERNAL_SERVER_ERROR,
            SHUT_DOWN | FAILING => StatusCode::SERVICE_UNAVAILABLE,
            // The plugin could not be loaded, or the call failed inside it (limits, traps,
            // its own errors): the request was understood but could not be carried out.
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let code = error
            .data
            .as_ref()
            .and_then(|d| d["kind"].as_str())
            .unwrap_or("invalid-request")
            .to_string();
        ApiError {
            status,
            code,
            message: error.message,
            details: error.data,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some(details) = self.details {
            body["error"]["details"] = details;
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The secret of an `Authorization: Bearer <token>` header. The scheme is matched without
/// regard to case (RFC 9110 §11.1), so `bearer` and `BEARER` work too.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A query string deserialised into `T`; a bad one (a repeated or malformed parameter) is
/// refused with 400 in the API's JSON error shape, code `bad-query`.
pub struct JsonQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for JsonQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(JsonQuery(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad-query",
                rejection.body_text(),
            )),
        }
    }
}

/// The body as bytes, refusing more than `limit` with 413.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the request body exceeds the {limit}-byte limit"),
        )
    })
}

/// The body as a JSON object (an empty body is `{}`).
pub async fn read_json(body: Body, limit: usize) -> Result<Value, ApiError> {
    let bytes = read_body(body, limit).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    match value.is_object() {
        true => Ok(value),
        false => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            "the body must be a JSON object",
        )),
    }
}
