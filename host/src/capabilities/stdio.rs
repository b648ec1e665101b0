//! Stdio: always granted, never inherited. Stdout/stderr of a plugin instance are captured: every complete line goes to the host's
//! `tracing` log tagged with the plugin's name, under the call's [`LogBudget`] (records and
//! bytes), and the recent stderr tail is kept so a trap can report the guest's panic message.
//!
//! Writes never fail or block: past the budget, output is dropped and counted, never trapped
//! on (a guest that prints too much is not an error worth killing it for).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::p2::bindings::cli;

use super::{Capability, Missing, Prepare, Scope};
use crate::log_budget::LogBudget;
use crate::store::InstanceState;

pub const NAME: &str = "stdio";
/// The `tracing` target of captured stdout/stderr lines (see [`crate::PLUGIN_LOG_TARGETS`]).
pub const LOG_TARGET: &str = module_path!();
/// Streams and the CLI plumbing every Rust wasip2 binary imports; stdin is closed.
pub const IMPORTS: &[&str] = &[
    "wasi:io/",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-",
    "wasi:cli/exit",
];

/// The stdio capability (see the module docs): nothing to request or allow.
pub struct Stdio;

impl Capability for Stdio {
    const NAME: &'static str = NAME;
    const IMPORTS: &'static [&'static str] = IMPORTS;
    type Request = ();
    type Allow = ();
    type Grant = ();
    type Instance = ();

    fn grant(_: &(), _: &(), _: &Scope<'_>) -> ((), Vec<Missing>) {
        ((), Vec::new())
    }

    /// `wasi:io/*` (the streams every other WASI interface hands out) and the CLI plumbing.
    fn link(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
        wasmtime_wasi_io::add_to_linker_async(linker)?;
        let l = linker;
        cli::exit::add_to_linker::<_, WasiCli>(l, InstanceState::cli)?;
        cli::stdin::add_to_linker::<_, WasiCli>(l, InstanceState::cli)?;
        cli::stdout::add_to_linker::<_, WasiCli>(l, InstanceState::cli)?;
        cli::stderr::add_to_linker::<_, WasiCli>(l, InstanceState::cli)?;
        cli::terminal_input::add_to_linker::<_, WasiCli>(l, InstanceState::cli)?;
        cli::terminal_output::add_to_linker::<_, WasiCli>(l, InstanceState::cli)?;
        cli::terminal_stdin::add_to_linker::<_, WasiCli>(l, InstanceState::cli)?;
        cli::terminal_stdout::add_to_linker::<_, WasiCli>(l, InstanceState::cli)?;
        cli::terminal_stderr::add_to_linker::<_, WasiCli>(l, InstanceState::cli)
    }

    /// Stdout and stderr go to the instance's captures; stdin stays closed.
    fn prepare(_: &(), instance: &mut Prepare<'_>) -> wasmtime::Result<()> {
        instance
            .wasi
            .stdout(instance.stdout.clone())
            .stderr(instance.stderr.clone());
        Ok(())
    }

    fn audit(_: &(), _: &(), _: Option<&()>) -> Option<super::AuditRow> {
        None
    }
}

impl wasmtime_wasi_io::IoView for InstanceState {
    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

/// Bytes of recent stderr kept for panic reports.
const TAIL_CAP: usize = 8 << 10;
/// Longest line forwarded to the log; longer lines are cut (and only this much of a line
/// is buffered while waiting for its end).
const LINE_CAP: usize = 4 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

#[derive(Default)]
struct Capture {
    /// The start of the current line, at most [`LINE_CAP`] bytes.
    pending: Vec<u8>,
    tail: Vec<u8>,
}

/// One captured stream of one instance. Cheap to clone; clones share the buffer.
#[derive(Clone)]
pub(crate) struct OutputCapture {
    stream: Stream,
    budget: LogBudget,
    state: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    capture: Mutex<Capture>,
    /// Whether the tail holds anything: most calls print nothing, and clearing the tail at
    /// the start of every call then skips the lock.
    has_tail: AtomicBool,
}

impl OutputCapture {
    /// A capture of `stream` whose lines draw on `budget`.
    pub(crate) fn new(stream: Stream, budget: LogBudget) -> Self {
        OutputCapture {
            stream,
            budget,
            state: Arc::default(),
        }
    }

    fn capture(&self) -> std::sync::MutexGuard<'_, Capture> {
        self.state.capture.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accept(&self, bytes: &[u8]) {
        let mut state = self.capture();
        state.tail.extend_from_slice(bytes);
        self.state.has_tail.store(true, Ordering::Release);
        if state.tail.len() > TAIL_CAP {
            let cut = state.tail.len() - TAIL_CAP;
            state.tail.drain(..cut);
        }
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            buffer(&mut state.pending, &rest[..end]);
            self.emit(&state.pending);
            state.pending.clear();
            rest = &rest[end + 1..];
        }
        buffer(&mut state.pending, rest);
    }

    /// Logs one line, if the call's budget has room for it.
    fn emit(&self, line: &[u8]) {
        use crate::log_tap::{LogLevel, LogSource};
        let text = sanitize(line);
        let (level, source) = match self.stream {
            Stream::Stdout => (LogLevel::Info, LogSource::Stdout),
            Stream::Stderr => (LogLevel::Warn, LogSource::Stderr),
        };
        let Some(plugin) = self.budget.admit(level, source, &text) else {
            return;
        };
        match self.stream {
            Stream::Stdout => tracing::info!(plugin = %plugin, stream = "stdout", "{text}"),
            Stream::Stderr => tracing::warn!(plugin = %plugin, stream = "stderr", "{text}"),
        }
    }

    /// Forgets the stderr tail (called when a new call starts).
    pub(crate) fn clear_tail(&self) {
        if !self.state.has_tail.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.capture();
        state.tail.clear();
        self.state.has_tail.store(false, Ordering::Release);
    }

    /// The recent output, lossily decoded.
    pub(crate) fn tail(&self) -> String {
        String::from_utf8_lossy(&self.capture().tail).into_owned()
    }
}

/// Adds `bytes` to the line being collected, keeping at most [`LINE_CAP`] bytes of it.
fn buffer(pending: &mut Vec<u8>, bytes: &[u8]) {
    let room = LINE_CAP.saturating_sub(pending.len());
    pending.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// Makes guest text safe to print: lossily decoded, then [`crate::text::escape`]d
/// (controls, CR/LF, bidi and invisible characters shown escaped instead of interpreted).
pub(crate) fn sanitize(bytes: &[u8]) -> String {
    crate::text::escape_bytes(bytes)
}

/// Extracts the message of a Rust panic from the default panic hook's output:
/// `thread '…' panicked at src/lib.rs:1:2:\n<message>\nnote: …`.
pub(crate) fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let after = &stderr[start + "panicked at ".len()..];
    let (location, rest) = after.split_once(":\n")?;
    let message = rest.split("\nnote: ").next().unwrap_or(rest).trim_end();
    Some(format!(
        "{} at {}",
        sanitize(message.as_bytes()),
        sanitize(location.as_bytes())
    ))
}

impl IsTerminal for OutputCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputCapture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutputCapture {
    async fn ready(&mut self) {}
}

impl OutputStream for OutputCapture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.accept(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for OutputCapture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.accept(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_panic_message() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:70:17:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("boom at src/lib.rs:70:17")
        );
        assert_eq!(panic_message("no panic here"), None);
    }

    #[test]
    fn escapes_terminal_control_sequences() {
        assert_eq!(sanitize(b"red \x1b[31m!"), "red \\u{1b}[31m!");
    }

    #[test]
    fn buffers_at_most_a_line_but_keeps_the_tail() {
        let capture = OutputCapture::new(Stream::Stderr, LogBudget::new("p".into(), None));
        let chunk = vec![b'a'; 64 << 10];
        for _ in 0..32 {
            capture.accept(&chunk);
        }
        let state = capture.capture();
        assert_eq!(state.pending.len(), LINE_CAP);
        assert_eq!(state.tail.len(), TAIL_CAP);
    }

    /// A call starts with an empty tail, however the last one ended, and what it prints
    /// is kept again after the clearing.
    #[test]
    fn clearing_the_tail_empties_it_and_later_output_is_kept() {
        let capture = OutputCapture::new(Stream::Stderr, LogBudget::new("p".into(), None));
        capture.clear_tail();
        capture.accept(b"first call\n");
        assert_eq!(capture.tail(), "first call\n");
        capture.clear_tail();
        assert_eq!(capture.tail(), "");
        capture.clear_tail();
        capture.accept(b"second");
        assert_eq!(capture.tail(), "second");
    }
}
