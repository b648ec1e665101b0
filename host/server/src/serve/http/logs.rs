//! `GET /api/v1/plugins/{name}/logs`: a plugin's log tail as server-sent events (the
//! HTML Living Standard's `text/event-stream`), for an admin token of its tenant.
//!
//! The stream starts with the records the registry kept ([`crate::registry::log_tail`]),
//! oldest first, then follows new ones. Each record is one `log` event whose data is the
//! record's JSON, `{"time_ms", "level", "source", "text"}` — JSON, so a line feed in a
//! plugin's text cannot end an event or forge a field. A watcher that fell behind gets a
//! `skipped` event, `{"skipped": 12}`. `?follow=false` sends the kept records and ends.
//!
//! Each stream holds a connection open, so at most [`MAX_STREAMS`] run at once (a further
//! one is refused with 503), and every stream ends when the server shuts down, letting its
//! graceful shutdown finish.

use std::convert::Infallible;
use std::sync::Arc;

use airlock::log_tap::LogRecord;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, broadcast, watch};

use super::admin::{Api, TenantQuery, authorize};
use super::{ApiError, Closing, JsonQuery};

/// Most log streams served at once by one router.
pub const MAX_STREAMS: usize = 32;

#[derive(Deserialize)]
pub(super) struct LogsQuery {
    tenant: Option<String>,
    #[serde(default = "yes")]
    follow: bool,
}

fn yes() -> bool {
    true
}

/// The handler (see the module docs).
pub(super) async fn stream(
    State(api): State<Api>,
    Path(name): Path<String>,
    JsonQuery(query): JsonQuery<LogsQuery>,
    headers: HeaderMap,
    closing: Option<axum::Extension<Closing>>,
) -> Result<Response, ApiError> {
    let tenant = TenantQuery {
        tenant: query.tenant,
    };
    let holder = authorize(&api, &headers, &tenant, true).await?;
    let tail = api
        .service
        .registry()
        .log_tail(&holder.tenant, &name)
        .await
        .map_err(|e| ApiError::from_rpc(crate::serve::errors::registry_error(&e)))?;
    let permit = api.log_streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too-many-streams",
            format!("{MAX_STREAMS} log streams are open already; close one and retry"),
        )
    })?;
    let (recent, live) = tail.watch();
    let feed = Feed {
        recent: recent.into_iter(),
        live: query.follow.then_some(live),
        closing: closing.map(|c| c.0.0.clone()),
        _permit: permit,
    };
    Ok(Sse::new(events(feed))
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// What one stream still has to send.
struct Feed {
    recent: std::vec::IntoIter<Arc<LogRecord>>,
    /// `None` for `?follow=false`.
    live: Option<broadcast::Receiver<Arc<LogRecord>>>,
    closing: Option<watch::Receiver<bool>>,
    _permit: OwnedSemaphorePermit,
}

fn events(feed: Feed) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(feed, |mut feed| async move {
        if let Some(record) = feed.recent.next() {
            return Some((Ok(log_event(&record)), feed));
        }
        let live = feed.live.as_mut()?;
        let next = match feed.closing.as_mut() {
            Some(closing) => tokio::select! {
                _ = closing.wait_for(|closed| *closed) => return None,
                next = live.recv() => next,
            },
            None => live.recv().await,
        };
        let event = match next {
            Ok(record) => log_event(&record),
            Err(broadcast::error::RecvError::Lagged(skipped)) => Event::default()
                .event("skipped")
                .data(json!({"skipped": skipped}).to_string()),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), feed))
    })
}

fn log_event(record: &LogRecord) -> Event {
    let data = serde_json::to_string(record).expect("a record serialises");
    Event::default().event("log").data(data)
}
