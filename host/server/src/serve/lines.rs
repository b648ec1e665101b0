//! Newline-delimited JSON-RPC over a byte stream (stdio): one frame per line, every request
//! handled concurrently and answered as soon as it is done (responses may come out of order;
//! ids match them up), batches answered with one array (unless the protocol has none),
//! notifications and the client's responses never answered, bytes that are not UTF-8
//! answered with a parse error.
//! Frames over the size cap are skipped to their newline and answered with `-32600`, so a
//! hostile client cannot make the server buffer without bound. Only protocol goes to the
//! writer: logs belong on stderr.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::jsonrpc::{self, Frame, INVALID_REQUEST, Request, RpcError};

/// Answers requests; `None` for notifications (and anything else that gets no reply).
pub trait Handler: Send + Sync + 'static {
    /// `outbox` takes what the handler sends before its reply (progress notifications).
    fn handle(
        &self,
        request: Request,
        outbox: &Outbox,
    ) -> impl Future<Output = Option<Value>> + Send;

    /// Why batches are refused, when the protocol has none (MCP since 2025-06-18); `None`
    /// (the default, plain JSON-RPC 2.0) answers a batch with an array.
    fn refuses_batches(&self) -> Option<&'static str> {
        None
    }
}

/// Messages to write, in the order they are sent: responses and server notifications.
pub type Outbox = mpsc::UnboundedSender<Value>;

/// Serves `handler` until `input` ends, then waits for the requests in flight and returns.
/// Messages sent to `outbox` (e.g. server notifications) are written between responses.
pub async fn serve<R, W, H>(
    mut input: R,
    output: W,
    handler: Arc<H>,
    outbox: (Outbox, mpsc::UnboundedReceiver<Value>),
    max_frame: usize,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
    H: Handler,
{
    let (sender, receiver) = outbox;
    let writer = tokio::spawn(write_all(output, receiver));
    let mut in_flight = JoinSet::new();
    while let Some(frame) = next_frame(&mut input, max_frame).await? {
        let bytes = match frame {
            Ok(bytes) => bytes,
            Err(size) => {
                let error = RpcError::new(
                    INVALID_REQUEST,
                    format!(
                        "invalid request: frame of {size} bytes exceeds the {max_frame}-byte limit"
                    ),
                );
                let _ = sender.send(jsonrpc::response(Value::Null, Err(error)));
                continue;
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (handler, sender) = (handler.clone(), sender.clone());
        in_flight.spawn(async move {
            if let Some(reply) = answer(&*handler, jsonrpc::parse_bytes(&bytes), &sender).await {
                let _ = sender.send(reply);
            }
        });
        // Reap finished tasks as we go so the set does not grow with the session.
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    drop(sender);
    writer.await.unwrap_or(Ok(()))
}

/// The reply to one frame, if it gets one.
pub async fn answer<H: Handler>(handler: &H, frame: Frame, outbox: &Outbox) -> Option<Value> {
    match frame {
        Frame::Invalid(reply) | Frame::Single(Err(reply)) => Some(reply),
        Frame::Response => None,
        Frame::Single(Ok(request)) => handler.handle(request, outbox).await,
        Frame::Batch(items) => {
            if let Some(why) = handler.refuses_batches() {
                let error = RpcError::new(INVALID_REQUEST, why);
                return Some(jsonrpc::response(Value::Null, Err(error)));
            }
            let replies = futures_join(handler, items, outbox).await;
            (!replies.is_empty()).then_some(Value::Array(replies))
        }
    }
}

/// Every item of a batch handled concurrently; the replies of those that get one.
async fn futures_join<H: Handler>(
    handler: &H,
    items: Vec<Result<Request, Value>>,
    outbox: &Outbox,
) -> Vec<Value> {
    let mut pending = Vec::new();
    let mut replies = Vec::new();
    for item in items {
        match item {
            Err(reply) => replies.push(reply),
            Ok(request) => pending.push(handler.handle(request, outbox)),
        }
    }
    for reply in join_all(pending).await.into_iter().flatten() {
        replies.push(reply);
    }
    replies
}

/// Polls every future to completion concurrently, on this task.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        match done {
            true => std::task::Poll::Ready(()),
            false => std::task::Poll::Pending,
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// The next line (without its newline), `Err(size)` for a line over `max` bytes (skipped),
/// `None` at the end of input.
async fn next_frame<R: AsyncBufRead + Unpin>(
    input: &mut R,
    max: usize,
) -> std::io::Result<Option<Result<Vec<u8>, usize>>> {
    let mut line = Vec::new();
    let mut size = 0usize;
    loop {
        let buffer = input.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(match size {
                0 => None,
                _ if size > max => Some(Err(size)),
                _ => Some(Ok(line)),
            });
        }
        let (chunk, found) = match buffer.iter().position(|b| *b == b'\n') {
            Some(at) => (&buffer[..at], Some(at + 1)),
            None => (buffer, None),
        };
        size += chunk.len();
        if size <= max {
            line.extend_from_slice(chunk);
        } else {
            line = Vec::new();
        }
        let consumed = found.unwrap_or(buffer.len());
        input.consume(consumed);
        if found.is_some() {
            return Ok(Some(match size > max {
                true => Err(size),
                false => Ok(line),
            }));
        }
    }
}

/// Most bytes of replies gathered into one write.
const BATCH_BYTES: usize = 1 << 20;

async fn write_all<W: AsyncWrite + Unpin>(
    mut output: W,
    mut messages: mpsc::UnboundedReceiver<Value>,
) -> std::io::Result<()> {
    let mut lines = Vec::new();
    while let Some(message) = messages.recv().await {
        // One large reply must not keep its buffer for the rest of the session.
        if lines.capacity() > BATCH_BYTES {
            lines = Vec::new();
        }
        // Every message already waiting goes out with this one, in one write and one
        // flush: under load, one system call for many replies.
        lines.clear();
        let mut next = Some(message);
        while let Some(message) = next {
            serde_json::to_writer(&mut lines, &message).expect("a JSON value serialises");
            lines.push(b'\n');
            next = match lines.len() < BATCH_BYTES {
                true => messages.try_recv().ok(),
                false => None,
            };
        }
        if let Err(e) = async {
            output.write_all(&lines).await?;
            output.flush().await
        }
        .await
        {
            // The reader went away: nobody is left to answer; keep draining quietly.
            tracing::debug!("output closed: {e}");
            while messages.recv().await.is_some() {}
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_split_on_newlines_and_oversized_ones_are_skipped() {
        let input = b"{\"a\":1}\n0123456789abcdef\n\n{\"b\":2}".to_vec();
        let mut reader = tokio::io::BufReader::with_capacity(4, &input[..]);
        let mut frames = Vec::new();
        while let Some(frame) = next_frame(&mut reader, 10).await.unwrap() {
            frames.push(frame);
        }
        assert_eq!(
            frames,
            [
                Ok(b"{\"a\":1}".to_vec()),
                Err(16),
                Ok(Vec::new()),
                Ok(b"{\"b\":2}".to_vec())
            ]
        );
    }
}
