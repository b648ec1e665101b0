//! A client on an in-memory newline-delimited stream to a line-framed server
//! ([`airlock_server::serve::lines::serve`]: Airlock's JSON-RPC service or an MCP server), as
//! `airlock serve --stdio` and `airlock mcp` are driven, without a process.

use std::sync::Arc;
use std::time::Duration;

use airlock_server::serve::lines::{self, Handler, Outbox};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};

/// The client's ends of the stream.
pub struct LineClient {
    writer: WriteHalf<DuplexStream>,
    reader: tokio::io::Lines<BufReader<ReadHalf<DuplexStream>>>,
}

impl LineClient {
    /// Serves `handler` on a new stream (frames up to 1 MiB).
    pub fn start<H: Handler>(handler: H) -> LineClient {
        LineClient::start_with(handler, tokio::sync::mpsc::unbounded_channel())
    }

    /// [`LineClient::start`] with the server's outbox given (e.g. for announcements).
    pub fn start_with<H: Handler>(
        handler: H,
        outbox: (Outbox, tokio::sync::mpsc::UnboundedReceiver<Value>),
    ) -> LineClient {
        let (client, end) = tokio::io::duplex(1 << 16);
        let (read, write) = tokio::io::split(end);
        tokio::spawn(lines::serve(
            BufReader::new(read),
            write,
            Arc::new(handler),
            outbox,
            1 << 20,
        ));
        let (read, write) = tokio::io::split(client);
        LineClient {
            writer: write,
            reader: BufReader::new(read).lines(),
        }
    }

    /// Sends one message (one line).
    pub async fn send(&mut self, message: Value) {
        let line = format!("{message}\n");
        self.writer.write_all(line.as_bytes()).await.unwrap();
    }

    /// The next message, within 30 s.
    pub async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.reader.next_line())
            .await
            .expect("a message within 30 s")
            .unwrap()
            .expect("the server is still there");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Sends request `id` and returns the next message, which must be its reply.
    pub async fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let reply = self.recv().await;
        assert_eq!(reply["id"], id, "{reply}");
        reply
    }

    /// Sends `request` and reads up to its response: the messages before it, and it.
    pub async fn exchange(&mut self, request: Value) -> (Vec<Value>, Value) {
        let id = request["id"].clone();
        self.send(request).await;
        let mut before = Vec::new();
        loop {
            let message = self.recv().await;
            if message.get("id") == Some(&id) && message.get("method").is_none() {
                return (before, message);
            }
            before.push(message);
        }
    }
}
