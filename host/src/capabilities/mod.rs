//! Capabilities: everything a plugin may reach beyond its own memory and the host's
//! logging. Deny-by-default: the manifest requests, the operator's policy allows, and the
//! plugin gets the intersection — the [`Grant`] — and nothing more.
//!
//! Each capability is one module owning its request and allowance types, the matching that
//! makes a grant, the component imports it covers (for the import audit), and how a grant
//! is applied to an instance. Adding a capability means adding a module and listing it in
//! [`audit::CAPABILITIES`] and [`Grant`].

pub mod audit;
pub mod clocks;
pub mod env;
pub mod exec;
pub mod files;
pub mod host_paths;
pub mod network;
pub mod random;
pub mod stdio;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

use self::clocks::ClockMode;
use self::exec::ExecPattern;
use self::files::{FileAllow, FileGrant, FileRequest};
use self::network::{AddressCheck, Blocklist, NetPattern};
use self::random::RandomMode;
use self::stdio::OutputCapture;

/// What a plugin's manifest asks for (`[capabilities]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requested {
    #[serde(default, deserialize_with = "files::checked")]
    pub files: Vec<FileRequest>,
    #[serde(default, deserialize_with = "env::checked")]
    pub env: Vec<String>,
    #[serde(default)]
    pub network: Vec<NetPattern>,
    #[serde(default, deserialize_with = "exec::checked")]
    pub exec: Vec<ExecPattern>,
}

impl Requested {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
            && self.env.is_empty()
            && self.network.is_empty()
            && self.exec.is_empty()
    }
}

/// Deserialises a list and checks every entry, so a bad entry is reported at its line.
fn checked_list<'de, D, T>(d: D, check: fn(&T) -> Result<(), String>) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items = Vec::<T>::deserialize(d)?;
    for item in &items {
        check(item).map_err(serde::de::Error::custom)?;
    }
    Ok(items)
}

/// What the operator's policy allows one plugin (`[plugins.NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Allowed {
    /// Only the component with this digest may use these allowances (64 hex digits,
    /// checked when the policy is parsed).
    #[serde(default)]
    pub sha256: Option<crate::digest::Sha256>,
    #[serde(default)]
    pub files: Vec<FileAllow>,
    #[serde(default, deserialize_with = "env::checked")]
    pub env: Vec<String>,
    #[serde(default)]
    pub network: Vec<NetPattern>,
    #[serde(default, deserialize_with = "exec::checked")]
    pub exec: Vec<ExecPattern>,
    #[serde(default)]
    pub clocks: ClockMode,
    #[serde(default)]
    pub random: RandomMode,
    /// `unsafe-host-paths = true`: file grants may expose the host (`/proc`, `/sys`, `/dev`,
    /// kernel pseudo-filesystems, or a directory containing one). Refused by default.
    #[serde(default)]
    pub unsafe_host_paths: bool,
}

/// A requested capability the policy does not cover, with the policy line that would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub capability: &'static str,
    pub requested: String,
    /// What to add to the policy (or why nothing can be granted).
    pub fix: String,
}

impl Missing {
    pub(crate) fn new(capability: &'static str, requested: String, fix: String) -> Self {
        Missing {
            capability,
            requested,
            fix,
        }
    }
}

/// Splits `requests` into those the policy covers and the rest; each uncovered request is
/// listed with the policy line (`fix`) that would allow it. Shared by every capability
/// whose requests are matched one by one.
pub(crate) fn intersect<T: Clone + std::fmt::Display>(
    capability: &'static str,
    requests: &[T],
    covered: impl Fn(&T) -> bool,
    fix: impl Fn(&T) -> String,
) -> (Vec<T>, Vec<Missing>) {
    let (granted, refused): (Vec<&T>, Vec<&T>) = requests.iter().partition(|r| covered(r));
    let missing = refused
        .into_iter()
        .map(|r| Missing::new(capability, r.to_string(), fix(r)))
        .collect();
    (granted.into_iter().cloned().collect(), missing)
}

/// The policy line that allows `plugin` `key = [entry]`, as a refusal shows it:
/// `[plugins.NAME] KEY = [ENTRY]` (the table header goes on a line of its own when pasted).
/// The name is quoted where TOML needs it (`[plugins."my plugin"]`, `[plugins."a.b"]`);
/// `entry` is TOML already (see [`toml_string`]).
pub(crate) fn policy_line(plugin: &str, key: &str, entry: &str) -> String {
    let bare = !plugin.is_empty()
        && plugin
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let name = match bare {
        true => plugin.to_string(),
        false => toml_string(plugin),
    };
    format!("[plugins.{name}] {key} = [{entry}]")
}

/// `text` as a TOML string, quoted and escaped.
pub(crate) fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} `{}` is not granted; to allow it: {}",
            self.capability, self.requested, self.fix
        )
    }
}

/// The effective capabilities of one plugin: requested ∩ allowed. What instances are built
/// from, and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Grant {
    pub files: Vec<FileGrant>,
    /// Granted variable names or patterns.
    pub env: Vec<String>,
    /// The host variables those select, captured when the grant was made.
    #[serde(skip)]
    pub env_values: Vec<(String, String)>,
    pub network: Vec<NetPattern>,
    pub blocklist: Blocklist,
    pub exec: Vec<ExecPattern>,
    pub clocks: ClockMode,
    pub random: RandomMode,
}

/// Where the manifest and policy live, for resolving relative paths.
pub struct Dirs<'a> {
    pub plugin: &'a Path,
    pub policy: &'a Path,
}

impl Grant {
    /// Nothing at all: no files, env, network or exec; host clocks and random.
    pub fn none() -> Grant {
        Grant::default()
    }

    /// Intersects `requested` with `allowed`. Every request not covered is listed.
    pub fn compute(
        plugin: &str,
        requested: &Requested,
        allowed: &Allowed,
        blocklist: &Blocklist,
        dirs: Dirs<'_>,
    ) -> Result<Grant, Vec<Missing>> {
        let scope = files::FileScope {
            plugin_dir: dirs.plugin,
            policy_dir: dirs.policy,
            unsafe_host_paths: allowed.unsafe_host_paths,
        };
        let (files, mut missing) = files::grant(&requested.files, &allowed.files, &scope, plugin);
        let (env, m) = env::grant(&requested.env, &allowed.env, plugin);
        missing.extend(m);
        let (network, m) = network::grant(&requested.network, &allowed.network, plugin);
        missing.extend(m);
        let (exec, m) = exec::grant(&requested.exec, &allowed.exec, plugin);
        missing.extend(m);
        if !missing.is_empty() {
            return Err(missing);
        }
        Ok(Grant {
            env_values: env::resolve(&env),
            files,
            env,
            network,
            blocklist: blocklist.clone(),
            exec,
            clocks: allowed.clocks,
            random: allowed.random,
        })
    }

    /// Builds one instance's WASI context from this grant only.
    pub(crate) fn wasi_context(
        &self,
        stdout: OutputCapture,
        stderr: OutputCapture,
    ) -> wasmtime::Result<WasiCtx> {
        let mut builder = WasiCtxBuilder::new();
        builder.stdout(stdout).stderr(stderr);
        files::apply(&self.files, &mut builder)?;
        env::apply(&self.env_values, &mut builder);
        let check = (!self.network.is_empty()).then(|| AddressCheck {
            granted: Arc::from(self.network.as_slice()),
            blocklist: Arc::new(self.blocklist.clone()),
        });
        network::apply(check.as_ref(), &mut builder);
        clocks::apply(self.clocks, &mut builder);
        random::apply(self.random, &mut builder);
        Ok(builder.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    /// The policy `fix` of a refusal as an operator pastes it: the table header on a line
    /// of its own, then the key.
    fn pasted(fix: &str, key: &str) -> Policy {
        let text = fix.replacen(&format!("] {key} = "), &format!("]\n{key} = "), 1);
        Policy::parse(&text, Path::new("fix.toml"), Path::new("/"))
            .unwrap_or_else(|e| panic!("`{fix}` is not a policy line: {e}"))
    }

    /// Found by the `policy` fuzz target: a refusal named a policy line that was not TOML
    /// when the plugin's name needs quoting (a space, a dot) or an exec argument holds a
    /// quote or a backslash.
    #[test]
    fn refusals_name_policy_lines_that_parse_and_allow_the_request() {
        let exec = ExecPattern {
            command: "sh".into(),
            args: vec!["-c".into(), r#"echo "hi" \ done"#.into()],
        };
        let net: NetPattern = "api.example.com:443".parse().unwrap();
        for plugin in ["weather", "my plugin", "a.b", "q\"uote", ""] {
            let (_, missing) = exec::grant(std::slice::from_ref(&exec), &[], plugin);
            let allowed = pasted(&missing[0].fix, "exec").allowed(plugin);
            assert_eq!(
                allowed.exec,
                std::slice::from_ref(&exec),
                "{}",
                missing[0].fix
            );
            let (_, missing) = network::grant(std::slice::from_ref(&net), &[], plugin);
            let allowed = pasted(&missing[0].fix, "network").allowed(plugin);
            assert_eq!(
                allowed.network,
                std::slice::from_ref(&net),
                "{}",
                missing[0].fix
            );
            let (_, missing) = env::grant(&["API_*".into()], &[], plugin);
            let line = missing[0].fix.split(" (").next().unwrap();
            assert_eq!(pasted(line, "env").allowed(plugin).env, ["API_*"], "{line}");
        }
        let (_, missing) = network::grant(std::slice::from_ref(&net), &[], "weather");
        assert_eq!(
            missing[0].fix,
            r#"[plugins.weather] network = ["api.example.com:443"]"#
        );
    }
}
