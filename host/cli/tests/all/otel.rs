//! OpenTelemetry export (feature `otel`): with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the real
//! `airlock` binary sends each call's span, with the plugin's log records as its events, to
//! an OTLP/HTTP receiver — here a loopback one that records what it is sent — and flushes
//! them before it exits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

use airlock_guests as guests;
use serde_json::Value;

use crate::hostile_text::SHOWN;

/// A loopback OTLP/HTTP receiver: every request's path and JSON body.
struct Receiver {
    address: String,
    received: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for connection in listener.incoming() {
                let Ok(mut connection) = connection else {
                    return;
                };
                if let Some(request) = read_request(&mut connection) {
                    sink.lock().unwrap().push(request);
                }
                let _ = connection.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                );
            }
        });
        Receiver { address, received }
    }

    /// Every span the receiver was sent, across requests and resources.
    fn spans(&self) -> Vec<Value> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .flat_map(|(_, body)| {
                body["resourceSpans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
            .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// One HTTP/1.1 request with a `Content-Length` body: its path and body as JSON.
fn read_request(connection: &mut std::net::TcpStream) -> Option<(String, Value)> {
    let mut reader = BufReader::new(connection);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split(' ').nth(1)?.to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, serde_json::from_slice(&body).ok()?))
}

/// An attribute's value, as OTLP/JSON writes it (`{"stringValue": …}`, `{"intValue": "…"}`).
fn attribute<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    let attributes = item["attributes"].as_array()?;
    let found = attributes.iter().find(|a| a["key"] == key)?;
    found["value"].as_object()?.values().next()
}

fn call(receiver: &Receiver, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.address)
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    // `call` exits 1 when the call failed; anything else is the command failing.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "airlock {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_call_is_exported_as_a_span_with_the_plugins_log_records() {
    let receiver = Receiver::start();
    call(&receiver, &["call", guests::GARISH, "shout"]);
    call(
        &receiver,
        &["call", guests::HOSTILE, "spin", "--fuel", "1000000"],
    );

    let requests = receiver.received.lock().unwrap().clone();
    assert!(
        requests.iter().all(|(path, _)| path == "/v1/traces"),
        "{requests:?}"
    );
    let service = &requests[0].1["resourceSpans"][0]["resource"];
    assert_eq!(
        attribute(service, "service.name"),
        Some(&Value::from("airlock"))
    );

    let spans = receiver.spans();
    let calls: Vec<&Value> = spans.iter().filter(|s| s["name"] == "call").collect();
    assert_eq!(calls.len(), 2, "one span per call: {spans:#?}");
    let shout = calls
        .iter()
        .find(|s| attribute(s, "tool") == Some(&"shout".into()))
        .unwrap();
    assert_eq!(attribute(shout, "plugin"), Some(&"garish".into()));
    assert_eq!(attribute(shout, "tenant"), Some(&"default".into()));
    assert_eq!(attribute(shout, "outcome"), Some(&"ok".into()));
    let fuel = attribute(shout, "fuel").expect("fuel");
    let fuel: u64 = fuel
        .as_str()
        .map_or_else(|| fuel.as_u64(), |s| s.parse().ok())
        .unwrap();
    assert!(fuel > 0, "{shout:#}");
    // Its log records are its events, escaped as everywhere else.
    let events = shout["events"].as_array().expect("events");
    let said: Vec<String> = events
        .iter()
        .map(|e| format!("{} {}", e["name"], e["attributes"]))
        .collect();
    assert!(
        said.iter()
            .any(|e| e.contains(&SHOWN.replace('\\', "\\\\"))),
        "the plugin's log record: {said:#?}"
    );
    assert!(
        said.iter()
            .all(|e| !e.contains('\u{1b}') && !e.contains("\\u001b")),
        "no raw escape: {said:#?}"
    );

    let spin = calls
        .iter()
        .find(|s| attribute(s, "tool") == Some(&"spin".into()))
        .unwrap();
    assert_eq!(attribute(spin, "outcome"), Some(&"fuel-exhausted".into()));
}
