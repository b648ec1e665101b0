//! Airlock's servers under load, as a client sees them: MCP `tools/call` over streamable HTTP
//! (`airlock mcp --http`, driven by `wrk` with 1, 8 and 64 connections), and JSON-RPC
//! `tool/call` over stdio (`airlock serve --stdio`, driven from here with 1, 8 and 64
//! requests in flight). Each level reports requests per second, the p50 and p99 latency,
//! failed requests, and the server's CPU time per call (its user + system time over the
//! level ÷ the calls it answered; at 8 and 64 clients the server is saturated).
//!
//! Both use the release `airlock` binary and the count-vowels plugin folder, enabled in a
//! throwaway registry; the client runs on the same two CPUs as the server, as it would on a
//! one-machine deployment, so the figures include its share.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The request levels: concurrent clients (HTTP connections, or stdio requests in flight).
pub const CLIENTS: [usize; 3] = [1, 8, 64];

const TOOL: &str = "count-vowels.count_vowels";

/// One front end at one level.
pub struct LoadRow {
    pub front: &'static str,
    pub clients: usize,
    pub requests: u64,
    pub per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Requests that failed (non-2xx, socket errors, JSON-RPC errors).
    pub failed: u64,
    /// The server's CPU time (user + system) per answered call.
    pub cpu_per_call: Duration,
}

/// Runs every level of both front ends for `each` per level.
pub fn measure(airlock: &str, plugin: &str, text: &str, each: Duration) -> Result<Vec<LoadRow>> {
    let registry = registry(airlock, plugin)?;
    let arguments = serde_json::json!({ "text": text });
    let mut rows = Vec::new();
    let mut server = Server::start(
        airlock,
        &registry,
        &["mcp", "--no-watch", "--http", "127.0.0.1:0"],
    )?;
    let url = format!("{}/mcp", server.address.as_deref().context("no address")?);
    let script = wrk_script(&registry, &arguments)?;
    check_http(&url)?;
    for clients in CLIENTS {
        rows.push(wrk(&url, &script, clients, each, server.pid())?);
    }
    server.stop();
    for clients in CLIENTS {
        let mut server = Server::start(airlock, &registry, &["serve", "--stdio", "--no-watch"])?;
        rows.push(stdio(&mut server, &arguments, clients, each)?);
        server.stop();
    }
    Ok(rows)
}

/// A throwaway registry with the plugin folder enabled; returns its path.
fn registry(airlock: &str, plugin: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("airlock-bench-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("registry.db");
    let out = Command::new(airlock)
        .args(["plugins", "--registry"])
        .arg(&db)
        .args(["enable", plugin])
        .output()
        .with_context(|| format!("running {airlock}"))?;
    if !out.status.success() {
        bail!(
            "enabling {plugin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(db)
}

struct Server {
    child: Child,
    address: Option<String>,
}

impl Server {
    fn start(airlock: &str, registry: &Path, args: &[&str]) -> Result<Server> {
        let http = args.contains(&"--http");
        let mut child = Command::new(airlock)
            .args(args)
            .env("AIRLOCK_REGISTRY", registry)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {airlock} {}", args.join(" ")))?;
        let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
        let mut address = None;
        if http {
            let mut line = String::new();
            loop {
                line.clear();
                if stderr.read_line(&mut line)? == 0 {
                    bail!("airlock {} exited before listening", args.join(" "));
                }
                if let Some(a) = line.trim().strip_prefix("airlock: listening on ") {
                    address = Some(a.to_string());
                    break;
                }
            }
        }
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Ok(Server { child, address })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The stateless MCP generation: no session to open, every request self-contained.
fn mcp_body(arguments: &serde_json::Value) -> String {
    serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": TOOL, "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    })
    .to_string()
}

const MCP_HEADERS: [(&str, &str); 5] = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json, text/event-stream"),
    ("MCP-Protocol-Version", "2026-07-28"),
    ("Mcp-Method", "tools/call"),
    ("Mcp-Name", TOOL),
];

/// A wrk script posting the `tools/call` request; written next to the registry.
fn wrk_script(registry: &Path, arguments: &serde_json::Value) -> Result<PathBuf> {
    let mut lua = String::from("wrk.method = \"POST\"\n");
    // Lua long brackets: the JSON needs no escaping.
    lua.push_str(&format!("wrk.body = [==[{}]==]\n", mcp_body(arguments)));
    for (name, value) in MCP_HEADERS {
        lua.push_str(&format!("wrk.headers[\"{name}\"] = \"{value}\"\n"));
    }
    let path = registry.with_file_name("tools-call.lua");
    std::fs::write(&path, lua)?;
    Ok(path)
}

/// One request by hand before the load: the server answers it with the count.
fn check_http(url: &str) -> Result<()> {
    let host = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .context("an http:// URL")?;
    let body = mcp_body(&serde_json::json!({"text": "aeiou"}));
    let mut request = format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in MCP_HEADERS {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.write_all(request.as_bytes())?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    if !reply.starts_with("HTTP/1.1 200") || !reply.contains(r#"\"count\":5"#) {
        bail!("MCP tools/call over HTTP answered:\n{reply}");
    }
    Ok(())
}

fn wrk(url: &str, script: &Path, clients: usize, each: Duration, server: u32) -> Result<LoadRow> {
    let threads = clients.min(2);
    let before = crate::machine::process_ticks(&server.to_string());
    let out = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &clients.to_string()])
        .args([
            "-d",
            &format!("{}s", each.as_secs().max(1)),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .context("running wrk (Debian package `wrk`; bench/run.sh installs it)")?;
    let ticks = crate::machine::process_ticks(&server.to_string()) - before;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    let report = airlock_bench_common::wrk::parse(&text)?;
    Ok(LoadRow {
        front: "MCP `tools/call`, streamable HTTP (`airlock mcp --http`, wrk)",
        clients,
        requests: report.requests,
        per_sec: report.per_sec,
        p50: report.p50,
        p99: report.p99,
        failed: report.failed,
        cpu_per_call: per_call(ticks, report.requests),
    })
}

/// CPU time per call from clock ticks (100 per second on Linux).
fn per_call(ticks: u64, calls: u64) -> Duration {
    Duration::from_secs_f64(ticks as f64 / 100.0 / calls.max(1) as f64)
}

/// `clients` requests kept in flight on one stdio connection for `each`; latency per
/// request from its write to its reply.
fn stdio(
    server: &mut Server,
    arguments: &serde_json::Value,
    clients: usize,
    each: Duration,
) -> Result<LoadRow> {
    let mut stdin = server.child.stdin.take().context("stdin")?;
    let stdout = BufReader::new(server.child.stdout.take().context("stdout")?);
    let params = serde_json::json!({ "tool": TOOL, "arguments": arguments }).to_string();
    let request = |id: u64| {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tool/call","params":{params}}}"#) + "\n"
    };
    // The reader reports (id, ok) per reply; the writer sends one more per reply.
    let (done, replies) = mpsc::channel::<(u64, bool)>();
    let reader = std::thread::spawn(move || -> Result<()> {
        for line in stdout.lines() {
            let reply: serde_json::Value = serde_json::from_str(&line?)?;
            let ok = reply.get("result").is_some();
            let id = reply["id"].as_u64().context("reply without a numeric id")?;
            if done.send((id, ok)).is_err() {
                break;
            }
        }
        Ok(())
    });
    let pid = server.pid();
    let mut sent_at = std::collections::HashMap::new();
    let mut latencies = Vec::new();
    let mut failed = 0;
    let mut next_id = 1u64;
    let mut send = |stdin: &mut std::process::ChildStdin,
                    sent_at: &mut std::collections::HashMap<u64, Instant>|
     -> Result<()> {
        sent_at.insert(next_id, Instant::now());
        stdin.write_all(request(next_id).as_bytes())?;
        next_id += 1;
        Ok(())
    };
    // A short warm-up level first: the first calls start the plugin's instances.
    for _ in 0..clients {
        send(&mut stdin, &mut sent_at)?;
    }
    stdin.flush()?;
    let warm_until = Instant::now() + Duration::from_millis(500);
    let mut measuring: Option<(Instant, u64)> = None;
    while let Ok((id, ok)) = replies.recv_timeout(Duration::from_secs(30)) {
        let sent = sent_at.remove(&id).context("a reply to an unknown id")?;
        let now = Instant::now();
        match measuring {
            None if now >= warm_until => {
                measuring = Some((now, crate::machine::process_ticks(&pid.to_string())));
            }
            Some(_) => {
                latencies.push(now - sent);
                failed += u64::from(!ok);
            }
            None => {}
        }
        let over = measuring.is_some_and(|(start, _)| now - start >= each);
        if !over {
            send(&mut stdin, &mut sent_at)?;
            stdin.flush()?;
        } else if sent_at.is_empty() {
            break;
        }
    }
    let (start, ticks_before) = measuring.context("the stdio server stopped answering")?;
    let elapsed = start.elapsed();
    let ticks = crate::machine::process_ticks(&pid.to_string()) - ticks_before;
    drop(stdin);
    drop(replies);
    let _ = reader.join();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let requests = latencies.len() as u64;
    Ok(LoadRow {
        front: "JSON-RPC `tool/call`, stdio (`airlock serve --stdio`, requests in flight on one pipe)",
        clients,
        requests,
        per_sec: requests as f64 / elapsed.as_secs_f64(),
        p50: at(0.5),
        p99: at(0.99),
        failed,
        cpu_per_call: per_call(ticks, requests),
    })
}
