//! `fetch`: a tool plugin that makes outbound HTTP requests through the host's `http`
//! capability (`airlock_sdk::http`).
//!
//! - `fetch {url, max_bytes}`: a GET; returns the status, content type, a text excerpt and
//!   whether it was cut, and the `location` of a redirect (never followed: a new request
//!   to it is checked again).
//! - `request {method, url, headers, body, max_bytes, timeout_ms}`: any method, with the
//!   response headers too.
//!
//! A URL the plugin was not granted fails with plugin error 403 (`not granted`), a timeout
//! with 504, a body over the host's cap with 413, TLS and connection failures with 502.

use std::collections::BTreeMap;
use std::time::Duration;

use airlock_sdk::http;
use airlock_sdk::prelude::*;

/// Bytes of body returned when `max_bytes` is not given.
const EXCERPT: usize = 4096;

#[derive(Deserialize, JsonSchema)]
struct FetchArgs {
    /// The URL to GET (http or https).
    url: String,
    /// Read at most this many bytes of the body (default 4096).
    max_bytes: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
struct RequestArgs {
    /// GET, POST, PUT, PATCH, DELETE, HEAD, …
    method: String,
    /// The URL (http or https).
    url: String,
    /// Request headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Request body, sent as UTF-8 text.
    body: Option<String>,
    /// Read at most this many bytes of the body (default 4096).
    max_bytes: Option<u32>,
    /// Give up connecting or waiting for bytes after this many milliseconds.
    timeout_ms: Option<u32>,
}

#[derive(Serialize)]
struct Fetched {
    status: u16,
    content_type: Option<String>,
    location: Option<String>,
    text: String,
    bytes: usize,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<BTreeMap<String, String>>,
}

impl Fetched {
    fn from(response: http::Response, with_headers: bool) -> Fetched {
        Fetched {
            status: response.status,
            content_type: response.header("content-type").map(str::to_string),
            location: response.header("location").map(str::to_string),
            text: response.text(),
            bytes: response.body.len(),
            truncated: response.truncated,
            headers: with_headers.then(|| response.headers.iter().cloned().collect()),
        }
    }
}

struct Fetch;

impl Plugin for Fetch {
    type Config = NoConfig;

    fn metadata() -> Metadata {
        Metadata::new("fetch", env!("CARGO_PKG_VERSION"))
            .author("Airlock examples")
            .description(
                "Fetches a URL it was granted and returns its status, type and an excerpt.",
            )
            .license("Apache-2.0")
    }

    fn init(_config: NoConfig) -> Result<Self, PluginError> {
        Ok(Fetch)
    }

    fn tools(tools: &mut Tools<Self>) {
        tools
            .tool(
                "fetch",
                "GET a URL: status, content type, a text excerpt (max_bytes, default 4096)",
                |_, args: FetchArgs, _| {
                    let max = args.max_bytes.map_or(EXCERPT, |m| m as usize);
                    let response = http::get(args.url).max_bytes(max).send()?;
                    Ok(Fetched::from(response, false))
                },
            )
            .tool(
                "request",
                "Send any HTTP request: method, url, headers, body; returns status, headers and a body excerpt",
                |_, args: RequestArgs, _| {
                    let mut request = http::request(&args.method, args.url)
                        .max_bytes(args.max_bytes.map_or(EXCERPT, |m| m as usize));
                    for (name, value) in args.headers {
                        request = request.header(name, value);
                    }
                    if let Some(body) = args.body {
                        request = request.body(body);
                    }
                    if let Some(ms) = args.timeout_ms {
                        request = request.timeout(Duration::from_millis(ms.into()));
                    }
                    Ok(Fetched::from(request.send()?, true))
                },
            );
    }
}

airlock_sdk::export_tool_plugin!(Fetch);
