//! [`LogTap`]: the host application's own copy of what one plugin logs, next to `tracing`.
//!
//! A plugin's log records, its captured stdout/stderr lines and the reports of programs it
//! ran all go to `tracing` under [`crate::PLUGIN_LOG_TARGETS`]. A host that wants them per
//! plugin — a console's live tail, a per-tenant log store — gives the plugin a tap when it
//! loads it ([`LoadOptions::log_tap`](crate::LoadOptions::log_tap)); the tap then sees each
//! record the call's [`LogBudget`](crate::log_budget::LogBudget) admits, so it is bounded
//! exactly as the host's log is (1,000 records and 1 MiB per call, 16 KiB per record), and
//! its text is already [`escape`](crate::text::escape)d.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// How severe a record is, as the plugin said (`airlock:plugin/host.log`) or as the host
/// classed it (stdout: `info`, stderr: `warn`, an exec refusal: `warn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Which path the record came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// `airlock:plugin/host.log`.
    Log,
    /// A complete line the plugin wrote to stdout.
    Stdout,
    /// A complete line the plugin wrote to stderr.
    Stderr,
    /// The host's report of a program the plugin ran (or was refused).
    Exec,
    /// The host's report of an outbound HTTP request it refused or that failed.
    Http,
}

/// One record, as a tap sees it. Serialises as
/// `{"time_ms": 1764612345678, "level": "warn", "source": "stderr", "text": "…"}`.
#[derive(Debug, Clone, Serialize)]
pub struct LogRecord {
    /// When the host received it: milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub level: LogLevel,
    pub source: LogSource,
    /// The text, [`escape`](crate::text::escape)d: no control, bidi or invisible character
    /// survives, so it may go to a terminal or a log as it is (a web page still renders it
    /// as text, never as markup).
    pub text: String,
}

impl LogRecord {
    pub(crate) fn now(level: LogLevel, source: LogSource, text: &str) -> Self {
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        LogRecord {
            time_ms,
            level,
            source,
            text: text.to_string(),
        }
    }
}

/// A receiver of one plugin's log records. It is called on the plugin's call path, once per
/// admitted record, so it must be quick and must not block (push to a bounded buffer or a
/// channel). Cheap to clone.
///
/// ```
/// use airlock::{LoadOptions, log_tap::LogTap};
/// let (sender, _receiver) = std::sync::mpsc::channel();
/// let tap = LogTap::new(move |record| {
///     let _ = sender.send(record.clone());
/// });
/// let options = LoadOptions::default().log_tap(tap);
/// ```
#[derive(Clone)]
pub struct LogTap(Arc<dyn Fn(&LogRecord) + Send + Sync>);

impl LogTap {
    /// A tap that hands each record to `receive`.
    pub fn new(receive: impl Fn(&LogRecord) + Send + Sync + 'static) -> Self {
        LogTap(Arc::new(receive))
    }

    pub(crate) fn send(&self, level: LogLevel, source: LogSource, text: &str) {
        (self.0)(&LogRecord::now(level, source, text));
    }
}

impl std::fmt::Debug for LogTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogTap")
    }
}
