//! Shared pieces of the fuzz targets: one tokio runtime and one empty registry per fuzzing
//! process (built once, never per input), a driver that feeds raw bytes through the real
//! line-framed server (`airlock_server::serve::lines::serve`) into memory, and the checks every
//! JSON-RPC answer must pass. The targets themselves are in `fuzz_targets/`.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use airlock::policy::Policy;
use airlock_server::registry::Registry;
use airlock_server::serve::jsonrpc::{self, Frame};
use airlock_server::serve::lines::{self, Handler};
use serde_json::Value;
use tokio::sync::mpsc;

/// The frame cap the line targets serve with: small, so fuzzed inputs cross it both ways.
pub const MAX_FRAME: usize = 1024;

/// The read buffer of the line driver: small, so frames arrive in several chunks.
const READ_CHUNK: usize = 64;

/// One single-threaded tokio runtime for the whole fuzzing process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// A scratch directory of this process (`$TMPDIR/airlock-fuzz/PID`), also made the working
/// directory, so that `plugin/load` with a fuzzed relative path finds no real plugin
/// folder (the repository's examples) and the campaign stays about the protocol.
pub fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir()
            .join("airlock-fuzz")
            .join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        std::env::set_current_dir(&dir).expect("the scratch directory as working directory");
        dir
    })
}

/// An empty registry (no plugin installed, the default policy) in the scratch directory,
/// on a runtime without an instance pool or artifact cache: nothing is compiled, and
/// every method answers from the registry alone.
pub fn registry() -> Arc<Registry> {
    static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            let _inside = runtime().enter();
            let engine = airlock::Runtime::builder()
                .instance_pool(None)
                .no_cache()
                .build()
                .expect("an Airlock runtime");
            let path = scratch_dir().join("registry.db");
            Arc::new(Registry::open(&path, engine, Policy::default()).expect("a registry"))
        })
        .clone()
}

/// Polls `future` once with a waker that does nothing: for futures that must finish
/// without waiting on anything (no I/O, no timers). `None` when it did not.
pub fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Everything written to it, kept in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Serves `input` (as if read from stdin) with `handler` until it ends; returns what was
/// written to stdout.
pub fn serve_bytes<H: Handler>(handler: Arc<H>, input: &[u8]) -> Vec<u8> {
    let output = Capture::default();
    let reader = tokio::io::BufReader::with_capacity(READ_CHUNK, input);
    let served = lines::serve(
        reader,
        output.clone(),
        handler,
        mpsc::unbounded_channel(),
        MAX_FRAME,
    );
    runtime()
        .block_on(served)
        .expect("serving from memory into memory cannot fail");
    std::mem::take(&mut *output.0.lock().expect("not poisoned"))
}

/// Serves `input` and checks the answers: every line written is one well-formed JSON-RPC
/// response, or a non-empty array of them; and the answers are exactly the ones the
/// frames call for (see [`expected_answers`]), matched by id.
pub fn serve_and_check<H: Handler>(handler: Arc<H>, input: &[u8]) {
    let refuses_batches = handler_refuses_batches(&*handler);
    let output = serve_bytes(handler, input);
    let mut answered = answers(&output);
    let mut expected = expected_answers(input, refuses_batches);
    answered.sort();
    expected.sort();
    assert_eq!(
        answered,
        expected,
        "answers do not match the requests; output: {}",
        String::from_utf8_lossy(&output)
    );
}

/// One answer line, summarised for comparison: `id` for one response, `[id, …]` (ids
/// sorted) for a batch.
type Summary = String;

/// The answer lines in `output`, each checked and summarised.
fn answers(output: &[u8]) -> Vec<Summary> {
    let text = std::str::from_utf8(output).expect("answers are UTF-8");
    let Some(text) = text.strip_suffix('\n').or(text.is_empty().then_some("")) else {
        panic!("the last answer is not terminated by a newline: {text:?}");
    };
    if text.is_empty() {
        return Vec::new();
    }
    text.split('\n')
        .map(|line| {
            let answer: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("answer line is not JSON ({e}): {line}"));
            match answer {
                Value::Array(items) => {
                    assert!(!items.is_empty(), "an empty batch answer: {line}");
                    batch_summary(items.iter().map(|r| check_response(r).clone()).collect())
                }
                single => id_summary(check_response(&single)),
            }
        })
        .collect()
}

/// An id as text. A fractional id is summarised as `<float>`: serde_json's default float
/// parsing is not exactly round-trip, so the value read back from an answer may differ in
/// the last digit from the one read from the request, which is no protocol fault.
fn id_summary(id: &Value) -> Summary {
    match id {
        Value::Number(n) if n.is_f64() => "<float>".into(),
        other => other.to_string(),
    }
}

fn batch_summary(ids: Vec<Value>) -> Summary {
    let mut texts: Vec<String> = ids.iter().map(id_summary).collect();
    texts.sort();
    format!("[{}]", texts.join(","))
}

/// Checks one response object against JSON-RPC 2.0 §5 and returns its id: `jsonrpc` is
/// "2.0", the id a string, number or null, exactly one of `result` and `error`, and an
/// error has an integer code in the range reserved for the implementation
/// (-32768..=-32000), a string message and nothing else but `data`.
pub fn check_response(response: &Value) -> &Value {
    let object = response
        .as_object()
        .unwrap_or_else(|| panic!("a response is not an object: {response}"));
    assert_eq!(
        object.get("jsonrpc"),
        Some(&Value::from("2.0")),
        "{response}"
    );
    assert!(
        object
            .keys()
            .all(|k| ["jsonrpc", "id", "result", "error"].contains(&k.as_str())),
        "unexpected member in {response}"
    );
    let id = object
        .get("id")
        .unwrap_or_else(|| panic!("a response without id: {response}"));
    assert!(
        matches!(id, Value::String(_) | Value::Number(_) | Value::Null),
        "bad id in {response}"
    );
    match (object.get("result"), object.get("error")) {
        (Some(_), None) => {}
        (None, Some(Value::Object(error))) => {
            let code = error.get("code").and_then(Value::as_i64);
            assert!(
                code.is_some_and(|c| (-32768..=-32000).contains(&c)),
                "error code outside the reserved range in {response}"
            );
            assert!(
                error.get("message").is_some_and(Value::is_string),
                "{response}"
            );
            assert!(
                error
                    .keys()
                    .all(|k| ["code", "message", "data"].contains(&k.as_str())),
                "unexpected error member in {response}"
            );
        }
        _ => panic!("not exactly one of result and error: {response}"),
    }
    id
}

/// The answers `input` calls for, frame by frame (one per line, as the server splits
/// them): an over-long frame gets an error with a null id; an unparsable or invalid frame
/// its error response; a request (with an id, even null) its response; a notification
/// nothing; a batch one array holding the answers of its members, or nothing when all are
/// notifications.
pub fn expected_answers(input: &[u8], refuses_batches: bool) -> Vec<Summary> {
    let mut frames: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
    if frames.last().is_some_and(|last| last.is_empty()) {
        frames.pop();
    }
    frames
        .into_iter()
        .filter_map(|frame| {
            if frame.len() > MAX_FRAME {
                return Some(id_summary(&Value::Null));
            }
            if frame.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
            match jsonrpc::parse_bytes(frame) {
                Frame::Invalid(reply) | Frame::Single(Err(reply)) => Some(id_summary(&reply["id"])),
                Frame::Single(Ok(request)) => request.id.as_ref().map(id_summary),
                // A response from the other side is never answered.
                Frame::Response => None,
                // A protocol without batches (MCP) refuses the whole batch with one error.
                Frame::Batch(_) if refuses_batches => Some(id_summary(&Value::Null)),
                Frame::Batch(items) => {
                    let ids: Vec<Value> = items
                        .into_iter()
                        .filter_map(|item| match item {
                            Err(reply) => Some(reply["id"].clone()),
                            Ok(request) => request.id,
                        })
                        .collect();
                    (!ids.is_empty()).then(|| batch_summary(ids))
                }
            }
        })
        .collect()
}

/// Whether `handler` refuses batches (MCP) instead of answering them with an array.
fn handler_refuses_batches<H: Handler>(handler: &H) -> bool {
    handler.refuses_batches().is_some()
}
