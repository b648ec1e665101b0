//! Progress: partial results and progress reports a plugin sends from inside a call
//! (`airlock:plugin/progress@0.2.0`: LLM tokens, a long job's steps), delivered to whoever
//! made the call while it runs.
//!
//! A caller listens by running its calls inside [`with_progress`] with the sending half of
//! a [`channel`]; every call made on that task (directly, or through a registry, catalog or
//! pipeline) then sends its plugin's [`Progress`] events there, in order, before the call's
//! result is returned. Without a listener the plugin's `emit` and `report` do nothing.
//!
//! Everything here is plugin-controlled, so it is bounded per listener (one [`channel`]: a
//! server makes one per request): a chunk is cut at [`MAX_CHUNK`] bytes and a message at
//! [`MAX_MESSAGE`], and past [`MAX_EVENTS`] events or [`MAX_BYTES`] bytes (counted as the
//! JSON text they become, with [`EVENT_OVERHEAD`] per event) every further event is dropped
//! (one warning says so; the call goes on, and the caller never gets a stream with a hole
//! in it). The channel is bounded too: a Rust listener that falls behind makes the plugin
//! wait in `emit` (its deadline keeps running). The servers forward each event to their
//! connection as it comes, so what one request can queue there is bounded by these caps,
//! as its result is by the output cap. An instance keeps only a weak reference to the
//! listener: a call dropped mid-way (cancelled) leaves nothing that keeps a receiver open.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use tokio::sync::mpsc;

use crate::store::InstanceState;

/// Longest chunk forwarded, in bytes; the rest is cut (at a character boundary).
pub const MAX_CHUNK: usize = 64 << 10;
/// Longest report message forwarded, in bytes.
pub const MAX_MESSAGE: usize = 1 << 10;
/// Most events one listener takes; later ones are dropped.
pub const MAX_EVENTS: u32 = 65_536;
/// Most bytes one listener takes, counted as JSON text (a control character as the six
/// bytes of its escape) plus [`EVENT_OVERHEAD`] per event; later events are dropped.
pub const MAX_BYTES: usize = 8 << 20;
/// What each event counts for besides its text: the framing of the notification it becomes.
pub const EVENT_OVERHEAD: usize = 96;
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

/// Where a call's [`Progress`] goes: the sending half of a [`channel`], with the budget
/// every call under it shares.
#[derive(Debug, Clone)]
pub struct ProgressSender {
    tx: mpsc::Sender<Progress>,
    budget: Arc<Budget>,
}

/// What a listener has taken so far; once a cap is reached it takes nothing more.
#[derive(Debug, Default)]
struct Budget {
    events: AtomicU32,
    bytes: AtomicUsize,
    capped: AtomicBool,
}

impl Budget {
    /// Counts an event of `bytes`: whether it is taken. The first refusal caps the budget for
    /// good, so no later (smaller) event makes a hole in what the caller received.
    fn admit(&self, bytes: usize) -> Admit {
        if self.capped.load(Ordering::Relaxed) {
            return Admit::Dropped;
        }
        let events = self.events.fetch_add(1, Ordering::Relaxed);
        let cost = bytes.saturating_add(EVENT_OVERHEAD);
        let total = self
            .bytes
            .fetch_add(cost, Ordering::Relaxed)
            .saturating_add(cost);
        if events < MAX_EVENTS && total <= MAX_BYTES {
            return Admit::Taken;
        }
        match self.capped.swap(true, Ordering::Relaxed) {
            false => Admit::CappedNow,
            true => Admit::Dropped,
        }
    }
}

enum Admit {
    Taken,
    /// This event reached a cap: say so once.
    CappedNow,
    Dropped,
}

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
    let budget = Arc::default();
    (ProgressSender { tx, budget }, ProgressReceiver(rx))
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

/// One call's side of the channel, in its instance's state: a weak reference to the
/// running task's listener (if any) and its budget.
#[derive(Debug, Default)]
pub(crate) struct CallProgress {
    listener: Option<(mpsc::WeakSender<Progress>, Arc<Budget>)>,
}

impl CallProgress {
    /// Starts a call: the running task's listener, if it has one.
    pub(crate) fn start() -> Self {
        CallProgress {
            listener: LISTENER
                .try_with(|s| (s.tx.downgrade(), s.budget.clone()))
                .ok(),
        }
    }

    /// Whether someone listens (else the plugin's events are not even copied).
    fn listening(&self) -> bool {
        self.listener.is_some()
    }

    /// Sends `event` (of `bytes` as JSON text) unless its listener's budget is spent; waits
    /// while the channel is full. A listener that went away just stops listening.
    async fn send(&mut self, plugin: &str, event: Progress, bytes: usize) {
        let Some((listener, budget)) = &self.listener else {
            return;
        };
        match budget.admit(bytes) {
            Admit::Taken => {}
            Admit::Dropped => return,
            Admit::CappedNow => {
                tracing::warn!(
                    plugin = %crate::text::escape(plugin),
                    "progress past the cap ({MAX_EVENTS} events, {MAX_BYTES} bytes per listener) \
                     is dropped for the rest of this call"
                );
                return;
            }
        }
        let sent = match listener.upgrade() {
            Some(tx) => tx.send(event).await.is_ok(),
            None => false,
        };
        if !sent {
            self.listener = None;
        }
    }
}

/// How long `text` is at most as JSON text: a quote or a backslash takes two bytes, another
/// control character up to six (`\u001b`).
fn json_len(text: &str) -> usize {
    let escapes: usize = text
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum();
    text.len() + escapes
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
        let bytes = json_len(&chunk);
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
        let bytes = json_len(&message);
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

    #[test]
    fn json_len_counts_escapes() {
        assert_eq!(json_len("ab"), 2);
        assert_eq!(json_len("a\"b\\"), 6);
        assert_eq!(json_len("\u{1b}\n"), 12);
    }

    #[test]
    fn a_budget_once_capped_takes_nothing_more() {
        let budget = Budget::default();
        assert!(matches!(
            budget.admit(MAX_BYTES - EVENT_OVERHEAD),
            Admit::Taken
        ));
        assert!(matches!(budget.admit(1), Admit::CappedNow));
        assert!(matches!(budget.admit(0), Admit::Dropped));
    }
}
