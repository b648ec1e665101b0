//! `GET /api/v1/plugins/{name}/logs`: a plugin's log tail as server-sent events (the
//! HTML Living Standard's `text/event-stream`), for an admin token of its tenant.
//!
//! The stream starts with the records the registry kept ([`crate::registry::log_tail`]),
//! oldest first, then follows new ones. Each record is one `log` event whose data is the
//! record's JSON, `{"time_ms", "level", "source", "text"}` — JSON, so a line feed in a
//! plugin's text cannot end an event or forge a field. A watcher that fell behind gets a
//! `skipped` event, `{"skipped": 12}`. `?follow=false` sends the kept records and ends.
//!
//! Each stream holds a connection open, so at most [`MAX_STREAMS`] run at once, at most
//! [`MAX_TENANT_STREAMS`] of them for one tenant (a further one is refused with 503, code
//! `too-many-streams`); each ends after [`MAX_LIFETIME`] (a console reconnects), and every
//! stream ends when the server shuts down, letting its graceful shutdown finish.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use airlock::log_tap::LogRecord;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, watch};

use super::admin::{Api, TenantQuery, authorize};
use super::{ApiError, Closing, JsonQuery};

/// Most log streams served at once by one router.
pub const MAX_STREAMS: usize = 32;
/// Most log streams one tenant's tokens may hold open at once.
pub const MAX_TENANT_STREAMS: usize = 4;
/// How long one stream lasts before the server ends it.
pub const MAX_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3600);

/// The open streams, in all and per tenant.
#[derive(Default)]
pub(super) struct Streams(Mutex<HashMap<String, usize>>);

impl Streams {
    /// A slot for one more stream of `tenant`, held until the stream ends.
    fn open(self: &Arc<Self>, tenant: &str) -> Result<Slot, ApiError> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = open.values().sum();
        let mine = open.get(tenant).copied().unwrap_or(0);
        if total >= MAX_STREAMS || mine >= MAX_TENANT_STREAMS {
            let (cap, whose) = match mine >= MAX_TENANT_STREAMS {
                true => (MAX_TENANT_STREAMS, "this tenant has"),
                false => (MAX_STREAMS, "the server has"),
            };
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too-many-streams",
                format!("{whose} {cap} log streams open already; close one and retry"),
            ));
        }
        *open.entry(tenant.to_string()).or_default() += 1;
        Ok(Slot {
            streams: self.clone(),
            tenant: tenant.to_string(),
        })
    }
}

/// One open stream's place in [`Streams`].
struct Slot {
    streams: Arc<Streams>,
    tenant: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.streams.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.tenant) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.tenant);
            }
        }
    }
}

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
    let slot = api.log_streams.open(&holder.tenant)?;
    let (recent, live) = tail.watch();
    let feed = Feed {
        recent: recent.into_iter(),
        live: query.follow.then_some(live),
        closing: closing.map(|c| c.0.0.clone()),
        ends: tokio::time::Instant::now() + MAX_LIFETIME,
        _slot: slot,
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
    /// When the stream ends anyway ([`MAX_LIFETIME`]).
    ends: tokio::time::Instant,
    _slot: Slot,
}

fn events(feed: Feed) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(feed, |mut feed| async move {
        if let Some(record) = feed.recent.next() {
            return Some((Ok(log_event(&record)), feed));
        }
        let ends = feed.ends;
        let live = feed.live.as_mut()?;
        let closing = feed.closing.as_mut();
        let closed = async move {
            match closing {
                Some(closing) => drop(closing.wait_for(|closed| *closed).await),
                None => std::future::pending().await,
            }
        };
        let next = tokio::select! {
            _ = closed => return None,
            _ = tokio::time::sleep_until(ends) => return None,
            next = live.recv() => next,
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
