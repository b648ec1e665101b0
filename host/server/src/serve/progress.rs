//! A plugin's progress ([`airlock::progress`]) on the wire, while its call runs: JSON-RPC
//! `$/progress` notifications tied to the request id (when the request asked for them with
//! `"progress": true`), and MCP `notifications/progress` (when the request's `_meta` carries
//! a `progressToken`), on stdio and on a streamable-HTTP response stream.

use serde_json::{Value, json};

use airlock::progress::{Progress, channel, with_progress};

/// Runs `work` with a progress listener, handing each event to `forward` as it arrives; its
/// output once the work is done and every event it sent was forwarded.
pub async fn forwarding<F: std::future::Future>(
    work: F,
    mut forward: impl FnMut(Progress),
) -> F::Output {
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
/// its `done` (with its `total` and message); a chunk's is one more than the last value
/// sent, its text the `message`; a report whose `done` does not exceed the last value is
/// sent as one more than it too.
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

    /// The notification for `event`.
    pub fn notification(&mut self, event: Progress) -> Value {
        let mut params = json!({"progressToken": self.token});
        let (progress, message) = match event {
            Progress::Chunk { chunk } => (self.last + 1, chunk),
            Progress::Report {
                done,
                total,
                message,
            } => {
                if let Some(total) = total {
                    params["total"] = json!(total);
                }
                (done.max(self.last + 1), message)
            }
        };
        self.last = progress;
        params["progress"] = json!(progress);
        if !message.is_empty() {
            params["message"] = json!(message);
        }
        json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})
    }
}

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
        let sent: Vec<Value> = vec![
            p.notification(chunk("a")),
            p.notification(report(1, Some(3))),
            p.notification(report(5, Some(9))),
            p.notification(chunk("b")),
        ];
        let progress: Vec<u64> = sent
            .iter()
            .map(|n| n["params"]["progress"].as_u64().unwrap())
            .collect();
        assert_eq!(progress, [1, 2, 5, 6]);
        assert_eq!(sent[0]["params"]["message"], "a");
        assert_eq!(sent[2]["params"]["total"], 9);
        assert!(sent[1]["params"].get("message").is_none());
        assert!(McpProgress::of_request(&json!({"_meta": {"progressToken": null}})).is_none());
        assert!(McpProgress::of_request(&json!({})).is_none());
    }
}
