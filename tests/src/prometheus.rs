//! Reading a `/metrics` answer with a real Prometheus text-format parser: the official
//! Python client's (`prometheus_client.parser`), from the venv `scripts/test.sh` installs
//! (`~/.cache/airlock-venv`, pinned in `host/cli/tests/schemathesis.txt`). A missing parser
//! fails the test with the command to run.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// One sample: metric name (with `_total`, `_bucket`, … suffixes), labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The venv's Python: beside `$AIRLOCK_SCHEMATHESIS` when set, else the default venv.
fn python() -> PathBuf {
    let venv_bin = std::env::var_os("AIRLOCK_SCHEMATHESIS")
        .map(PathBuf::from)
        .and_then(|s| s.parent().map(PathBuf::from))
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/airlock-venv/bin")
        });
    venv_bin.join("python")
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;

/// Every sample of the Prometheus text `body`.
///
/// # Panics
/// When the parser is missing or refuses the text (the test then fails, naming why).
pub fn parse(body: &[u8]) -> Vec<Sample> {
    let python = python();
    let mut child = Command::new(&python)
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `bash scripts/test.sh`, which makes that venv with \
                 prometheus-client in it",
                python.display()
            )
        });
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the text (or is missing: `bash scripts/test.sh` \
         installs it):\n{}\n--- text\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(body)
    );
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    parsed
        .into_iter()
        .map(|s| Sample {
            name: s["name"].as_str().unwrap().to_string(),
            labels: serde_json::from_value(s["labels"].clone()).unwrap(),
            value: s["value"].as_f64().unwrap_or(f64::NAN),
        })
        .collect()
}
