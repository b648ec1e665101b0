//! [`LogBudget`]: how much a plugin can make the host log in one call, counted in records
//! and in bytes over every path that logs on its behalf — `airlock:plugin/host` log
//! records, captured stdout/stderr lines, exec reports. Counting records as well as bytes
//! matters: a million empty records cost the host far more than their zero bytes of text.
//!
//! Past either cap, records are dropped and counted; when the call ends, one line says how
//! many were dropped. The budget starts afresh with every call.

use std::sync::{Arc, Mutex};

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
    records: usize,
    bytes: usize,
    dropped_records: usize,
    dropped_bytes: usize,
}

/// One instance's log budget. Cheap to clone; clones share the count, so the stdio
/// captures and the host imports draw from the same budget.
#[derive(Clone)]
pub(crate) struct LogBudget {
    plugin: Arc<str>,
    spent: Arc<Mutex<Spent>>,
}

impl LogBudget {
    pub(crate) fn new(plugin: Arc<str>) -> Self {
        LogBudget {
            plugin,
            spent: Arc::default(),
        }
    }

    /// Takes room for one record of `text_bytes`; false (and the record counted as
    /// dropped) when the call's budget has no room left for it.
    pub(crate) fn admit(&self, text_bytes: usize) -> bool {
        let cost = text_bytes.saturating_add(RECORD_OVERHEAD);
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        let fits = spent.records < LOG_RECORDS && spent.bytes.saturating_add(cost) <= LOG_BYTES;
        match fits {
            true => {
                spent.records += 1;
                spent.bytes += cost;
            }
            false => {
                spent.dropped_records += 1;
                spent.dropped_bytes = spent.dropped_bytes.saturating_add(text_bytes);
            }
        }
        fits
    }

    /// Ends the call's budget: logs one line if records were dropped, and starts afresh.
    pub(crate) fn settle(&self) {
        let spent = std::mem::take(&mut *self.spent.lock().unwrap_or_else(|e| e.into_inner()));
        if spent.dropped_records > 0 {
            tracing::warn!(
                plugin = %self.plugin,
                dropped_records = spent.dropped_records,
                dropped_bytes = spent.dropped_bytes,
                "{} log records dropped ({} bytes): the call reached its log budget of \
                 {LOG_RECORDS} records or {LOG_BYTES} bytes",
                spent.dropped_records,
                spent.dropped_bytes,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_records_as_well_as_bytes() {
        let budget = LogBudget::new("p".into());
        let admitted = (0..LOG_RECORDS * 3).filter(|_| budget.admit(0)).count();
        assert_eq!(admitted, LOG_RECORDS);
        let spent = budget.spent.lock().unwrap();
        assert_eq!(spent.dropped_records, 2 * LOG_RECORDS);
    }

    #[test]
    fn counts_bytes_and_starts_afresh_after_settling() {
        let budget = LogBudget::new("p".into());
        let big = LOG_BYTES / 4;
        let admitted = (0..10).filter(|_| budget.admit(big)).count();
        assert_eq!(
            admitted, 3,
            "three records and their overhead fit, the fourth not"
        );
        budget.settle();
        assert!(budget.admit(big));
    }
}
