//! Environment variables: only named variables (or, where the policy allows wildcards,
//! `PREFIX_*` patterns) are copied from the host's environment into the guest's. Covers
//! `wasi:cli/environment`, which every Rust wasip2 binary imports; without a grant its
//! environment is empty.

use wasmtime_wasi::WasiCtxBuilder;

use super::Missing;

pub const NAME: &str = "env";
pub const IMPORTS: &[&str] = &["wasi:cli/environment"];

/// Checks a name or pattern: `[A-Za-z_][A-Za-z0-9_]*`, optionally ending in `*`.
pub fn validate(pattern: &str) -> Result<(), String> {
    let name = pattern.strip_suffix('*').unwrap_or(pattern);
    let mut chars = name.chars();
    let first_ok = match chars.next() {
        Some(c) => c.is_ascii_alphabetic() || c == '_',
        None => pattern == "*",
    };
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!(
            "`{pattern}` is not a variable name (letters, digits, `_`; a `*` only at the end)"
        ))
    }
}

fn is_wildcard(pattern: &str) -> bool {
    pattern.ends_with('*')
}

/// Does allowance `allow` cover request `request`? A wildcard request is covered only by
/// a wildcard allowance at least as wide.
fn covers(allow: &str, request: &str) -> bool {
    match (allow.strip_suffix('*'), request.strip_suffix('*')) {
        (Some(prefix), Some(requested)) => requested.starts_with(prefix),
        (Some(prefix), None) => request.starts_with(prefix),
        (None, Some(_)) => false,
        (None, None) => allow == request,
    }
}

pub fn grant(requests: &[String], allows: &[String], plugin: &str) -> (Vec<String>, Vec<Missing>) {
    let covered = |request: &String| allows.iter().any(|a| covers(a, request));
    super::intersect(NAME, requests, covered, |request| {
        let why = match is_wildcard(request) {
            true => " (a wildcard must be allowed as a wildcard)",
            false => "",
        };
        let line = super::policy_line(plugin, "env", &super::toml_string(request));
        format!("{line}{why}")
    })
}

/// The host variables the granted patterns select, with their current values.
pub fn resolve(granted: &[String]) -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(key, _)| granted.iter().any(|g| covers(g, key)))
        .collect()
}

pub fn apply(vars: &[(String, String)], builder: &mut WasiCtxBuilder) {
    builder.envs(vars);
}

/// Serde helper: a list of entries, each validated.
pub(crate) fn checked<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    super::checked_list(d, |p: &String| validate(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_wildcards() {
        assert!(validate("API_KEY").is_ok() && validate("AWS_*").is_ok() && validate("*").is_ok());
        assert!(validate("A*B").is_err() && validate("1X").is_err() && validate("").is_err());
        assert!(covers("AWS_*", "AWS_REGION") && covers("AWS_*", "AWS_S3_*") && covers("X", "X"));
        assert!(
            !covers("AWS_REGION", "AWS_*") && !covers("X", "Y") && !covers("AWS_S3_*", "AWS_*")
        );
    }
}
