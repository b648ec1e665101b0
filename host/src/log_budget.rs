//! [`LogBudget`]: how much a plugin can make the host log in one call, counted in records
//! and in bytes over every path that logs on its behalf — `airlock:plugin/host` log
//! records, captured stdout/stderr lines, exec reports. Counting records as well as bytes
//! matters: a million empty records cost the host far more than their zero bytes of text.
//!
//! Past either cap, records are dropped and counted; when the call ends, one line says how
//! many were dropped. The budget starts afresh with every call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::log_tap::{LogLevel, LogSource, LogTap};

/// Most log records one call may produce.
pub const LOG_RECORDS: usize = 1_000;
/// Most bytes of log one call may produce, each record counted as its text plus
/// [`RECORD_OVERHEAD`].
pub const LOG_BYTES: usize = 1 << 20;
/// What a record costs beyond its text: timestamp, level, plugin name and fields in the
/// host's log line.
pub const RECORD_OVERHEAD: usize = 64;

#[derive(Default)]
struct Spent {
    /// The name the records are tagged with: where the component came from until it said
    /// who it is, then its name (see [`LogBudget::relabel`]).
    plugin: Arc<str>,
    records: usize,
    bytes: usize,
    dropped_records: usize,
    dropped_bytes: usize,
}

/// One instance's log budget. Cheap to clone; clones share the count, so the stdio
/// captures and the host imports draw from the same budget.
#[derive(Clone)]
pub(crate) struct LogBudget {
    shared: Arc<Shared>,
    /// The host application's copy of every admitted record, if it asked for one.
    tap: Option<LogTap>,
}

struct Shared {
    spent: Mutex<Spent>,
    /// Whether anything took from the budget since it was last settled: most calls log
    /// nothing, and `settle` (twice on every call's path) then skips the lock.
    used: AtomicBool,
}

impl LogBudget {
    /// A budget whose records are tagged `plugin`, each admitted one also sent to `tap`.
    pub(crate) fn new(plugin: Arc<str>, tap: Option<LogTap>) -> Self {
        let spent = Spent {
            plugin,
            ..Spent::default()
        };
        LogBudget {
            shared: Arc::new(Shared {
                spent: Mutex::new(spent),
                used: AtomicBool::new(false),
            }),
            tap,
        }
    }

    fn spent(&self) -> std::sync::MutexGuard<'_, Spent> {
        self.shared.spent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes room for one record of (escaped) `text`: the name to tag it with, or `None`
    /// (and the record counted as dropped) when the call's budget has no room left for it.
    /// An admitted record also goes to the tap.
    pub(crate) fn admit(&self, level: LogLevel, source: LogSource, text: &str) -> Option<Arc<str>> {
        let admitted = self.take(text.len());
        if let (Some(_), Some(tap)) = (&admitted, &self.tap) {
            tap.send(level, source, text);
        }
        admitted
    }

    fn take(&self, text_bytes: usize) -> Option<Arc<str>> {
        let cost = text_bytes.saturating_add(RECORD_OVERHEAD);
        let mut spent = self.spent();
        self.shared.used.store(true, Ordering::Release);
        let fits = spent.records < LOG_RECORDS && spent.bytes.saturating_add(cost) <= LOG_BYTES;
        match fits {
            true => {
                spent.records += 1;
                spent.bytes += cost;
                Some(spent.plugin.clone())
            }
            false => {
                spent.dropped_records += 1;
                spent.dropped_bytes = spent.dropped_bytes.saturating_add(text_bytes);
                None
            }
        }
    }

    /// The name records are tagged with now.
    pub(crate) fn label(&self) -> Arc<str> {
        self.spent().plugin.clone()
    }

    /// Tags every later record, on every path sharing this budget, `plugin`: an instance
    /// that served as the load's probe keeps running under the plugin's own name.
    pub(crate) fn relabel(&self, plugin: Arc<str>) {
        self.spent().plugin = plugin;
    }

    /// Ends the call's budget: logs one line if records were dropped, and starts afresh.
    pub(crate) fn settle(&self) {
        // A record taken on another thread just after this load is counted in the next
        // call's budget, as it would be had it come just after the reset.
        if !self.shared.used.load(Ordering::Acquire) {
            return;
        }
        let mut spent = self.spent();
        self.shared.used.store(false, Ordering::Release);
        // Reset in place: on every call's path, so no clone of the shared name.
        let (dropped_records, dropped_bytes) = (spent.dropped_records, spent.dropped_bytes);
        (spent.records, spent.bytes) = (0, 0);
        (spent.dropped_records, spent.dropped_bytes) = (0, 0);
        if dropped_records > 0 {
            // Log without holding the lock.
            let plugin = spent.plugin.clone();
            drop(spent);
            tracing::warn!(
                plugin = %plugin,
                dropped_records,
                dropped_bytes,
                "{dropped_records} log records dropped ({dropped_bytes} bytes): the call \
                 reached its log budget of {LOG_RECORDS} records or {LOG_BYTES} bytes",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_records_as_well_as_bytes() {
        let budget = LogBudget::new("p".into(), None);
        let admitted = (0..LOG_RECORDS * 3)
            .filter(|_| budget.take(0).is_some())
            .count();
        assert_eq!(admitted, LOG_RECORDS);
        let spent = budget.spent();
        assert_eq!(spent.dropped_records, 2 * LOG_RECORDS);
    }

    #[test]
    fn counts_bytes_and_starts_afresh_after_settling() {
        let budget = LogBudget::new("p".into(), None);
        let big = LOG_BYTES / 4;
        let admitted = (0..10).filter(|_| budget.take(big).is_some()).count();
        assert_eq!(
            admitted, 3,
            "three records and their overhead fit, the fourth not"
        );
        budget.settle();
        assert!(budget.take(big).is_some());
    }

    #[test]
    fn a_relabelled_budget_tags_later_records_with_the_new_name() {
        let budget = LogBudget::new("/plugins/p.wasm".into(), None);
        let shared = budget.clone();
        assert_eq!(shared.take(1).as_deref(), Some("/plugins/p.wasm"));
        budget.relabel("p".into());
        assert_eq!(shared.take(1).as_deref(), Some("p"));
        budget.settle();
        assert_eq!(shared.label().as_ref(), "p", "settling keeps the name");
    }
}
