//! Serving plugins to other languages and processes: JSON-RPC 2.0 over stdio with Airlock's
//! own methods ([`service`]), and the Model Context Protocol ([`mcp`]) over stdio and
//! streamable HTTP. Both sit on one [`crate::registry::Registry`].

pub mod errors;
pub mod http;
pub mod jsonrpc;
pub mod lines;
pub mod mcp;
pub mod progress;
pub mod service;

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use airlock::plugin::Cancel;
use jsonrpc::Request;
use lines::{Handler, Outbox};
pub use mcp::McpServer;
pub use service::Service;

/// The largest frame (one line) read from stdio by default: 8 MiB.
pub const MAX_FRAME: usize = 8 << 20;

impl Handler for Service {
    async fn handle(&self, request: Request, outbox: &Outbox) -> Option<Value> {
        // The Language Server Protocol's cancellation, which JSON-RPC clients know: the
        // cancelled request ends with -32800 (`errors::CANCELLED`).
        if request.method == "$/cancelRequest" {
            self.in_flight().cancel(&request.params["id"]);
            // Sent as a request by mistake: answered, so the client does not wait.
            return request.id.map(|id| jsonrpc::response(id, Ok(Value::Null)));
        }
        let Some(id) = request.id else {
            // A notification runs, but is never answered, not even with an error.
            let _ = self.call(&request.method, request.params).await;
            return None;
        };
        let wanted = progress::jsonrpc_wanted(&request.params);
        // Boxed: the call's future is large, and is moved into whichever wrapper runs it.
        let call = Box::pin(self.call(&request.method, request.params));
        // `$/progress` notifications tied to the request id (if asked for), while it runs.
        let forward = wanted.then_some(|event| {
            let _ = outbox.send(progress::jsonrpc_notification(&id, &event));
        });
        let call = progress::forwarding(call, forward);
        let (result, cancelled) = self.in_flight().run(&id, call).await;
        // Whatever the method made of it (a hook chain goes on past a cancelled stage), a
        // cancelled request ends as cancelled.
        let result = match cancelled {
            true => Err(errors::cancelled()),
            false => result,
        };
        Some(jsonrpc::response(id, result))
    }
}

/// The requests in flight on one connection, by id, each with its cancellation: what a
/// JSON-RPC `$/cancelRequest` or an MCP `notifications/cancelled` fires
/// ([`airlock::plugin::cancellable`]). Requests are handled concurrently, so a cancel can
/// overtake the request it names: such a cancel is remembered for [`EARLY_CANCEL`] (at most
/// [`EARLY_CANCELS`] of them) and the request starts cancelled. Only running requests and
/// those remembered cancels are held, so it stays bounded.
#[derive(Clone, Default)]
pub struct InFlight(Arc<std::sync::Mutex<Requests>>);

/// How long a cancel for a request not (yet) in flight is remembered.
pub const EARLY_CANCEL: std::time::Duration = std::time::Duration::from_secs(10);
/// Most cancels remembered for requests not (yet) in flight.
pub const EARLY_CANCELS: usize = 64;

#[derive(Default)]
struct Requests {
    /// By request id (its JSON text): each running copy's token and cancellation. A client
    /// may reuse an id while a request with it runs; a cancel reaches every copy.
    running: std::collections::HashMap<String, Vec<(u64, Cancel)>>,
    next_token: u64,
    early: std::collections::VecDeque<(String, std::time::Instant)>,
}

impl InFlight {
    fn requests(&self) -> std::sync::MutexGuard<'_, Requests> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `work` for request `id`, cancellable by that id while it runs: its output and
    /// whether it was cancelled.
    pub async fn run<F: std::future::Future>(&self, id: &Value, work: F) -> (F::Output, bool) {
        let key = id.to_string();
        let cancel = Cancel::new();
        let token = {
            let mut requests = self.requests();
            let now = std::time::Instant::now();
            requests
                .early
                .retain(|(_, at)| now.duration_since(*at) < EARLY_CANCEL);
            if let Some(at) = requests.early.iter().position(|(early, _)| *early == key) {
                requests.early.remove(at);
                cancel.cancel();
            }
            requests.next_token += 1;
            let token = requests.next_token;
            requests
                .running
                .entry(key.clone())
                .or_default()
                .push((token, cancel.clone()));
            token
        };
        // Forgotten however the work ends (a dropped connection drops it mid-way).
        let _forget = Forget(self, key, token);
        let output = airlock::plugin::cancellable(cancel.clone(), work).await;
        (output, cancel.is_cancelled())
    }

    /// Cancels request `id`: every running copy, or the request once it starts (if it
    /// does within [`EARLY_CANCEL`]; a cancel for a finished request is dropped then).
    pub fn cancel(&self, id: &Value) {
        let key = id.to_string();
        let mut requests = self.requests();
        match requests.running.get(&key) {
            Some(copies) => copies.iter().for_each(|(_, cancel)| cancel.cancel()),
            None => {
                if requests.early.len() == EARLY_CANCELS {
                    requests.early.pop_front();
                }
                requests.early.push_back((key, std::time::Instant::now()));
            }
        }
    }
}

struct Forget<'a>(&'a InFlight, String, u64);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        let mut requests = self.0.requests();
        if let Some(copies) = requests.running.get_mut(&self.1) {
            copies.retain(|(token, _)| *token != self.2);
            if copies.is_empty() {
                requests.running.remove(&self.1);
            }
        }
    }
}

type Input = tokio::io::BufReader<Box<dyn tokio::io::AsyncRead + Send + Unpin>>;
type Output = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

/// Standard input and output as the protocol's byte streams, and what undoes their set-up
/// (dropped when serving ends).
///
/// Where they are pipes, as a client that starts the server makes them, they are read and
/// written in non-blocking mode on the runtime's reactor: tokio's `stdin()`/`stdout()` hand
/// every read and every flush to a blocking thread, which cost ~60 µs of CPU per request
/// (`BENCHMARKS.md`, the servers under load). Non-blocking mode belongs to the pipe end, not
/// to this process's descriptor, so it is undone when serving ends, and standard output
/// stays blocking when standard error shares its pipe end (`2>&1`): log lines must never
/// meet `EAGAIN`. Anything else (a terminal, a file, a socket) goes through tokio's.
fn protocol_stdio() -> (Input, Output, RestoreFlags) {
    use std::os::fd::AsFd;
    use tokio::net::unix::pipe;
    let mut restore = RestoreFlags(Vec::new());
    let input: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match on_reactor(
        std::io::stdin().as_fd(),
        pipe::Receiver::from_owned_fd,
        &mut restore,
    ) {
        Some(pipe) => Box::new(pipe),
        None => Box::new(tokio::io::stdin()),
    };
    let output: Output = match on_reactor(
        std::io::stdout().as_fd(),
        pipe::Sender::from_owned_fd,
        &mut restore,
    ) {
        Some(pipe) => Box::new(pipe),
        None => Box::new(tokio::io::stdout()),
    };
    let input = tokio::io::BufReader::with_capacity(64 << 10, input);
    (input, output, restore)
}

/// `fd` as a pipe end in non-blocking mode (`open` fails unless it is a pipe), its former
/// flags added to `restore`; `None`, with the flags left as they were, when it is not a
/// pipe or when it turns out to share its pipe end with standard error.
fn on_reactor<P>(
    fd: std::os::fd::BorrowedFd<'_>,
    open: impl FnOnce(std::os::fd::OwnedFd) -> std::io::Result<P>,
    restore: &mut RestoreFlags,
) -> Option<P> {
    use std::os::fd::AsRawFd;
    let (number, flags, stderr) = (
        fd.as_raw_fd(),
        status_flags(fd.as_raw_fd())?,
        status_flags(2),
    );
    let pipe = open(fd.try_clone_to_owned().ok()?).ok()?;
    let undo = RestoreFlags(vec![(number, flags)]);
    if status_flags(2) != stderr {
        return None; // dropping `undo` puts the flags back
    }
    restore.0.extend(undo.take());
    Some(pipe)
}

/// `fd`'s file status flags (`F_GETFL`), if it is open.
fn status_flags(fd: i32) -> Option<i32> {
    // SAFETY: F_GETFL reads flags; an fd that is not open only makes it fail.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    (flags >= 0).then_some(flags)
}

/// File status flags to put back, per descriptor, when dropped.
struct RestoreFlags(Vec<(i32, i32)>);

impl RestoreFlags {
    /// The flags, no longer put back by this value.
    fn take(mut self) -> Vec<(i32, i32)> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for RestoreFlags {
    fn drop(&mut self) {
        for &(fd, flags) in &self.0 {
            // SAFETY: F_SETFL on a standard descriptor, with the flags it had before.
            unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
        }
    }
}

/// Serves Airlock's JSON-RPC methods on stdin/stdout until stdin closes.
pub async fn jsonrpc_stdio(service: Service, max_frame: usize) -> std::io::Result<()> {
    let (input, output, _restore) = protocol_stdio();
    lines::serve(
        input,
        output,
        Arc::new(service),
        mpsc::unbounded_channel(),
        max_frame,
    )
    .await
}

/// Serves MCP on stdin/stdout until stdin closes, announcing tool-list changes.
pub async fn mcp_stdio(server: McpServer, max_frame: usize) -> std::io::Result<()> {
    let (input, output, _restore) = protocol_stdio();
    mcp_stream(server, input, output, max_frame).await
}

/// Serves MCP on a newline-delimited byte stream until `input` ends, announcing tool-list
/// changes. At the end of input the requests in flight finish, their answers are written,
/// and this returns: the announcer never keeps the output open (a client that closes stdin
/// must not leave the server running).
pub async fn mcp_stream<R, W>(
    server: McpServer,
    input: R,
    output: W,
    max_frame: usize,
) -> std::io::Result<()>
where
    R: tokio::io::AsyncBufRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (outbox, inbox) = mpsc::unbounded_channel();
    let (announcements, heard) = mpsc::unbounded_channel();
    let follower = tokio::spawn(announce_tool_changes(server.clone(), announcements));
    let relay = tokio::spawn(relay_weakly(heard, outbox.downgrade()));
    let served = lines::serve(input, output, Arc::new(server), (outbox, inbox), max_frame).await;
    follower.abort();
    relay.abort();
    served
}

/// Passes announcements on to `outbox` while the server still writes: holding only a weak
/// sender, the relay never keeps the writer alive after the server is done.
async fn relay_weakly(
    mut heard: mpsc::UnboundedReceiver<Value>,
    outbox: mpsc::WeakUnboundedSender<Value>,
) {
    while let Some(message) = heard.recv().await {
        let Some(outbox) = outbox.upgrade() else {
            return;
        };
        if outbox.send(message).is_err() {
            return;
        }
    }
}

/// Sends `notifications/tools/list_changed` whenever a registry change (an enable, a
/// disable, a reload) changes the tenant's tool list.
pub async fn announce_tool_changes(server: McpServer, outbox: Outbox) {
    let mut events = server.registry().events();
    let mut last = server.tools();
    loop {
        // Stop as soon as nobody listens (a client went away), not at the next change.
        let event = tokio::select! {
            _ = outbox.closed() => return,
            event = events.recv() => event,
        };
        if let Err(tokio::sync::broadcast::error::RecvError::Closed) = event {
            return;
        }
        let now = server.tools();
        if now != last {
            last = now;
            let notification =
                json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
            if outbox.send(notification).is_err() {
                return;
            }
        }
    }
}
