//! count-vowels as an ordinary subprocess plugin, the way many plugin systems run tools:
//!
//! - `vowels-stdio --serve`: persistent. Newline-delimited JSON-RPC 2.0 on stdin/stdout:
//!   `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"count_vowels","arguments":{"text":"…"}}}`
//!   → `{"jsonrpc":"2.0","id":1,"result":{"count":…,"total":…,"vowels":"aeiouAEIOU"}}`.
//!   The running total lives as long as the process.
//! - `vowels-stdio`: one shot. The tool's JSON arguments on stdin (or as the first
//!   argument), the result JSON on stdout, exit 0 (exit 1 and a message on stderr on error).

use std::io::{BufRead, BufWriter, Read, Write};

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Request<'a> {
    #[allow(dead_code)]
    jsonrpc: &'a str,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    method: &'a str,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    name: &'a str,
    #[serde(borrow)]
    arguments: &'a RawValue,
}

fn main() {
    let serve = std::env::args().nth(1);
    match serve.as_deref() {
        Some("--serve") => serve_stdio(),
        Some(arguments) => one_shot(arguments.to_string()),
        None => {
            let mut arguments = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut arguments) {
                eprintln!("reading stdin: {e}");
                std::process::exit(1);
            }
            one_shot(arguments)
        }
    }
}

fn one_shot(arguments: String) {
    let mut total = 0;
    match vowels_core::count_vowels(&mut total, &arguments) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(out.as_bytes());
            let _ = stdout.write_all(b"\n");
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

fn serve_stdio() {
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut total = 0u64;
    for line in stdin.lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Request>(&line) {
            Err(e) => error(None, -32700, &format!("parse error: {e}")),
            Ok(req) => {
                let id = req.id;
                match (req.method, req.params) {
                    ("tools/call", Some(p)) if p.name == "count_vowels" => {
                        match vowels_core::count_vowels(&mut total, p.arguments.get()) {
                            Ok(result) => format!(
                                r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
                                id.map_or("null", |i| i.get())
                            ),
                            Err(e) => error(id, -32602, &e),
                        }
                    }
                    ("tools/call", _) => error(id, -32602, "unknown tool or missing params"),
                    _ => error(id, -32601, "method not found"),
                }
            }
        };
        if out.write_all(reply.as_bytes()).is_err()
            || out.write_all(b"\n").is_err()
            || out.flush().is_err()
        {
            break;
        }
    }
}

fn error(id: Option<&RawValue>, code: i32, message: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":{code},"message":{}}}}}"#,
        id.map_or("null", |i| i.get()),
        serde_json::Value::String(message.to_string())
    )
}
