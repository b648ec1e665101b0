//! Outbound HTTP through the host (capability `http`, feature `http` of this crate): small
//! blocking requests with headers, a body or JSON, and a cap on what is read back. Built on
//! the `wasip2` crate's `wasi:http` bindings (the Bytecode Alliance's). `wstd`'s client was
//! tried first: it reports a refused request as the failed body write ("connection reset")
//! rather than the host's reason, and a failed body read as text, so an author could not
//! tell "not granted" or "too large" from a network fault.
//!
//! The host checks every request against the URLs the manifest asked for and the operator
//! allowed (`[capabilities] http = ["https://api.example.com/v1"]`); anything else fails
//! with [`HttpError::NotGranted`] before a byte leaves. Redirects are not followed: a 3xx
//! comes back as it is, and following it is a new request, checked again.
//!
//! ```ignore
//! use airlock_sdk::http;
//! let reply = http::get("https://api.example.com/v1/weather?city=Oslo")
//!     .header("accept", "application/json")
//!     .max_bytes(64 * 1024)
//!     .send()?;
//! let weather: serde_json::Value = reply.json()?;
//! ```

use std::fmt;
use std::time::Duration;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

use crate::PluginError;

/// Bytes read from a response body when [`Request::max_bytes`] is not set.
pub const DEFAULT_MAX_BYTES: usize = 1 << 20;

/// A request being built; [`Request::send`] sends it.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    max_bytes: usize,
    timeout: Option<Duration>,
}

/// A `GET` of `url`.
pub fn get(url: impl Into<String>) -> Request {
    request("GET", url)
}

/// A `POST` to `url` (add a body with [`Request::body`] or [`Request::json`]).
pub fn post(url: impl Into<String>) -> Request {
    request("POST", url)
}

/// A request with any method (`PUT`, `DELETE`, `PATCH`, …).
pub fn request(method: &str, url: impl Into<String>) -> Request {
    Request {
        method: method.to_ascii_uppercase(),
        url: url.into(),
        headers: Vec::new(),
        body: Vec::new(),
        max_bytes: DEFAULT_MAX_BYTES,
        timeout: None,
    }
}

impl Request {
    /// Adds a header (`Host` and hop-by-hop headers are the host's to set, and refused).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON, with `content-type: application/json`.
    pub fn json(self, value: &impl serde::Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        self.header("content-type", "application/json").body(body)
    }

    /// Reads at most `bytes` of the response body; the rest is left unread and
    /// [`Response::truncated`] is set. The host's own cap (`[limits] http-body`) applies
    /// whatever this says.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Gives up connecting, or waiting for the first byte or the next, after `timeout`
    /// (the call's deadline applies whatever this says).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request and reads the response (up to [`Request::max_bytes`]).
    pub fn send(self) -> Result<Response, HttpError> {
        let what = format!("{} {}", self.method, self.url);
        let fail = |code: ErrorCode| HttpError::from_code(&what, &code);
        let request = self.outgoing().map_err(HttpError::InvalidRequest)?;
        let body = request
            .body()
            .expect("a new request's body is not yet taken");
        let pending = outgoing_handler::handle(request, self.options()).map_err(&fail)?;
        // If the host refuses the request while its body is being written, the write fails
        // with a closed stream: the reason is the response's error, read below.
        let _ = write_body(body, &self.body);
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(fail(code)),
            _ => {
                return Err(HttpError::Connection {
                    request: what,
                    detail: "no response".into(),
                });
            }
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let body = response
            .consume()
            .expect("a new response's body is not yet taken");
        let (body, truncated) = read_body(&body, self.max_bytes).map_err(&fail)?;
        Ok(Response {
            status,
            headers,
            body,
            truncated,
        })
    }

    /// The `wasi:http` request: method, scheme, authority, path and query, headers (with a
    /// `content-length`: servers expect one, and the host checks it against its cap).
    fn outgoing(&self) -> Result<OutgoingRequest, String> {
        let (scheme, rest) = self
            .url
            .split_once("://")
            .ok_or_else(|| format!("`{}` is not an absolute http(s) URL", self.url))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => return Err(format!("scheme `{other}` is neither http nor https")),
        };
        let rest = rest.split('#').next().unwrap_or(rest);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        let target = match target.starts_with('?') {
            true => format!("/{target}"),
            false => target.to_string(),
        };
        let mut headers: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone().into_bytes()))
            .collect();
        if !headers.iter().any(|(n, _)| n == "content-length") {
            headers.push((
                "content-length".into(),
                self.body.len().to_string().into_bytes(),
            ));
        }
        let fields =
            Fields::from_list(&headers).map_err(|e| format!("a header is refused: {e:?}"))?;
        let request = OutgoingRequest::new(fields);
        let method = method(&self.method);
        let refused = |what: &str| format!("the host refuses the {what}");
        request
            .set_method(&method)
            .map_err(|()| refused("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| refused("scheme"))?;
        request
            .set_authority(Some(authority))
            .map_err(|()| refused("authority"))?;
        request
            .set_path_with_query(Some(&target))
            .map_err(|()| refused("path"))?;
        Ok(request)
    }

    fn options(&self) -> Option<RequestOptions> {
        let timeout = self.timeout?;
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        Some(options)
    }
}

/// The error code of a failed body read whose `wasi:io` error carries none: wasmtime 48
/// hands body errors to the guest as text only (its `http-error-code` finds no code in
/// them), so the host's two limit failures are recognised by their wording.
fn body_error(text: String) -> ErrorCode {
    let lower = text.to_ascii_lowercase();
    if lower.contains("body size exceeds limit") {
        ErrorCode::HttpResponseBodySize(None)
    } else if lower.contains("timeout") {
        ErrorCode::ConnectionReadTimeout
    } else {
        ErrorCode::InternalError(Some(text))
    }
}

fn method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}

/// Writes `bytes` (nothing at all for an empty body) and finishes the body.
fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), ()> {
    let stream = body.write()?;
    let written = bytes
        .chunks(4096)
        .try_for_each(|chunk| stream.blocking_write_and_flush(chunk).map_err(|_| ()));
    drop(stream);
    OutgoingBody::finish(body, None).map_err(|_| ())?;
    written
}

/// Reads up to `max` bytes; `true` when more was there.
fn read_body(body: &IncomingBody, max: usize) -> Result<(Vec<u8>, bool), ErrorCode> {
    let stream = body.stream().expect("a new body's stream is not yet taken");
    let mut bytes = Vec::new();
    loop {
        let room = (max - bytes.len()).min(64 * 1024) as u64;
        match stream.blocking_read(room + 1) {
            Ok(chunk) if bytes.len() + chunk.len() > max => {
                let keep = max - bytes.len();
                bytes.extend_from_slice(&chunk[..keep]);
                return Ok((bytes, true));
            }
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok((bytes, false)),
            Err(StreamError::LastOperationFailed(error)) => {
                let code = wasip2::http::types::http_error_code(&error);
                return Err(code.unwrap_or_else(|| body_error(error.to_debug_string())));
            }
        }
    }
}

/// A response: status, headers and (up to the request's cap) the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// True when the body was cut at [`Request::max_bytes`].
    pub truncated: bool,
}

impl Response {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::InvalidResponse(e.to_string()))
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// No grant covers the request (URL, method), or its address is blocked by the
    /// operator's policy: the host refused it before sending. `request` is `METHOD URL`.
    NotGranted { request: String },
    /// Connecting, the first byte or the next took too long.
    Timeout { request: String },
    /// A body is larger than the host allows (`[limits] http-body`).
    TooLarge { request: String },
    /// TLS failed (e.g. a certificate no trusted CA signed).
    Tls { request: String, detail: String },
    /// The server could not be reached or broke off.
    Connection { request: String, detail: String },
    /// The request could not be built (a bad URL, method or header).
    InvalidRequest(String),
    /// The response body is not what was expected.
    InvalidResponse(String),
}

impl HttpError {
    fn from_code(request: &str, code: &ErrorCode) -> HttpError {
        let request = request.to_string();
        match code {
            ErrorCode::HttpRequestDenied => HttpError::NotGranted { request },
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout
            | ErrorCode::DnsTimeout => HttpError::Timeout { request },
            ErrorCode::HttpRequestBodySize(_) | ErrorCode::HttpResponseBodySize(_) => {
                HttpError::TooLarge { request }
            }
            ErrorCode::TlsProtocolError
            | ErrorCode::TlsCertificateError
            | ErrorCode::TlsAlertReceived(_) => HttpError::Tls {
                request,
                detail: format!("{code:?}"),
            },
            ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => {
                HttpError::InvalidRequest(format!("{request}: {code:?}"))
            }
            _ => HttpError::Connection {
                request,
                detail: format!("{code:?}"),
            },
        }
    }

    /// The [`PluginError`] code this error maps to: 403 not granted, 504 timeout, 413 too
    /// large, 400 invalid request, 502 otherwise.
    pub fn code(&self) -> u32 {
        match self {
            HttpError::NotGranted { .. } => PluginError::NOT_GRANTED,
            HttpError::Timeout { .. } => 504,
            HttpError::TooLarge { .. } => 413,
            HttpError::InvalidRequest(_) => PluginError::INVALID_INPUT,
            _ => 502,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::NotGranted { request } => write!(
                f,
                "{request} is not granted: add its URL to `http` in the manifest's [capabilities] (the operator must allow it too); if it is granted, the operator's [network] blocklist refuses its address"
            ),
            HttpError::Timeout { request } => write!(f, "{request} timed out"),
            HttpError::TooLarge { request } => {
                write!(f, "{request}: a body is larger than the host allows")
            }
            HttpError::Tls { request, detail } => write!(f, "{request}: TLS failed ({detail})"),
            HttpError::Connection { request, detail } => write!(f, "{request} failed: {detail}"),
            HttpError::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            HttpError::InvalidResponse(why) => write!(f, "invalid response: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for PluginError {
    fn from(error: HttpError) -> Self {
        PluginError::new(error.code(), error.to_string())
    }
}
