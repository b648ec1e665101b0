//! Progress: partial results and progress reports a plugin sends from inside a call
//! (`airlock:plugin/progress@0.2.0`: LLM tokens, a long job's steps), delivered to whoever
//! made the call while it runs.
//!
//! A caller listens by running its calls inside [`with_progress`] with the sending half of
//! a [`channel`]; every call made on that task (directly, or through a registry, catalog or
//! pipeline) then sends its plugin's [`Progress`] events there, in order, before the call's
//! result is returned. Without a listener the plugin's `emit` and `report` do nothing.
//!
//! Everything here is plugin-controlled, so it is bounded per call: a chunk is cut at
//! [`MAX_CHUNK`] bytes and a message at [`MAX_MESSAGE`], and past [`MAX_EVENTS`] events or
//! [`MAX_BYTES`] bytes in one call further events are dropped (one warning says so; the call
//! goes on). The channel is bounded too: a listener that falls behind makes the plugin wait
//! in `emit` (its deadline keeps running), so no queue grows without bound.

use tokio::sync::mpsc;

use crate::store::InstanceState;

/// Longest chunk forwarded, in bytes; the rest is cut (at a character boundary).
pub const MAX_CHUNK: usize = 64 << 10;
/// Longest report message forwarded, in bytes.
pub const MAX_MESSAGE: usize = 1 << 10;
/// Most events one call may send; later ones are dropped.
pub const MAX_EVENTS: u32 = 65_536;
/// Most chunk and message bytes one call may send; later events are dropped.
pub const MAX_BYTES: usize = 8 << 20;
/// Events a [`channel`] buffers before the plugin waits for its listener.
pub const CHANNEL_CAPACITY: usize = 64;

/// One event a plugin sent during a call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Progress {
    /// A partial result (`progress.emit`): the next tokens, a line of output.
    Chunk { chunk: String },
    /// How far the call is (`progress.report`): `done` units of `total` (`None`: unknown).
    Report {
        done: u64,
        total: Option<u64>,
        message: String,
    },
}

/// Where a call's [`Progress`] goes: the sending half of a [`channel`].
#[derive(Debug, Clone)]
pub struct ProgressSender(mpsc::Sender<Progress>);

/// The receiving half of a [`channel`]: the events of every call made under
/// [`with_progress`] with its sender, in the order each call sent them. Ends (`None`) once
/// every sender is gone: the scope has ended and no instance holds one.
#[derive(Debug)]
pub struct ProgressReceiver(mpsc::Receiver<Progress>);

impl ProgressReceiver {
    /// The next event; `None` once the calls are over and every event was received.
    pub async fn recv(&mut self) -> Option<Progress> {
        self.0.recv().await
    }

    /// The next event if one is waiting now.
    pub fn try_recv(&mut self) -> Option<Progress> {
        self.0.try_recv().ok()
    }
}

/// A bounded channel for [`with_progress`] ([`CHANNEL_CAPACITY`] events).
pub fn channel() -> (ProgressSender, ProgressReceiver) {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    (ProgressSender(tx), ProgressReceiver(rx))
}

tokio::task_local! {
    static LISTENER: ProgressSender;
}

/// Runs `calls` — plugin calls made on this task — so that what their plugins send through
/// `progress` goes to `events`. Read the receiver while the calls run (e.g. in a
/// `tokio::select!` next to them): a plugin waits when the channel is full.
///
/// ```no_run
/// # async fn f(plugin: airlock::Plugin) {
/// use airlock::progress::{channel, with_progress};
/// let (events, mut received) = channel();
/// let args = serde_json::json!({"prompt": "hello"});
/// let context = airlock::CallContext::default();
/// let call = with_progress(events, plugin.call_tool("complete", &args, &context));
/// let printer = async {
///     while let Some(event) = received.recv().await {
///         println!("{event:?}");
///     }
/// };
/// let (result, ()) = tokio::join!(call, printer);
/// # }
/// ```
pub async fn with_progress<F: std::future::Future>(events: ProgressSender, calls: F) -> F::Output {
    LISTENER.scope(events, calls).await
}

/// One call's side of the channel, in its instance's state: the listener (if any) and what
/// the call has sent so far.
#[derive(Debug, Default)]
pub(crate) struct CallProgress {
    listener: Option<ProgressSender>,
    events: u32,
    bytes: usize,
    warned: bool,
}

impl CallProgress {
    /// Starts a call: the running task's listener, the counts at zero.
    pub(crate) fn start() -> Self {
        CallProgress {
            listener: LISTENER.try_with(ProgressSender::clone).ok(),
            ..CallProgress::default()
        }
    }

    /// Whether someone listens (else the plugin's events are not even copied).
    fn listening(&self) -> bool {
        self.listener.is_some()
    }

    /// Sends `event` (of `bytes` plugin bytes) unless a per-call cap is reached; waits while
    /// the channel is full. A listener that went away just stops listening.
    async fn send(&mut self, plugin: &str, event: Progress, bytes: usize) {
        if self.events >= MAX_EVENTS || self.bytes.saturating_add(bytes) > MAX_BYTES {
            if !std::mem::replace(&mut self.warned, true) {
                tracing::warn!(
                    plugin = %crate::text::escape(plugin),
                    "progress past the per-call cap ({MAX_EVENTS} events, {MAX_BYTES} bytes) \
                     is dropped for the rest of this call"
                );
            }
            return;
        }
        self.events += 1;
        self.bytes += bytes;
        let Some(listener) = &self.listener else {
            return;
        };
        if listener.0.send(event).await.is_err() {
            self.listener = None;
        }
    }
}

/// `text` cut to at most `cap` bytes, at a character boundary.
fn cut(mut text: String, cap: usize) -> String {
    if text.len() > cap {
        let mut end = cap;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

impl crate::bindings::airlock::plugin::progress::Host for InstanceState {
    async fn emit(&mut self, chunk: String) {
        if !self.progress.listening() {
            return;
        }
        let chunk = cut(chunk, MAX_CHUNK);
        let bytes = chunk.len();
        let plugin = self.plugin.clone();
        self.progress
            .send(&plugin, Progress::Chunk { chunk }, bytes)
            .await;
    }

    async fn report(&mut self, done: u64, total: Option<u64>, message: String) {
        if !self.progress.listening() {
            return;
        }
        let message = cut(message, MAX_MESSAGE);
        let bytes = message.len();
        let event = Progress::Report {
            done,
            total,
            message,
        };
        let plugin = self.plugin.clone();
        self.progress.send(&plugin, event, bytes).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("héllo".into(), 2), "h");
        assert_eq!(cut("héllo".into(), 3), "hé");
        assert_eq!(cut("abc".into(), 10), "abc");
    }
}
