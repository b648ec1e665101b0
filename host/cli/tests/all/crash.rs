//! Crash consistency of the registry, on the real binary. `kill -9` lands on
//! `airlock serve --stdio` again and again while it writes registrations and
//! configurations: after each kill the database passes SQLite's integrity check and holds
//! every write the server acknowledged. And a full disk (a small tmpfs, so this needs root)
//! under a registry write and an artifact-cache write: a clear error that names the disk
//! and the file, nothing corrupted, nothing half-applied, and the service goes on once
//! there is room again.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use airlock_guests as guests;
use serde_json::{Value, json};

use crate::support::{airlock, enable, fresh_dir};

/// A running `airlock serve --stdio` on one registry, its stderr collected.
struct Server {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

/// The JSON-RPC side of a [`Server`]: its stdin and stdout.
struct Rpc {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Server {
    /// Starts the server on `db` with the extra environment `env`.
    fn start(db: &Path, env: &[(&str, &Path)]) -> (Server, Rpc) {
        let mut command = airlock();
        command
            .args(["serve", "--stdio", "--no-watch", "--registry"])
            .arg(db)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("airlock serve starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let rpc = Rpc {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            next_id: 1,
        };
        (Server { child, log }, rpc)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// `kill -9`, and reaps it.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Rpc {
    /// Sends one request and waits for its response; `None` when the server is gone.
    fn request(&mut self, method: &str, params: Value) -> Option<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.stdin, "{line}").ok()?;
        self.stdin.flush().ok()?;
        loop {
            let mut answer = String::new();
            if self.stdout.read_line(&mut answer).ok()? == 0 {
                return None;
            }
            let answer: Value = serde_json::from_str(&answer).expect("a JSON-RPC line");
            if answer["id"] == id {
                return Some(answer);
            }
        }
    }

    /// The result of `method`; panics on an error answer.
    fn ok(&mut self, method: &str, params: Value) -> Value {
        let answer = self
            .request(method, params.clone())
            .expect("the server answers");
        assert!(answer.get("error").is_none(), "{method} {params}: {answer}");
        answer["result"].clone()
    }

    /// The error of `method`; panics on a result.
    fn error(&mut self, method: &str, params: Value) -> Value {
        let answer = self
            .request(method, params.clone())
            .expect("the server answers");
        assert!(
            answer.get("result").is_none(),
            "{method} should fail: {answer}"
        );
        answer["error"].clone()
    }
}

/// SQLite's own check of every page and index of the database at `db`.
fn integrity_check(db: &Path) -> String {
    let connection = rusqlite::Connection::open(db).expect("the registry database opens");
    connection
        .query_row("PRAGMA integrity_check", [], |row| row.get::<_, String>(0))
        .expect("integrity_check runs")
}

/// `(enabled, config)` of each `(tenant, plugin)` registration stored at `db`.
fn stored(db: &Path) -> HashMap<(String, String), (bool, Value)> {
    let connection = rusqlite::Connection::open(db).unwrap();
    let mut statement = connection
        .prepare("SELECT tenant, plugin, enabled, config FROM registrations")
        .unwrap();
    statement
        .query_map([], |row| {
            let config: String = row.get(3)?;
            Ok((
                (row.get(0)?, row.get(1)?),
                (
                    row.get::<_, i64>(2)? != 0,
                    serde_json::from_str(&config).unwrap(),
                ),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// One change the test writes: a new configuration of `redact` for tenant `crash`, or
/// calculator switched on or off for one of three tenants.
#[derive(Debug, Clone)]
struct Change {
    key: (String, String),
    enabled: bool,
    config: Value,
    method: &'static str,
}

impl Change {
    fn params(&self) -> Value {
        match self.method {
            // A disable takes no config.
            "plugin/disable" => json!({"tenant": self.key.0, "plugin": self.key.1}),
            _ => json!({"tenant": self.key.0, "plugin": self.key.1, "config": self.config}),
        }
    }
}

/// What the database must hold: the last acknowledged value of each key, or the value of
/// the one write that was in flight when the server died (it may have committed).
#[derive(Default)]
struct Model {
    acknowledged: HashMap<(String, String), (bool, Value)>,
    in_flight: Option<Change>,
    count: u64,
}

impl Model {
    /// Change number `n`, given what is acknowledged so far.
    fn write(&self, n: u64) -> Change {
        if n.is_multiple_of(2) {
            let key = ("crash".to_string(), "redact".to_string());
            return Change {
                key,
                enabled: true,
                config: json!({"deny_tools": [format!("w{n}")]}),
                method: "plugin/config/set",
            };
        }
        let key = (format!("t{}", (n / 2) % 3), "calculator".to_string());
        let enabled = !self.acknowledged.get(&key).is_some_and(|(on, _)| *on);
        Change {
            key,
            enabled,
            config: json!({}),
            method: if enabled {
                "plugin/enable"
            } else {
                "plugin/disable"
            },
        }
    }

    /// Checks `stored` against the model, then takes it as the new truth (the in-flight
    /// write is decided now).
    fn check_and_settle(&mut self, stored: HashMap<(String, String), (bool, Value)>) {
        for (key, (enabled, config)) in &self.acknowledged {
            let got = stored.get(key).cloned();
            let in_flight = self
                .in_flight
                .as_ref()
                .filter(|w| &w.key == key)
                .map(|w| (w.enabled, w.config.clone()));
            let acked = Some((*enabled, config.clone()));
            let matches = |value: &Option<(bool, Value)>| match (value, &got) {
                (Some((on, config)), Some((got_on, got_config))) => {
                    on == got_on && (!*on || config == got_config)
                }
                _ => false,
            };
            assert!(
                matches(&acked) || matches(&in_flight),
                "{key:?}: stored {got:?}, but the acknowledged write was {acked:?} \
                 (in flight: {in_flight:?})"
            );
        }
        for (key, value) in stored {
            self.acknowledged.insert(key, value);
        }
        self.in_flight = None;
    }
}

/// A small xorshift generator, seeded from the clock (the seed is printed on failure).
fn random(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Drives writes through `rpc` one at a time until the server dies; reports each
/// acknowledgement on `acked`.
fn write_until_killed(mut rpc: Rpc, model: Arc<Mutex<Model>>, acked: mpsc::Sender<()>) {
    loop {
        let write = {
            let mut model = model.lock().unwrap();
            let write = model.write(model.count);
            model.in_flight = Some(write.clone());
            write
        };
        let Some(answer) = rpc.request(write.method, write.params()) else {
            return;
        };
        assert!(answer.get("error").is_none(), "{write:?}: {answer}");
        let mut model = model.lock().unwrap();
        model
            .acknowledged
            .insert(write.key.clone(), (write.enabled, write.config.clone()));
        model.in_flight = None;
        model.count += 1;
        let _ = acked.send(());
    }
}

#[test]
fn acknowledged_writes_survive_kill_9_and_the_database_stays_sound() {
    let dir = fresh_dir("crash-kill9");
    let db = dir.join("registry.db");
    enable(&db, "crash", &[guests::REDACT_DIR]);
    enable(&db, "t0", &[guests::CALCULATOR_DIR]);
    let model = Arc::new(Mutex::new(Model::default()));
    model.lock().unwrap().check_and_settle(stored(&db));
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let began = Instant::now();
    for round in 0..20 {
        let (server, rpc) = Server::start(&db, &[]);
        let (acks, acked) = mpsc::channel();
        let writer_model = model.clone();
        let writer = std::thread::spawn(move || write_until_killed(rpc, writer_model, acks));
        acked
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("round {round}: no write acknowledged:\n{}", server.log()));
        // Somewhere in the next writes (each is a load and a commit: milliseconds).
        std::thread::sleep(Duration::from_millis(random(&mut seed) % 150));
        server.kill();
        writer.join().expect("the writer saw only good answers");

        assert_eq!(integrity_check(&db), "ok", "round {round} (seed {seed})");
        model.lock().unwrap().check_and_settle(stored(&db));
    }
    let writes = model.lock().unwrap().count;
    eprintln!(
        "{writes} acknowledged writes, 20 kills, {:?}",
        began.elapsed()
    );
}

/// A tmpfs of `size` mounted at `dir` for the life of the value.
struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "this test mounts a small tmpfs to fill a disk, which needs root: run it as root \
             (CI does), e.g. `sudo -E cargo test -p airlock-cli --test all -- crash::`"
        );
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "mounting a tmpfs at {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }

    /// Writes zeros into `file` until the disk is full; the error must say so.
    fn fill(&self, file: &Path) {
        let mut filler = std::fs::File::create(file).unwrap();
        let chunk = vec![0u8; 64 << 10];
        let error = loop {
            if let Err(e) = filler.write_all(&chunk) {
                break e;
            }
        };
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC), "{error}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

/// What `dir` (an artifact cache) holds besides complete entries: unfinished writes and
/// seals without their artifact.
fn cache_leftovers(dir: &Path) -> Vec<String> {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names
        .iter()
        .filter(|name| {
            name.starts_with(".tmp-")
                || name
                    .strip_suffix(".seal")
                    .is_some_and(|stem| !names.contains(&format!("{stem}.cwasm")))
        })
        .cloned()
        .collect()
}

fn cache_entries(cache_home: &Path) -> u64 {
    let out = airlock()
        .args(["cache", "stats", "--json"])
        .env("XDG_CACHE_HOME", cache_home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    stats["entries"].as_u64().unwrap()
}

/// `airlock call` of count-vowels with the cache under `cache_home`: (result, stderr).
fn count_vowels(cache_home: &Path) -> (Value, String) {
    let out = airlock()
        .args([
            "call",
            guests::COUNT_VOWELS,
            "count_vowels",
            r#"{"text": "full disk"}"#,
        ])
        .env("XDG_CACHE_HOME", cache_home)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "the call fails on a full disk: {stderr}"
    );
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

#[test]
fn a_full_disk_fails_writes_clearly_corrupts_nothing_and_the_service_goes_on() {
    let dir = fresh_dir("crash-full-disk");
    let disk = Tmpfs::mount(&dir.join("disk"), "24m");
    let db = disk.dir.join("registry.db");
    let cache_home = disk.dir.join("cache");
    let cache_dir = cache_home.join("airlock/compiled");
    let env = [("XDG_CACHE_HOME", cache_home.as_path())];
    let tenant = json!("acme");

    // Room enough: redact enabled (its compiled artifact cached), calculator installed.
    let (server, mut rpc) = Server::start(&db, &env);
    let folder = |dir: &str| json!({"path": dir});
    rpc.ok("plugin/load", folder(guests::REDACT_DIR));
    rpc.ok("plugin/load", folder(guests::CALCULATOR_DIR));
    let redact = json!({"tenant": tenant, "plugin": "redact"});
    rpc.ok(
        "plugin/enable",
        json!({"tenant": tenant, "plugin": "redact", "config": {}}),
    );
    assert_eq!(cache_entries(&cache_home), 1);
    let mail = json!({"tenant": tenant, "kind": "before-tool-call",
        "payload": {"tool": "mail", "arguments": {}}});
    assert!(rpc.ok("hook/dispatch", mail.clone())["vetoed"].is_null());

    disk.fill(&disk.dir.join("filler"));

    // A registry write on the full disk: a clear error naming the disk and the database.
    // The configuration is large so the write needs new pages whatever SQLite kept free.
    let deny = json!({"deny_tools": ["mail", "x".repeat(256 << 10)]});
    let set = json!({"tenant": tenant, "plugin": "redact", "config": deny});
    let error = rpc.error("plugin/config/set", set.clone());
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("disk is full") && message.contains(&db.display().to_string()),
        "{error}"
    );
    assert_eq!(error["data"]["kind"], "registry", "{error}");
    // Nothing half-applied: the plugin still runs with the stored configuration.
    assert_eq!(rpc.ok("plugin/config/get", redact.clone()), json!({}));
    assert!(
        rpc.ok("hook/dispatch", mail.clone())["vetoed"].is_null(),
        "the refused configuration is live"
    );
    // Nor is a plugin whose registration could not be stored served.
    let calculator = json!({"tenant": tenant, "plugin": "calculator", "config": {}});
    rpc.error("plugin/enable", calculator.clone());
    let tools = rpc.ok("tool/list", json!({"tenant": tenant}));
    assert!(!tools.to_string().contains("calculator."), "{tools}");

    // An artifact-cache write on the full disk: the plugin runs anyway; the log names the
    // entry and the reason; no partial entry is left and the cached entry still loads.
    let (result, log) = count_vowels(&cache_home);
    assert_eq!(result["count"], 2, "{result}");
    assert!(
        log.contains("cannot write compiled-artifact cache entry")
            && log.contains(&cache_dir.display().to_string())
            && log.contains("No space left on device"),
        "{log}"
    );
    assert_eq!(cache_leftovers(&cache_dir), Vec::<String>::new());
    assert_eq!(cache_entries(&cache_home), 1);
    assert_eq!(integrity_check(&db), "ok");

    // Room again: the same server goes on, and so does the cache.
    std::fs::remove_file(disk.dir.join("filler")).unwrap();
    rpc.ok("plugin/config/set", set);
    assert_eq!(
        rpc.ok("hook/dispatch", mail)["vetoed"][0],
        "redact",
        "the new configuration is live"
    );
    rpc.ok("plugin/enable", calculator);
    let (_, log) = count_vowels(&cache_home);
    assert!(!log.contains("cannot write"), "{log}");
    // redact, then calculator and count-vowels, compiled again now that there is room.
    assert_eq!(cache_entries(&cache_home), 3);
    assert!(!server.log().contains("panicked"), "{}", server.log());
    server.kill();
    assert_eq!(integrity_check(&db), "ok");
    assert_eq!(
        stored(&db)[&("acme".to_string(), "redact".to_string())].1["deny_tools"][0],
        "mail"
    );
}
