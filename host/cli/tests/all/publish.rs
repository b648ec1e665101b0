//! `airlock keygen / sign / verify / push` and `plugins install oci://…` as an operator runs
//! them: signatures interoperate with the standard `minisign` tool both ways, and a plugin
//! goes through a real registry (`docker-registry` on loopback) to another host's registry,
//! where `plugins list` and `audit` show its source and signer.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use airlock_guests as guests;

// Shared with the integration tests by path (no crate dependency); not all of it is used here.
#[allow(dead_code)]
#[path = "../../../../tests/src/oci_registry.rs"]
pub(crate) mod oci_registry;

use oci_registry::{DockerRegistry, require_program};

fn airlock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .output()
        .expect("airlock runs")
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A temporary folder holding a copy of the calculator plugin folder in `plugin/`.
struct Workspace(PathBuf);

impl Workspace {
    fn new(label: &str) -> Workspace {
        let dir = std::env::temp_dir().join(format!("airlock-cli-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("plugin")).unwrap();
        for entry in std::fs::read_dir(guests::CALCULATOR_DIR).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join("plugin").join(path.file_name().unwrap())).unwrap();
        }
        Workspace(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    fn plugin(&self) -> String {
        self.path("plugin")
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn assert_ok(output: &Output, what: &str) {
    assert!(output.status.success(), "{what}: {}", text(output));
}

#[test]
fn airlock_and_minisign_verify_each_others_signatures() {
    require_program("minisign", "minisign");
    let ws = Workspace::new("interop");
    let manifest = ws.path("plugin/airlock.toml");

    // Airlock signs; minisign verifies.
    assert_ok(&airlock(&["keygen", "--out", &ws.path("alice")]), "keygen");
    let out = airlock(&[
        "sign",
        &ws.plugin(),
        "--key",
        &ws.path("alice.key"),
        "--comment",
        "alice's release",
    ]);
    assert_ok(&out, "sign");
    let out = run(
        "minisign",
        &["-V", "-m", &manifest, "-p", &ws.path("alice.pub")],
    );
    assert_ok(&out, "minisign -V");
    assert!(text(&out).contains("alice's release"), "{}", text(&out));
    let out = airlock(&["verify", &ws.plugin(), "--key", &ws.path("alice.pub")]);
    assert_ok(&out, "airlock verify");

    // minisign makes a key and signs; Airlock verifies.
    let (public, secret) = (ws.path("mini.pub"), ws.path("mini.key"));
    assert_ok(
        &run("minisign", &["-G", "-W", "-p", &public, "-s", &secret]),
        "minisign -G",
    );
    let out = run(
        "minisign",
        &[
            "-S",
            "-s",
            &secret,
            "-m",
            &manifest,
            "-t",
            "signed with minisign",
        ],
    );
    assert_ok(&out, "minisign -S");
    let out = airlock(&["verify", &ws.plugin(), "--key", &public, "--json"]);
    assert_ok(&out, "airlock verify (minisign's signature)");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["signature"]["trusted_comment"],
        "signed with minisign"
    );

    // Airlock signs with minisign's key, and refuses a key it was not given.
    assert_ok(
        &airlock(&["sign", &ws.plugin(), "--key", &secret]),
        "sign with minisign's key",
    );
    assert_ok(
        &run("minisign", &["-V", "-m", &manifest, "-p", &public]),
        "minisign -V",
    );
    let out = airlock(&["verify", &ws.plugin(), "--key", &ws.path("alice.pub")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("[unknown-key]"), "{}", text(&out));
}

/// `--registry DB --policy POLICY plugins …` for one host.
fn plugins(db: &str, policy: &str, args: &[&str]) -> Output {
    let mut all = vec!["plugins", "--registry", db, "--policy", policy];
    all.extend_from_slice(args);
    airlock(&all)
}

#[test]
fn publish_and_install_through_a_registry() {
    let registry = DockerRegistry::start();
    let publisher = Workspace::new("publisher");
    assert_ok(
        &airlock(&["keygen", "--out", &publisher.path("release")]),
        "keygen",
    );
    assert_ok(
        &airlock(&[
            "sign",
            &publisher.plugin(),
            "--key",
            &publisher.path("release.key"),
        ]),
        "sign",
    );
    let tag = registry.reference("plugins/calculator:0.1.0");
    let out = airlock(&["push", &publisher.plugin(), &tag, "--json"]);
    assert_ok(&out, "push");
    let pushed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = pushed["digest"].as_str().unwrap().to_string();

    // Another host: its own registry database and store, trusting the release key.
    let host = Workspace::new("host");
    let public = std::fs::read_to_string(publisher.path("release.pub")).unwrap();
    let key = public.lines().nth(1).unwrap();
    let policy = host.path("policy.toml");
    std::fs::write(
        &policy,
        format!("[trust]\nkeys = [\"{key}\"]\nrequire-signature = true\n"),
    )
    .unwrap();
    let db = host.path("registry.db");
    let out = plugins(&db, &policy, &["install", &tag]);
    assert_ok(&out, "install oci://");
    assert!(text(&out).contains(&digest), "{}", text(&out));
    assert_ok(&plugins(&db, &policy, &["enable", "calculator"]), "enable");

    let out = plugins(&db, &policy, &["list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let installed = &list["installed"][0];
    assert_eq!(installed["source"], tag.as_str());
    assert_eq!(installed["source_digest"], digest.as_str());
    let table = text(&plugins(&db, &policy, &["list"]));
    assert!(table.contains(&format!("from {tag}")), "{table}");

    let dir = installed["dir"].as_str().unwrap();
    let out = airlock(&["audit", dir, "--policy", &policy]);
    assert_ok(&out, "audit");
    let audit = text(&out);
    let key_id = public.lines().next().unwrap().rsplit(' ').next().unwrap();
    assert!(
        audit.contains(&format!("Signed   by key {key_id}")) && audit.contains("verified"),
        "{audit}"
    );
    assert!(
        audit.contains(&format!("Source   {tag} ({digest})")),
        "{audit}"
    );

    // By digest too; an unsigned push under the policy is refused and installs nothing.
    let pinned = pushed["by_digest"].as_str().unwrap();
    assert_ok(
        &plugins(&db, &policy, &["install", pinned]),
        "install by digest",
    );
    std::fs::remove_file(Path::new(&publisher.plugin()).join("airlock.toml.minisig")).unwrap();
    let unsigned = registry.reference("plugins/calculator:unsigned");
    assert_ok(
        &airlock(&["push", &publisher.plugin(), &unsigned]),
        "push unsigned",
    );
    let out = plugins(&db, &policy, &["install", &unsigned]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is not signed"), "{}", text(&out));
}

/// `airlock` with `env` set, logging everything (so a leaked credential would show).
fn airlock_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "trace")
        .output()
        .expect("airlock runs")
}

#[test]
fn credentials_reach_the_registry_and_never_the_output() {
    let registry = DockerRegistry::start_with_login();
    let (user, password) = oci_registry::LOGIN;
    let ws = Workspace::new("login");
    let tag = registry.reference("plugins/calculator:login");

    let out = airlock_with(&[], &["push", &ws.plugin(), &tag]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("refused access") && text(&out).contains("AIRLOCK_REGISTRY_PASSWORD"),
        "{}",
        text(&out)
    );

    let login = [
        ("AIRLOCK_REGISTRY_USERNAME", user),
        ("AIRLOCK_REGISTRY_PASSWORD", password),
    ];
    let pushed = airlock_with(&login, &["push", &ws.plugin(), &tag]);
    assert_ok(&pushed, "push with a login");

    // `docker login`'s file: base64 of `user:password`, found through $DOCKER_CONFIG.
    let docker = ws.path("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let encoded = "YWxpY2U6b3Blbi1zZXNhbWUtNDcxMQ==";
    std::fs::write(
        Path::new(&docker).join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{encoded}"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let policy = ws.path("policy.toml");
    std::fs::write(&policy, "").unwrap();
    let db = ws.path("registry.db");
    let install = airlock_with(
        &[("DOCKER_CONFIG", docker.as_str())],
        &[
            "plugins",
            "--registry",
            &db,
            "--policy",
            &policy,
            "install",
            &tag,
        ],
    );
    assert_ok(&install, "install with docker's config.json");

    for out in [&pushed, &install] {
        let all = text(out);
        assert!(!all.contains(password) && !all.contains(encoded), "{all}");
    }
}
