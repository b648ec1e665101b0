//! Logging into the host's log. Records are tagged with the plugin's name by the host.
//!
//! Use the macros at the crate root: `airlock_sdk::info!("loaded {n} rules")`.

use crate::bindings::plugin_world::airlock::plugin::host::{self, LogLevel};

/// Severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Writes one record to the host's log.
pub fn write(level: Level, message: &str) {
    let level = match level {
        Level::Trace => LogLevel::Trace,
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    };
    host::log(level, message);
}

/// Logs at a level with `format!` arguments: `airlock_sdk::log!(Info, "x = {x}")`.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)+) => {
        $crate::log::write($crate::log::Level::$level, &::std::format!($($arg)+))
    };
}

/// Logs at trace level with `format!` arguments.
#[macro_export]
macro_rules! trace { ($($arg:tt)+) => { $crate::log!(Trace, $($arg)+) }; }
/// Logs at debug level with `format!` arguments.
#[macro_export]
macro_rules! debug { ($($arg:tt)+) => { $crate::log!(Debug, $($arg)+) }; }
/// Logs at info level with `format!` arguments.
#[macro_export]
macro_rules! info { ($($arg:tt)+) => { $crate::log!(Info, $($arg)+) }; }
/// Logs at warn level with `format!` arguments.
#[macro_export]
macro_rules! warn { ($($arg:tt)+) => { $crate::log!(Warn, $($arg)+) }; }
/// Logs at error level with `format!` arguments.
#[macro_export]
macro_rules! error { ($($arg:tt)+) => { $crate::log!(Error, $($arg)+) }; }
