//! Fuzz target `policy`: operator policy text through `Policy::parse`, and, when the input
//! also holds a manifest (after a line `#---`), the grant that policy gives that manifest's
//! requests (`Grant::compute`: requested ∩ allowed, the capability grammars on both sides).
//! Checks: no panic; errors name the file; allowances survive a JSON round trip; every
//! address inside a `block` entry is blocked; a grant gives only what was requested and is
//! covered by an allowance; and every refusal names a policy line that, added to an empty
//! policy, would grant the refused request.

#![no_main]

use std::path::Path;

use airlock::capabilities::{Allowed, Dirs, Grant, Missing};
use airlock::manifest::Manifest;
use airlock::policy::Policy;
use libfuzzer_sys::fuzz_target;

const PATH: &str = "fuzz/policy.toml";
const SEPARATOR: &str = "\n#---\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (policy_text, manifest_text) = text.split_once(SEPARATOR).unwrap_or((text, ""));
    let policy = match Policy::parse(policy_text, Path::new(PATH), Path::new("/nonexistent")) {
        Ok(policy) => policy,
        Err(error) => {
            assert!(error.to_string().starts_with(PATH), "{error}");
            return;
        }
    };
    check_policy(&policy);
    if let Ok(manifest) = Manifest::parse(manifest_text, Path::new("fuzz/airlock.toml")) {
        check_grant(&policy, &manifest);
    }
});

fn check_policy(policy: &Policy) {
    for (name, allowed) in &policy.plugins {
        assert_eq!(policy.allowed(name), *allowed);
        let json = serde_json::to_value(allowed).expect("allowances serialise");
        let back: Allowed = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("serialised allowance does not parse back ({e}): {json}"));
        assert_eq!(*allowed, back, "allowance changed by a JSON round trip");
    }
    for net in &policy.blocklist.block {
        for ip in [net.network(), net.broadcast()] {
            assert!(
                policy.blocklist.blocks(ip),
                "{ip} is inside block entry {net} but not blocked"
            );
        }
    }
}

fn check_grant(policy: &Policy, manifest: &Manifest) {
    let name = &manifest.plugin.name;
    let allowed = policy.allowed(name);
    let requested = &manifest.capabilities;
    let dirs = Dirs {
        plugin: Path::new("/nonexistent/plugin"),
        policy: &policy.base_dir,
    };
    match Grant::compute(name, requested, &allowed, &policy, dirs) {
        Ok(grant) => {
            for pattern in &grant.network.entries {
                assert!(
                    requested.network.contains(pattern),
                    "not requested: {pattern}"
                );
                assert!(
                    allowed.network.iter().any(|a| a.covers(pattern)),
                    "not allowed: {pattern}"
                );
            }
            for pattern in &grant.exec {
                assert!(requested.exec.contains(pattern), "not requested: {pattern}");
                assert!(
                    allowed.exec.iter().any(|a| a.covers(pattern)),
                    "not allowed: {pattern}"
                );
            }
            assert_eq!(
                grant.env.names, requested.env,
                "env requests are granted whole or refused"
            );
            assert_eq!(grant.files.len(), requested.files.len());
        }
        Err(missing) => {
            assert!(!missing.is_empty(), "a refusal must list what is missing");
            for refused in &missing {
                check_fix(name, refused);
            }
        }
    }
}

/// The `fix` of a refused network, exec or env request is a policy line,
/// `[plugins.NAME] KEY = [VALUE]` (an env wildcard adds a note in parentheses): with its
/// table header on a line of its own, parsed alone, it allows `name` what was refused.
/// Files refusals may instead say that the directory does not exist, and are skipped.
fn check_fix(name: &str, refused: &Missing) {
    let line = match refused.capability {
        "files" => return,
        // A wildcard's note follows the value list: `… = ["AWS_*"] (a wildcard …)`. The
        // plugin's name may hold ` (` itself, so only a trailing note is cut.
        "env" => match refused.fix.ends_with(')') {
            true => refused.fix.rsplit_once("] (").map_or(refused.fix.as_str(), |(line, _)| {
                &refused.fix[..line.len() + 1]
            }),
            false => refused.fix.as_str(),
        },
        _ => refused.fix.as_str(),
    };
    // The header ends at one of the `] ` in the line; the one that makes a policy granting
    // the request is the right one.
    let grants = line.match_indices("] ").any(|(at, _)| {
        let text = format!("{}\n{}", &line[..=at], &line[at + 2..]);
        Policy::parse(&text, Path::new("fix.toml"), Path::new("/"))
            .is_ok_and(|policy| allows(&policy.allowed(name), refused))
    });
    assert!(
        grants,
        "the fix for {refused} is not a policy line allowing it for `{name}`"
    );
}

fn allows(allowed: &Allowed, refused: &Missing) -> bool {
    let what = &refused.requested;
    match refused.capability {
        "network" => allowed.network.iter().any(|a| a.to_string() == *what),
        "exec" => allowed.exec.iter().any(|a| a.to_string() == *what),
        "env" => allowed.env.iter().any(|a| a == what),
        other => panic!("unknown capability {other} in {refused}"),
    }
}
