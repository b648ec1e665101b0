//! The admin and tool API against its own OpenAPI document, fuzzed by schemathesis (pinned
//! in `host/cli/tests/schemathesis.txt`; `bash scripts/test.sh` installs it into
//! `~/.cache/airlock-venv`). A real `airlock serve --http` on a registry with the example
//! plugins enabled, an admin token, every operation of `/api/v1/openapi.json` with valid
//! and invalid inputs: no server error, and every status, content type, header and body as
//! the document says. Never skipped: without schemathesis the test fails with the command
//! that installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use airlock_guests as guests;

use crate::support::{airlock, enable, fresh_dir, listening_address, token};

/// The checks run on every response (see `schemathesis run --help`).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
    response_headers_conformance,response_schema_conformance,negative_data_rejection,\
    ignored_auth,unsupported_method";

/// The pinned requirement line, e.g. `schemathesis==4.32.5`.
fn pinned_requirement() -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.txt");
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("schemathesis=="))
        .expect("a schemathesis== line")
        .to_string()
}

/// The schemathesis executable: `$AIRLOCK_SCHEMATHESIS`, else the venv `scripts/test.sh`
/// makes. Fails (never skips) when it is missing or not the pinned version.
fn schemathesis() -> PathBuf {
    let requirement = pinned_requirement();
    let venv = Path::new(&std::env::var("HOME").unwrap_or_default()).join(".cache/airlock-venv");
    let path = std::env::var_os("AIRLOCK_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| venv.join("bin/schemathesis"));
    let install = format!(
        "python3 -m venv {venv} && {venv}/bin/pip install -r host/cli/tests/schemathesis.txt \
         (`bash scripts/test.sh` does this)",
        venv = venv.display()
    );
    let version = Command::new(&path).arg("--version").output();
    let version = match version {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => panic!(
            "{} is missing ({requirement}); install it: {install}",
            path.display()
        ),
    };
    let pinned = requirement.trim_start_matches("schemathesis==");
    assert!(
        version.trim().ends_with(pinned),
        "{} is `{}`, not the pinned {requirement}; install it: {install}",
        path.display(),
        version.trim()
    );
    path
}

#[test]
fn the_http_api_keeps_to_its_openapi_document_under_fuzzing() {
    let fuzzer = schemathesis();
    let dir = fresh_dir("api-fuzz");
    let db = dir.join("registry.db");
    enable(
        &db,
        "fuzz",
        &[
            guests::CALCULATOR_DIR,
            guests::COUNT_VOWELS_DIR,
            guests::REDACT_DIR,
        ],
    );
    let admin = token(&db, "fuzz", "admin");
    let mut server = airlock()
        .args(["serve", "--no-watch", "--http", "127.0.0.1:0", "--registry"])
        .arg(db)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let address = listening_address(&mut server);

    let out = Command::new(fuzzer)
        .args(["run", &format!("{address}/api/v1/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args(["--checks", CHECKS])
        // A log stream does not end until the client leaves; the console test follows one.
        .args(["--exclude-path", "/api/v1/plugins/{name}/logs"])
        .args(["--phases", "examples,coverage,fuzzing"])
        // Bounded: about 20 cases an operation (plus the coverage phase's own), one seed.
        .args(["--max-examples", "20", "--seed", "12"])
        .args(["--workers", "2", "--request-timeout", "10"])
        .args(["--generation-database", "none", "--no-color"])
        .arg("--report-dir")
        .arg(dir.join("report"))
        .current_dir(dir)
        .output()
        .expect("schemathesis runs");
    let alive = server.try_wait().unwrap().is_none();
    server.kill().unwrap();
    server.wait().unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(alive, "the server died under fuzzing:\n{report}");
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}"
    );
    // "N passed" counted as words: "320 passed" is not "0 passed".
    let words: Vec<&str> = report.split_whitespace().collect();
    let passed = words.windows(2).find(|w| w[1].starts_with("passed"));
    assert!(
        passed.is_some_and(|w| w[0].trim_end_matches(',') != "0"),
        "schemathesis ran no test case:\n{report}"
    );
}
