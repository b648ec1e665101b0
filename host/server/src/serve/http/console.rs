//! The web console, served by `airlock serve --http` at `/`: a plugin dashboard, each
//! plugin's audit, a method invoker with forms generated from the tools' JSON Schemas, a
//! hook pipeline tester, a live log tail, usage charts and, for admins, enable, disable and
//! configuration editing. Its files (`host/server/console/`) are compiled into the binary;
//! the libraries it uses are vendored there (see `console/vendor/README.md`), so nothing is
//! built or fetched at run time.
//!
//! The console is a client of the admin API only: it signs in with an API token kept in the
//! tab's session storage and sent as `Authorization: Bearer`, never in a URL or a cookie.
//! Every page is served with a Content-Security-Policy that allows scripts from this origin
//! only — no inline script, no `eval` — and forbids framing. Inline styles are allowed
//! because the form library injects its theme's rules (json-editor issue #1159); style
//! cannot run code.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ApiError;

/// The policy every console response carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One file: its path under `/console/`, media type and bytes.
struct Asset {
    path: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $media_type:literal) => {
        Asset {
            path: $path,
            media_type: $media_type,
            bytes: include_bytes!(concat!("../../../console/", $path)),
        }
    };
}

const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
const ASSETS: &[Asset] = &[
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("vendor/jsoneditor.min.js", "text/javascript; charset=utf-8"),
    asset!("vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    asset!("vendor/uPlot.min.css", "text/css; charset=utf-8"),
];

/// The console's routes: `/` and `/console/{file}`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { serve(&INDEX) }))
        .route("/console/{*file}", get(file))
}

async fn file(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(asset) => serve(asset),
        None => ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such console file")
            .into_response(),
    }
}

fn serve(asset: &Asset) -> Response {
    let mut response = (StatusCode::OK, asset.bytes).into_response();
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_TYPE, asset.media_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // A new binary may ship new files under the same names.
        (header::CACHE_CONTROL, "no-cache"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
