//! Environment variables: only named variables (or, where the policy allows wildcards,
//! `PREFIX_*` patterns) are copied from the host's environment into the guest's. Covers
//! `wasi:cli/environment`, which every Rust wasip2 binary imports; without a grant its
//! environment is empty.

use serde::Serialize;
use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::p2::bindings::cli;

use super::{Capability, Missing, Prepare, Scope};
use crate::store::InstanceState;

pub const NAME: &str = "env";
pub const IMPORTS: &[&str] = &["wasi:cli/environment"];

/// The env capability (see the module docs).
pub struct Env;

/// Granted variable names and patterns, and the host variables they select (captured when
/// the grant is made; shown by name only).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct EnvGrant {
    pub names: Vec<String>,
    #[serde(skip)]
    pub values: Vec<(String, String)>,
}

impl Capability for Env {
    const NAME: &'static str = NAME;
    const IMPORTS: &'static [&'static str] = IMPORTS;
    type Request = Vec<String>;
    type Allow = Vec<String>;
    type Grant = EnvGrant;
    type Instance = ();

    fn grant(
        requests: &Vec<String>,
        allows: &Vec<String>,
        scope: &Scope<'_>,
    ) -> (EnvGrant, Vec<Missing>) {
        let (names, missing) = grant(requests, allows, scope.plugin);
        let values = resolve(&names);
        (EnvGrant { names, values }, missing)
    }

    fn link(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
        cli::environment::add_to_linker::<_, WasiCli>(linker, InstanceState::cli)
    }

    fn prepare(grant: &EnvGrant, instance: &mut Prepare<'_>) -> wasmtime::Result<()> {
        apply(&grant.values, instance.wasi);
        Ok(())
    }
}

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
