//! Many hosts on one PostgreSQL registry (issue #19): `airlock serve --http` processes on
//! loopback ports sharing one database on a real PostgreSQL server. A change made through
//! one host takes effect on the other (enable, configuration, reload under load with no
//! failed call, token revocation); a host killed with SIGKILL mid-traffic leaves the other
//! serving and a new one resumes; the database restarted under load loses no committed
//! change and fails no call.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use airlock_guests as guests;
use airlock_tests::postgres::{self, Cluster};
use serde_json::{Value, json};

use crate::support::{airlock, airlock_ok, fresh_dir, listening_address, token};

/// One `airlock serve --http` process.
struct Host {
    child: Child,
    /// `127.0.0.1:PORT`.
    address: String,
}

impl Host {
    /// Serves the registry at `db`; `watch`: reload plugins whose folders change.
    fn start(db: &str, watch: bool) -> Host {
        let mut command = airlock();
        command
            .args(["serve", "--http", "127.0.0.1:0", "--registry", db])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped());
        if !watch {
            command.arg("--no-watch");
        }
        let mut child = command.spawn().expect("airlock serve starts");
        let address = listening_address(&mut child)
            .trim_start_matches("http://")
            .to_string();
        Host { child, address }
    }

    fn call(&self, token: &str, tool: &str, arguments: Value) -> Reply {
        let body = json!({"arguments": arguments});
        let path = format!("/api/v1/tools/{tool}/call");
        request(&self.address, "POST", &path, token, Some(&body))
    }

    /// Whether `redact`, as configured on this host, vetoes a call of `tool`.
    fn vetoes(&self, token: &str, tool: &str) -> bool {
        let body = json!({"payload": {"tool": tool}});
        let reply = request(
            &self.address,
            "POST",
            "/api/v1/hooks/before-tool-call",
            token,
            Some(&body),
        );
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        // The dispatch's `vetoed` is `[plugin, reason]`, or null.
        reply.body.to_string().contains(r#""vetoed":["#)
    }

    /// SIGKILL, no goodbye.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

/// One HTTP/1.1 request on its own connection; the status and the JSON body (`Null` when
/// there is none or it does not parse). A connection that fails is status 0, its error the
/// body.
fn request(address: &str, method: &str, path: &str, token: &str, body: Option<&Value>) -> Reply {
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let exchange = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    };
    let response = match exchange() {
        Ok(response) => response,
        Err(e) => {
            return Reply {
                status: 0,
                body: Value::String(e.to_string()),
            };
        }
    };
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    Reply { status, body }
}

/// Waits (at most 10 s) until `done`; how long it took.
fn until(what: &str, done: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: not seen after 10 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    started.elapsed()
}

fn plugins(db: &str, tenant: &str, args: &[&str]) -> String {
    let mut all = vec!["plugins", "--registry", db, "--tenant", tenant];
    all.extend_from_slice(args);
    airlock_ok(&all)
}

/// `calculator.add` 2 + 3 on `host`: whether it answered 5.
fn adds(host: &Host, token: &str) -> bool {
    let reply = host.call(token, "calculator.add", json!({"a": 2, "b": 3}));
    reply.status == 200 && reply.body["result"]["result"] == 5.0
}

/// Callers on four threads calling `tool` round-robin over `addresses` until stopped;
/// counts the calls and keeps the failures.
struct Load {
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(addresses: Vec<String>, token: &str, tool: &'static str, arguments: Value) -> Load {
        const THREADS: usize = 4;
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicUsize::new(0));
        let threads = (0..THREADS)
            .map(|n| {
                let (stop, calls) = (stop.clone(), calls.clone());
                let (addresses, token) = (addresses.clone(), token.to_string());
                let body = json!({"arguments": arguments});
                std::thread::spawn(move || {
                    let mut failed = Vec::new();
                    let mut i = n;
                    while !stop.load(Ordering::Relaxed) {
                        let address = &addresses[i % addresses.len()];
                        let path = format!("/api/v1/tools/{tool}/call");
                        let reply = request(address, "POST", &path, &token, Some(&body));
                        calls.fetch_add(1, Ordering::Relaxed);
                        if reply.status != 200 {
                            failed.push(format!("{address}: {} {}", reply.status, reply.body));
                        }
                        i += 1;
                    }
                    failed
                })
            })
            .collect();
        Load {
            stop,
            calls,
            threads,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Stops the callers; (calls, the failed ones' descriptions).
    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failed = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        (self.calls.load(Ordering::Relaxed), failed)
    }

    /// Waits until `more` further calls were made.
    fn wait_for(&self, more: usize) {
        let target = self.calls() + more;
        until("calls under load", || self.calls() >= target);
    }
}

/// Enable on A → call on B; configure on B → A's plugin has the new configuration; reload
/// on A (its folder watcher) → B serves the new version, with no failed call under load
/// on both; a token revoked (by the CLI, on the same database) → refused by both, which
/// had both accepted it just before.
#[test]
fn a_change_made_through_one_host_takes_effect_on_the_other() {
    let db = postgres::database("two_hosts");
    let dir = fresh_dir("scale-out-two-hosts");
    let folder = dir.join("versioned");
    airlock_tests::write_plugin_folder(&folder, "versioned", "1.0.0", guests::VERSIONED, "");
    plugins(&db, "acme", &["install", guests::CALCULATOR_DIR]);
    plugins(&db, "acme", &["install", guests::REDACT_DIR]);
    plugins(&db, "acme", &["enable", folder.to_str().unwrap()]);
    let admin = token(Path::new(&db), "acme", "admin");
    let a = Host::start(&db, true);
    let b = Host::start(&db, false);

    // Enable on A, then call on B.
    let reply = request(
        &a.address,
        "POST",
        "/api/v1/plugins/calculator/enable",
        &admin,
        None,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let took = until("B serves what A enabled", || adds(&b, &admin));
    println!("enable on A → callable on B: {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // Configure on B, then A's running plugin has the new configuration.
    let config = json!({"config": {"deny_tools": ["shell"]}});
    let path = "/api/v1/plugins/redact/enable";
    assert_eq!(
        request(&b.address, "POST", path, &admin, Some(&config)).status,
        200
    );
    until("A runs redact", || a.vetoes(&admin, "shell"));
    let config = json!({"deny_tools": ["email"]});
    let reply = request(
        &b.address,
        "PUT",
        "/api/v1/plugins/redact/config",
        &admin,
        Some(&config),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let took = until("A has B's configuration", || {
        a.vetoes(&admin, "email") && !a.vetoes(&admin, "shell")
    });
    println!("configuration on B → in effect on A: {took:?}");

    // Reload on A under load on both hosts: B switches too, and no call fails.
    let load = Load::start(
        vec![a.address.clone(), b.address.clone()],
        &admin,
        "versioned.whoami",
        json!({"spin": 1000}),
    );
    load.wait_for(100);
    airlock_tests::write_plugin_folder(&folder, "versioned", "2.0.0", guests::VERSIONED_V2, "");
    let version_on = |host: &Host| {
        let reply = host.call(&admin, "versioned.whoami", json!({}));
        reply.body["result"]["version"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let took = until("B serves the version A reloaded", || {
        version_on(&b) == "2.0.0"
    });
    println!("folder changed under A → new version on B: {took:?}");
    assert_eq!(version_on(&a), "2.0.0");
    load.wait_for(100);
    let (calls, failed) = load.finish();
    println!("{calls} calls across the reload, {} failed", failed.len());
    assert!(
        failed.is_empty(),
        "{} of {calls} failed: {failed:?}",
        failed.len()
    );

    // A token both hosts accepted, revoked: refused by both within about a second.
    let caller = token(Path::new(&db), "acme", "caller");
    assert!(adds(&a, &caller) && adds(&b, &caller));
    let listed: Value =
        serde_json::from_str(&airlock_ok(&["token", "list", "--json", "--registry", &db])).unwrap();
    let id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "caller")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    airlock_ok(&["token", "revoke", &id, "--registry", &db]);
    let took = until("both hosts refuse the revoked token", || {
        let refused = |host: &Host| host.call(&caller, "calculator.add", json!({})).status == 401;
        refused(&a) && refused(&b)
    });
    println!("token revoked → refused on both hosts: {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(adds(&b, &admin), "other tokens keep working");
}

/// SIGKILL one host mid-traffic: the other fails no call; a new host on the same database
/// serves the same tenants with the same configuration. Then the database itself restarts
/// under load: no call fails, and a change committed right after the restart reaches both.
#[test]
fn hosts_survive_a_killed_peer_and_a_restarted_database() {
    let cluster = Cluster::start("scale-out-pg");
    let db = postgres::database_on(cluster.url(), "kill");
    plugins(&db, "acme", &["enable", guests::CALCULATOR_DIR]);
    plugins(&db, "acme", &["install", guests::REDACT_DIR]);
    plugins(
        &db,
        "acme",
        &[
            "enable",
            "redact",
            "--config",
            r#"{"deny_tools": ["shell"]}"#,
        ],
    );
    let admin = token(Path::new(&db), "acme", "admin");
    let a = Host::start(&db, false);
    let b = Host::start(&db, false);
    assert!(adds(&a, &admin) && adds(&b, &admin));

    let load = Load::start(
        vec![b.address.clone()],
        &admin,
        "calculator.add",
        json!({"a": 1, "b": 1}),
    );
    load.wait_for(100);
    a.kill();
    load.wait_for(200);
    let restarted = Host::start(&db, false);
    assert!(
        adds(&restarted, &admin),
        "a new host serves the tenant at once"
    );
    assert!(
        restarted.vetoes(&admin, "shell"),
        "with the same configuration"
    );
    let (calls, failed) = load.finish();
    println!(
        "{calls} calls on B while A was killed and replaced, {} failed",
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:?}");

    // The database restarts under load on both hosts.
    let hosts = vec![b.address.clone(), restarted.address.clone()];
    let load = Load::start(hosts, &admin, "calculator.add", json!({"a": 1, "b": 1}));
    load.wait_for(100);
    cluster.stop();
    load.wait_for(200);
    cluster.restart();
    plugins(
        &db,
        "acme",
        &["config", "set", "redact", r#"{"deny_tools": ["email"]}"#],
    );
    let took = until("both hosts have the change made after the restart", || {
        [&b, &restarted]
            .iter()
            .all(|h| h.vetoes(&admin, "email") && !h.vetoes(&admin, "shell"))
    });
    println!("a change right after the database restarted reached both hosts in {took:?}");
    load.wait_for(100);
    let (calls, failed) = load.finish();
    println!(
        "{calls} calls across the database restart, {} failed",
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:?}");
}
