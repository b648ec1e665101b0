//! Partial results and progress from inside a call (`airlock:plugin/progress@0.2.0`): what
//! you send here reaches the caller while your tool runs — LLM tokens as they come, a long
//! job's steps. When nobody listens both functions do nothing, so call them freely; the
//! tool's result is still what the caller gets in the end.
//!
//! ```ignore
//! for (i, word) in words.iter().enumerate() {
//!     airlock_sdk::progress::emit(word);
//!     airlock_sdk::progress::report(i as u64 + 1, Some(words.len() as u64), "");
//! }
//! ```
//!
//! The host caps what one call sends (a chunk at 64 KiB, a message at 1 KiB, and a count and
//! total size per call) and drops what is past a cap; a slow listener makes these calls
//! wait, counted against the call's deadline.

use crate::bindings::plugin_world::airlock::plugin::progress;

/// Sends `chunk` (text) to the caller now.
pub fn emit(chunk: &str) {
    progress::emit(chunk);
}

/// Reports `done` units of `total` (`None` when unknown), with a short `message` (may be
/// empty).
pub fn report(done: u64, total: Option<u64>, message: &str) {
    progress::report(done, total, message);
}
