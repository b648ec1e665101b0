//! Fuzz target `manifest`: `airlock.toml` text through `Manifest::parse`, the strict parser
//! every plugin folder goes through. A plugin's author writes this file, so all of it is
//! hostile. Checks: no panic; an error names the file; an accepted manifest holds only
//! entries its own validators accept, paths inside the plugin folder, a well-formed pin,
//! and capability requests that survive a JSON round trip unchanged (what the registry and
//! the audit report store and show).

#![no_main]

use std::path::{Component, Path};

use airlock::capabilities::{Requested, env, exec, files};
use airlock::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

const PATH: &str = "fuzz/airlock.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Manifest::parse(text, Path::new(PATH)) {
        Ok(manifest) => check_accepted(&manifest),
        Err(error) => assert!(
            error.to_string().starts_with(PATH),
            "the error does not name the file: {error}"
        ),
    }
});

fn check_accepted(manifest: &Manifest) {
    let inside = |path: &Path| {
        !path.is_absolute() && !path.components().any(|c| matches!(c, Component::ParentDir))
    };
    assert!(inside(&manifest.plugin.component), "{manifest:?}");
    if let Some(file) = &manifest.config.schema_file {
        assert!(inside(file), "{manifest:?}");
        assert!(
            manifest.config.schema.is_none(),
            "both schema and schema-file"
        );
    }
    if let Some(pin) = &manifest.plugin.sha256 {
        let pin = pin.to_string();
        assert!(
            pin.len() == 64
                && pin
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "bad pin accepted: {pin}"
        );
    }
    if let Some(deadline) = manifest.limits.deadline {
        assert!(
            deadline.as_secs() <= 86_400,
            "a deadline over a day: {deadline:?}"
        );
    }
    check_requested(&manifest.capabilities);
}

fn check_requested(requested: &Requested) {
    for entry in &requested.exec {
        exec::validate(entry).expect("an accepted exec request validates");
    }
    for name in &requested.env {
        env::validate(name).expect("an accepted env request validates");
    }
    for request in &requested.files {
        files::validate(request).expect("an accepted files request validates");
    }
    for pattern in &requested.network {
        let again = pattern
            .to_string()
            .parse()
            .expect("a printed pattern parses");
        assert_eq!(*pattern, again, "network pattern changed by printing it");
    }
    let json = serde_json::to_value(requested).expect("requests serialise");
    let back: Requested = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("serialised requests do not parse back ({e}): {json}"));
    assert_eq!(*requested, back, "requests changed by a JSON round trip");
}
