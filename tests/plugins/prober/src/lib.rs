//! `prober`: a test plugin that tries to reach things — files, environment, network, name
//! lookup, programs — and reports exactly what happened, so tests can assert a denial (or,
//! where granted, success) as the plugin itself saw it.

use airlock_sdk::prelude::*;
use std::io::{Read, Write};

#[derive(Deserialize, JsonSchema)]
struct PathArg {
    path: String,
}

#[derive(Deserialize, JsonSchema)]
struct WriteArg {
    path: String,
    text: String,
}

#[derive(Deserialize, JsonSchema)]
struct NameArg {
    name: String,
}

#[derive(Deserialize, JsonSchema)]
struct AddrArg {
    /// `ip:port` or `host:port`.
    addr: String,
}

#[derive(Deserialize, JsonSchema)]
struct ExecArg {
    command: String,
    args: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
struct Empty {}

#[derive(Deserialize, JsonSchema)]
struct BurstArg {
    url_authority: String,
    path: String,
    count: usize,
}

/// Sends `count` GETs of `http://AUTHORITY/PATH` one after the other; returns how many got
/// a response.
fn http_repeat(args: BurstArg) -> usize {
    use wasip2::http::outgoing_handler::handle;
    use wasip2::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};
    (0..args.count)
        .filter(|_| {
            let request = OutgoingRequest::new(Fields::new());
            let _ = request.set_scheme(Some(&Scheme::Http));
            let _ = request.set_authority(Some(&args.url_authority));
            let _ = request.set_path_with_query(Some(&args.path));
            let body = request.body().expect("body");
            let Ok(future) = handle(request, None) else {
                return false;
            };
            let _ = OutgoingBody::finish(body, None);
            future.subscribe().block();
            matches!(future.get(), Some(Ok(Ok(_))))
        })
        .count()
}

/// A request's state once its pollable was polled (up to 50 ms): a future's state is only
/// looked at then.
fn state_after_waiting(future: &wasip2::http::types::FutureIncomingResponse) -> String {
    let ready = future.subscribe();
    let timeout = wasip2::clocks::monotonic_clock::subscribe_duration(50_000_000);
    wasip2::io::poll::poll(&[&ready, &timeout]);
    match future.get() {
        None => "pending".to_string(),
        Some(Ok(Ok(response))) => format!("response {}", response.status()),
        Some(Ok(Err(code))) => format!("error {code:?}"),
        Some(Err(())) => "taken".to_string(),
    }
}

/// Opens `count` GETs of `http://AUTHORITY/PATH` at once, then reports each one's state
/// after waiting up to 50 ms for it: `pending`, `response STATUS` or `error CODE`.
fn http_burst(args: BurstArg) -> Vec<String> {
    use wasip2::http::outgoing_handler::handle;
    use wasip2::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};
    let pending: Vec<_> = (0..args.count)
        .map(|_| {
            let request = OutgoingRequest::new(Fields::new());
            let _ = request.set_scheme(Some(&Scheme::Http));
            let _ = request.set_authority(Some(&args.url_authority));
            let _ = request.set_path_with_query(Some(&args.path));
            let body = request.body().expect("body");
            let future = handle(request, None);
            let _ = OutgoingBody::finish(body, None);
            future
        })
        .collect();
    pending
        .into_iter()
        .map(|future| match future {
            Err(code) => format!("error {code:?}"),
            Ok(future) => state_after_waiting(&future),
        })
        .collect()
}

#[derive(Deserialize, JsonSchema)]
struct HoldArg {
    path: String,
    count: usize,
}

/// Files `hold_files` keeps open across calls (the instance lives on between calls).
static HELD: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());

/// What an attempt came to: `ok` and the data, or the error the plugin saw.
#[derive(Serialize)]
struct Attempt {
    ok: bool,
    detail: String,
}

fn attempt<T: ToString, E: std::fmt::Display>(
    result: Result<T, E>,
) -> Result<Attempt, PluginError> {
    Ok(match result {
        Ok(value) => Attempt {
            ok: true,
            detail: value.to_string(),
        },
        Err(e) => Attempt {
            ok: false,
            detail: e.to_string(),
        },
    })
}

struct Prober;

impl Plugin for Prober {
    type Config = NoConfig;

    fn metadata() -> Metadata {
        Metadata::new("prober", env!("CARGO_PKG_VERSION"))
            .author("Airlock tests")
            .description("Tries files, env, network, DNS and exec, and reports what happened.")
    }

    fn init(_config: NoConfig) -> Result<Self, PluginError> {
        Ok(Prober)
    }

    fn tools(tools: &mut Tools<Self>) {
        tools
            .tool("read_file", "Read a file", |_, a: PathArg, _| {
                attempt(std::fs::read_to_string(&a.path))
            })
            .tool("write_file", "Write a file", |_, a: WriteArg, _| {
                attempt(std::fs::write(&a.path, &a.text).map(|()| "written"))
            })
            .tool("list_dir", "List a directory", |_, a: PathArg, _| {
                attempt(std::fs::read_dir(&a.path).map(|entries| {
                    let mut names: Vec<String> = entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    names.sort();
                    names.join(",")
                }))
            })
            .tool("env", "Read an environment variable", |_, a: NameArg, _| {
                attempt(std::env::var(&a.name))
            })
            .tool(
                "connect",
                "Open a TCP connection, send `ping`, read the reply",
                |_, a: AddrArg, _| {
                    attempt((|| {
                        let mut stream = std::net::TcpStream::connect(&a.addr)?;
                        stream.write_all(b"ping")?;
                        let mut reply = String::new();
                        stream.read_to_string(&mut reply)?;
                        Ok::<_, std::io::Error>(reply)
                    })())
                },
            )
            .tool("resolve", "Look up a host name", |_, a: NameArg, _| {
                use std::net::ToSocketAddrs;
                attempt((a.name.as_str(), 80).to_socket_addrs().map(|addrs| {
                    addrs
                        .map(|s| s.ip().to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                }))
            })
            .tool(
                "session_get",
                "Read a session context key",
                |_, a: NameArg, _| {
                    let value: Option<Value> = airlock_sdk::session::get(&a.name);
                    attempt(value.map(|v| v.to_string()).ok_or("absent"))
                },
            )
            .tool(
                "session_set",
                "Write a session context key",
                |_, a: WriteArg, _| {
                    attempt(airlock_sdk::session::set(&a.path, &a.text).map(|()| "set"))
                },
            )
            .tool(
                "session_keys",
                "List the session context keys",
                |_, _: Empty, _| attempt(Ok::<_, String>(airlock_sdk::session::keys().join(","))),
            )
            .tool(
                "hold_files",
                "Open a file `count` more times and keep every handle open across calls",
                |_, a: HoldArg, _| {
                    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
                    for _ in 0..a.count {
                        match std::fs::File::open(&a.path) {
                            Ok(file) => held.push(file),
                            Err(e) => {
                                return attempt(Err::<usize, _>(format!(
                                    "after {}: {e}",
                                    held.len()
                                )));
                            }
                        }
                    }
                    attempt(Ok::<_, String>(held.len()))
                },
            )
            .tool(
                "now",
                "Read the wall clock (seconds since the epoch)",
                |_, _: Empty, _| {
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                    attempt(now.map(|d| d.as_secs()))
                },
            )
            .tool(
                "http_repeat",
                "Send COUNT GETs one after the other; how many got a response",
                |_, a: BurstArg, _| Ok(http_repeat(a)),
            )
            .tool(
                "http_burst",
                "Open COUNT GETs at once; each one's state after up to 50 ms",
                |_, a: BurstArg, _| Ok(http_burst(a)),
            )
            .tool("random", "Draw 8 random bytes (hex)", |_, _: Empty, _| {
                let mut bytes = [0u8; 8];
                attempt(
                    getrandom::fill(&mut bytes)
                        .map(|()| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()),
                )
            })
            .tool(
                "exec",
                "Run a program through the host",
                |_, a: ExecArg, _| {
                    let args: Vec<&str> = a.args.iter().map(String::as_str).collect();
                    attempt(airlock_sdk::exec::run(&a.command, &args).map(|out| {
                        let stdout = String::from_utf8_lossy(&out.stdout);
                        let shown: String = stdout.chars().take(200).collect();
                        let (status, truncated, bytes) =
                            (out.status, out.truncated, out.stdout.len());
                        format!(
                            "status={status} truncated={truncated} bytes={bytes} stdout={shown}"
                        )
                    }))
                },
            );
    }
}

airlock_sdk::export_tool_plugin!(Prober);
