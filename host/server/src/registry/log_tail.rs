//! [`LogTails`]: the recent log records of every (tenant, plugin) this process runs, and a
//! live feed of new ones — what the console's log tail shows
//! (`GET /api/v1/plugins/{name}/logs`, server-sent events).
//!
//! Each registration's tail outlives its versions: a reload or restart keeps writing to the
//! same tail, so a watcher sees the old version's last lines and the new one's first. A
//! disable drops it, so this process keeps tails for what it serves only.
//! Everything a plugin controls here is bounded: records arrive through the library's
//! [`LogTap`], already within the call's log budget and escaped; the tail keeps the last
//! [`RECENT`] records, each cut to [`TEXT_CAP`] bytes, and a watcher that falls more than
//! [`LIVE`] records behind is told how many it missed rather than slowing the plugin.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use airlock::log_tap::{LogRecord, LogTap};
use tokio::sync::broadcast;

/// Records kept per registration for a watcher that connects later.
pub const RECENT: usize = 200;
/// Longest record text kept, in bytes; longer text is cut at a character boundary and
/// marked with `…`.
pub const TEXT_CAP: usize = 4 << 10;
/// Records a live watcher may fall behind before it is told it skipped some.
pub const LIVE: usize = 256;

/// One registration's tail.
pub struct LogTail {
    recent: Mutex<VecDeque<Arc<LogRecord>>>,
    live: broadcast::Sender<Arc<LogRecord>>,
}

impl LogTail {
    fn new() -> Self {
        LogTail {
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            live: broadcast::channel(LIVE).0,
        }
    }

    fn push(&self, record: &LogRecord) {
        let mut record = record.clone();
        if record.text.len() > TEXT_CAP {
            let cut = record.text.floor_char_boundary(TEXT_CAP);
            record.text.truncate(cut);
            record.text.push('…');
        }
        let record = Arc::new(record);
        // Sent under the lock (a send never waits), so a watcher sees each record once:
        // either among the kept ones or live.
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(record.clone());
        // No watcher is not an error.
        let _ = self.live.send(record);
    }

    /// The kept records, oldest first, and a receiver of every record after them. (Taken
    /// under the lock [`LogTail::push`] sends under, so no record is missed or repeated.)
    pub fn watch(&self) -> (Vec<Arc<LogRecord>>, broadcast::Receiver<Arc<LogRecord>>) {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let receiver = self.live.subscribe();
        (recent.iter().cloned().collect(), receiver)
    }
}

/// Every registration's tail, made on first use.
#[derive(Default)]
pub struct LogTails {
    tails: Mutex<HashMap<(String, String), Arc<LogTail>>>,
}

impl LogTails {
    /// The tail of `plugin` for `tenant`.
    pub fn tail(&self, tenant: &str, plugin: &str) -> Arc<LogTail> {
        let mut tails = self.tails.lock().unwrap_or_else(|e| e.into_inner());
        tails
            .entry((tenant.to_string(), plugin.to_string()))
            .or_insert_with(|| Arc::new(LogTail::new()))
            .clone()
    }

    /// Drops the tail of `plugin` for `tenant` (it was disabled): a watcher keeps what it
    /// has and hears nothing more; enabling it again starts a new tail.
    pub fn forget(&self, tenant: &str, plugin: &str) {
        let mut tails = self.tails.lock().unwrap_or_else(|e| e.into_inner());
        tails.remove(&(tenant.to_string(), plugin.to_string()));
    }

    /// A tap writing to the tail of `plugin` for `tenant`, for its load options.
    pub fn tap(&self, tenant: &str, plugin: &str) -> LogTap {
        let tail = self.tail(tenant, plugin);
        LogTap::new(move |record| tail.push(record))
    }
}
