//! A plugin's progress ([`airlock::progress`]) on the wire, while its call runs: JSON-RPC
//! `$/progress` notifications tied to the request id (when the request asked for them with
//! `"progress": true`), and MCP `notifications/progress` (when the request's `_meta` carries
//! a `progressToken`), on stdio and on a streamable-HTTP response stream.

use serde_json::{Value, json};

use airlock::progress::{Progress, channel, with_progress};

/// Runs `work` with a progress listener, handing each event to `forward` as it arrives; its
/// output once the work is done and every event it sent was forwarded. Without `forward`
/// (nobody asked for progress), just `work`, with no listener.
pub async fn forwarding<F: std::future::Future>(
    work: F,
    forward: Option<impl FnMut(Progress)>,
) -> F::Output {
    let Some(mut forward) = forward else {
        return work.await;
    };
    let (events, mut received) = channel();
    let work = with_progress(events, work);
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            Some(event) = received.recv() => forward(event),
            output = &mut work => {
                // A call's events are all sent before it returns: they wait in the channel.
                while let Some(event) = received.try_recv() {
                    forward(event);
                }
                return output;
            }
        }
    }
}

/// The JSON-RPC notification for `event` of the request `id`: method `$/progress`, params
/// `{"id": id, "kind": "chunk", "chunk": …}` or `{"id": id, "kind": "report", "done": n,
/// "total": n | null, "message": …}`.
pub fn jsonrpc_notification(id: &Value, event: &Progress) -> Value {
    let mut params = serde_json::to_value(event).expect("progress serialises");
    params["id"] = id.clone();
    json!({"jsonrpc": "2.0", "method": "$/progress", "params": params})
}

/// Whether a JSON-RPC request asked for `$/progress` notifications (`"progress": true`).
pub fn jsonrpc_wanted(params: &Value) -> bool {
    params.get("progress") == Some(&Value::Bool(true))
}

/// One MCP request's progress notifications (`notifications/progress`, MCP 2025-03-26 on).
/// MCP's `progress` must increase with every notification, so: a report's `progress` is
/// its `done` (with its `total` when that is not below it, and its message); a chunk's is
/// one more than the last value sent, its text the `message`; a report whose `done` does not
/// exceed the last value is sent as one more than it too. Values stop at 2^53 − 1, the
/// largest integer every JSON reader holds exactly; past it nothing more is sent.
pub struct McpProgress {
    token: Value,
    last: u64,
}

impl McpProgress {
    /// For a request whose `_meta.progressToken` (a string or an integer) asks for them.
    pub fn of_request(params: &Value) -> Option<Self> {
        let token = params["_meta"].get("progressToken")?;
        (token.is_string() || token.is_i64() || token.is_u64()).then(|| McpProgress {
            token: token.clone(),
            last: 0,
        })
    }

    /// The notification for `event`; `None` once `progress` cannot increase any more.
    pub fn notification(&mut self, event: Progress) -> Option<Value> {
        let next = self.last.saturating_add(1);
        let (progress, total, message) = match event {
            Progress::Chunk { chunk } => (next, None, chunk),
            Progress::Report {
                done,
                total,
                message,
            } => (done.max(next), total, message),
        };
        let progress = progress.min(MAX_EXACT);
        if progress <= self.last {
            return None;
        }
        self.last = progress;
        let mut params = json!({"progressToken": self.token, "progress": progress});
        if let Some(total) = total.map(|t| t.min(MAX_EXACT)).filter(|t| *t >= progress) {
            params["total"] = json!(total);
        }
        if !message.is_empty() {
            params["message"] = json!(message);
        }
        Some(json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params}))
    }
}

/// 2^53 − 1: the largest integer a JSON reader using doubles (JavaScript) holds exactly.
const MAX_EXACT: u64 = (1 << 53) - 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_progress_always_increases() {
        let mut p = McpProgress::of_request(&json!({"_meta": {"progressToken": "t"}})).unwrap();
        let chunk = |s: &str| Progress::Chunk { chunk: s.into() };
        let report = |done, total| Progress::Report {
            done,
            total,
            message: String::new(),
        };
        let sent: Vec<Value> = [
            chunk("a"),
            report(1, Some(3)),
            report(5, Some(9)),
            chunk("b"),
            report(7, Some(6)),
        ]
        .into_iter()
        .map(|e| p.notification(e).unwrap())
        .collect();
        let progress: Vec<u64> = sent
            .iter()
            .map(|n| n["params"]["progress"].as_u64().unwrap())
            .collect();
        assert_eq!(progress, [1, 2, 5, 6, 7]);
        assert!(
            sent[4]["params"].get("total").is_none(),
            "never below progress"
        );
        assert_eq!(sent[0]["params"]["message"], "a");
        assert_eq!(sent[2]["params"]["total"], 9);
        assert!(sent[1]["params"].get("message").is_none());
        assert!(McpProgress::of_request(&json!({"_meta": {"progressToken": null}})).is_none());
        assert!(McpProgress::of_request(&json!({})).is_none());

        // At the largest exact integer it stops, never wrapping or repeating a value.
        let mut p = McpProgress::of_request(&json!({"_meta": {"progressToken": 1}})).unwrap();
        let top = p.notification(report(u64::MAX, Some(u64::MAX))).unwrap();
        assert_eq!(top["params"]["progress"], MAX_EXACT);
        assert_eq!(top["params"]["total"], MAX_EXACT);
        assert!(p.notification(chunk("c")).is_none());
        assert!(p.notification(report(u64::MAX, None)).is_none());
    }
}
