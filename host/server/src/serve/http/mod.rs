//! HTTP front ends on `axum`: the admin and tool API ([`admin`], bearer tokens, per-tenant)
//! and the MCP streamable HTTP transport ([`mcp`]). Both read bodies through
//! [`read_body`], which caps their size, and report failures in one stable JSON shape:
//! `{"error": {"code": "<kind>", "message": "…", "details": …}}`. The admin API refuses
//! cross-site browser requests ([`same_origin`]); beside it, `serve --http` serves the web
//! console ([`console`]).

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
/// ([`Closing`]). Whatever is still open [`SHUTDOWN_GRACE`] later (a client that stopped
/// reading a stream) is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (closed, closing) = tokio::sync::watch::channel(false);
    let app = app.layer(axum::Extension(Closing(closing.clone())));
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = closed.send(true);
    });
    let mut closing = closing;
    tokio::select! {
        finished = server => finished,
        _ = async {
            let _ = closing.wait_for(|closed| *closed).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after shutdown began were dropped");
            Ok(())
        }
    }
}

/// How long a graceful shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Turns `true` when [`serve`] begins its graceful shutdown; a handler streaming a
/// response that would otherwise never end (a log tail) ends it then, so the shutdown can
/// finish. Reaches handlers as an `axum::Extension`.
#[derive(Clone)]
pub struct Closing(pub tokio::sync::watch::Receiver<bool>);

/// Cross-site request refusal for the admin API: a browser request that another site's page
/// makes (`Sec-Fetch-Site: cross-site`, or an `Origin` whose `host[:port]` is neither this
/// request's `Host` nor the `X-Forwarded-Host` a reverse proxy set) is refused with 403, code
/// `cross-origin`, before any handler runs. Requests without those headers (API clients,
/// curl) pass; the bearer token is checked after. (A page cannot set `X-Forwarded-Host` on a
/// cross-site request without a CORS preflight, which carries its `Origin` and is refused
/// here.) The console keeps its token in session storage and sends it in `Authorization`,
/// never in a cookie, so a forged request would carry no credential anyway; this is the
/// second lock. The console's own files are left out: a link from another site must open it.
pub async fn same_origin(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let authority = request.uri().authority().map(|a| a.as_str().to_string());
    match cross_origin(request.headers(), authority.as_deref()) {
        Some(why) => ApiError::new(StatusCode::FORBIDDEN, "cross-origin", why).into_response(),
        None => next.run(request).await,
    }
}

/// Why `headers` mark a cross-origin browser request, if they do; `authority` is the
/// request URI's (HTTP/2 sends it instead of `Host`).
fn cross_origin(headers: &axum::http::HeaderMap, authority: Option<&str>) -> Option<String> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site") == Some("cross-site") {
        return Some("a request from another site's page is refused (Sec-Fetch-Site)".into());
    }
    let origin = text("origin")?;
    // `scheme://host[:port]`; "null" (a sandboxed or file page) has no host and matches none.
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    let ours = [text("host"), text("x-forwarded-host"), authority];
    let matches = ours
        .into_iter()
        .flatten()
        .any(|host| !host.is_empty() && origin_host.eq_ignore_ascii_case(host.trim()));
    match matches {
        true => None,
        false => Some(format!(
            "Origin `{}` is not this server (`{}`): cross-origin requests are refused",
            airlock::text::escape(origin),
            airlock::text::escape(text("host").or(authority).unwrap_or("no Host"))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::cross_origin;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn same_origin_requests_and_api_clients_pass() {
        let host = ("host", "127.0.0.1:8700");
        assert_eq!(cross_origin(&headers(&[host]), None), None, "curl");
        let own = headers(&[host, ("origin", "http://127.0.0.1:8700")]);
        assert_eq!(cross_origin(&own, None), None);
        let upper = headers(&[
            ("host", "Console.Example:443"),
            ("origin", "https://console.example:443"),
        ]);
        assert_eq!(cross_origin(&upper, None), None, "host names ignore case");
        let proxied = headers(&[
            ("host", "10.0.0.5:8700"),
            ("x-forwarded-host", "console.example"),
            ("origin", "https://console.example"),
        ]);
        assert_eq!(cross_origin(&proxied, None), None, "behind a reverse proxy");
        let http2 = headers(&[("origin", "https://console.example")]);
        assert_eq!(cross_origin(&http2, Some("console.example")), None);
    }

    #[test]
    fn other_sites_null_origins_and_other_ports_are_refused() {
        let host = ("host", "127.0.0.1:8700");
        for origin in [
            "http://evil.example",
            "null",
            "http://127.0.0.1:8701",
            "http://127.0.0.1:8700.evil.example",
            "http://[::1]:8700",
        ] {
            let request = headers(&[
                host,
                ("origin", Box::leak(origin.to_string().into_boxed_str())),
            ]);
            let why = cross_origin(&request, None).expect(origin);
            assert!(why.contains("cross-origin requests are refused"), "{why}");
        }
        let cross_site = headers(&[host, ("sec-fetch-site", "cross-site")]);
        assert!(cross_origin(&cross_site, None).is_some());
        let no_host = headers(&[("origin", "http://127.0.0.1:8700")]);
        assert!(cross_origin(&no_host, None).is_some(), "nothing to match");
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
