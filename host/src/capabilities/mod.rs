//! Capabilities: everything a plugin may reach beyond its own memory. Deny-by-default: the
//! manifest requests, the operator's policy allows, and the plugin gets the intersection —
//! the [`Grant`] — and nothing more.
//!
//! Each capability is one module with one type implementing [`Capability`]: its name, the
//! WIT interfaces it covers (the import audit), its manifest request and policy allowance,
//! how the two make a grant (with the policy line for every refusal), its host bindings
//! (linked once per runtime) and how a grant prepares one instance. The list at the end of
//! this file, [`capabilities!`], names each once and generates everything that runs over
//! all of them: [`Requested`], [`Allowed`], [`Grant`], [`Grant::compute`], the linker, the
//! per-instance WASI context, [`audit::CAPABILITIES`] and the audit's rows. Adding a
//! capability is a module and a line there.
//!
//! The model is Spin's factors (`crates/factors/src/factor.rs`): configuration is resolved
//! without instantiating, so `airlock audit` and a load share it; per-instance state is
//! prepared from the resolved grant alone.

pub mod audit;
pub mod base;
pub mod clocks;
pub mod env;
pub mod exec;
pub mod files;
pub mod host_paths;
pub mod http;
pub mod network;
pub mod random;
pub mod stdio;

use std::fmt::Debug;
use std::path::Path;

use serde::{Deserialize, Serialize};
use wasmtime::component::Linker;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

use self::network::Blocklist;
use self::stdio::OutputCapture;
pub use crate::store::InstanceState;

/// One capability: a unit of reach a plugin can be granted, resolved without instantiating
/// (so the audit and a load share it) and applied per instance from its grant alone.
pub trait Capability {
    /// Its name in manifests, policies, audits and refusals (`files`, `network`, …).
    const NAME: &'static str;
    /// The WIT imports it covers, as prefixes of `namespace:package/interface` (a trailing
    /// `/` covers a whole package: `wasi:filesystem/`). An import no capability covers is
    /// refused by the import audit.
    const IMPORTS: &'static [&'static str];
    /// What a manifest's `[capabilities] NAME = …` asks for (`()` when it cannot be asked
    /// for: the policy alone decides).
    type Request: Debug + Clone + Default + PartialEq + Eq + Serialize;
    /// What a policy's `[plugins.PLUGIN] NAME = …` allows (`()` when nothing is configurable).
    type Allow: Debug + Clone + Default + PartialEq + Eq + Serialize;
    /// The effective reach: what instances are built from, and nothing else.
    type Grant: Debug + Clone + Default + PartialEq + Serialize;
    /// What one instance keeps for this capability beyond its WASI context (`()` for most;
    /// `http` keeps its `wasi:http` context and request hooks). Reached by `link`'s host
    /// bindings through `InstanceState::capabilities`.
    type Instance: Send + 'static;

    /// Requested ∩ allowed. Each request not covered is returned as a [`Missing`] naming the
    /// policy line that would allow it (or why nothing can).
    fn grant(
        request: &Self::Request,
        allow: &Self::Allow,
        scope: &Scope<'_>,
    ) -> (Self::Grant, Vec<Missing>);

    /// Adds this capability's host bindings to the runtime's linker (once per runtime).
    /// Every plugin's imports are linked; what a call may do is decided by its grant.
    fn link(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()>;

    /// Applies `grant` to one instance being built, returning what the instance keeps.
    fn prepare(grant: &Self::Grant, instance: &mut Prepare<'_>)
    -> wasmtime::Result<Self::Instance>;

    /// The audit's row — requested, allowed, effective — or `None` for a capability every
    /// plugin has unconditionally (its imports are still listed by the import audit).
    fn audit(
        request: &Self::Request,
        allow: &Self::Allow,
        grant: Option<&Self::Grant>,
    ) -> Option<AuditRow> {
        Some(AuditRow::new(request, allow, grant))
    }
}

/// One capability's line in `airlock audit`: `{"requested", "allowed", "effective"}`
/// (`effective` is `null` when no grant was made).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub requested: serde_json::Value,
    pub allowed: serde_json::Value,
    pub effective: serde_json::Value,
}

impl AuditRow {
    /// The row of three serialisable parts.
    pub fn new(
        requested: impl Serialize,
        allowed: impl Serialize,
        effective: impl Serialize,
    ) -> Self {
        // Serialising plain data cannot fail; `null` stands in if it ever did.
        fn json(value: impl Serialize) -> serde_json::Value {
            serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
        }
        AuditRow {
            requested: json(requested),
            allowed: json(allowed),
            effective: json(effective),
        }
    }
}

/// What a grant is made in: whose it is, where relative paths resolve, and the policy-wide
/// settings that shape a capability's grant.
pub struct Scope<'a> {
    /// The plugin's name, for refusals' policy lines.
    pub plugin: &'a str,
    /// The plugin's folder (manifest paths are relative to it).
    pub plugin_dir: &'a Path,
    /// The policy file's folder (policy paths are relative to it).
    pub policy_dir: &'a Path,
    /// The policy's `[network]` blocklist: always applied, whatever is granted.
    pub blocklist: &'a Blocklist,
    /// The policy's `[http]` section.
    pub policy_http: &'a http::HttpSettings,
    /// `[plugins.NAME] unsafe-host-paths = true`: file grants may expose the host.
    pub unsafe_host_paths: bool,
}

/// One instance being built: its limits, its log budget (which names whose it is), its
/// WASI context and the captures of its output.
pub struct Prepare<'a> {
    pub(crate) limits: &'a crate::limits::Limits,
    /// The call's budget for what the plugin makes the host log (shared with its stdio).
    pub(crate) log: &'a crate::log_budget::LogBudget,
    pub(crate) wasi: &'a mut WasiCtxBuilder,
    pub(crate) stdout: &'a OutputCapture,
    pub(crate) stderr: &'a OutputCapture,
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
/// `entry` is TOML already (see [`toml_string`]).
pub(crate) fn policy_line(plugin: &str, key: &str, entry: &str) -> String {
    policy_setting(plugin, key, &format!("[{entry}]"))
}

/// `[plugins.NAME] KEY = VALUE`, the name quoted where TOML needs it (`[plugins."my
/// plugin"]`, `[plugins."a.b"]`); `value` is TOML already.
pub(crate) fn policy_setting(plugin: &str, key: &str, value: &str) -> String {
    format!("[plugins.{}] {key} = {value}", toml_key(plugin))
}

/// `name` as one TOML key: bare where TOML allows it (`A-Za-z0-9_-`), else quoted on one
/// line with escapes. A plugin name is the plugin's text, so anything may be in it;
/// the hint must still parse as the table header that allows it.
pub(crate) fn toml_key(name: &str) -> String {
    use toml_writer::TomlWrite as _;
    let mut out = String::new();
    let _ = out.key(toml_writer::TomlKeyBuilder::new(name).as_default());
    out
}

/// `text` as a one-line TOML string, quoted and escaped (never a multi-line string, so a
/// suggested policy line stays one line).
pub(crate) fn toml_string(text: &str) -> String {
    use toml_writer::TomlWrite as _;
    let builder = toml_writer::TomlStringBuilder::new(text);
    let encoded = builder
        .as_basic_pretty()
        .or_else(|| builder.as_literal())
        .unwrap_or_else(|| builder.as_basic());
    let mut out = String::new();
    let _ = out.value(encoded);
    out
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

/// Generates, from one list of capabilities, everything that runs over all of them. Each
/// entry: `field: module::Type, manifest #[serde(…)], policy #[serde(…)];` — the serde
/// attributes of its `[capabilities]` key in a manifest and its key in a policy's
/// `[plugins.NAME]` table (`skip` where it has none).
macro_rules! capabilities {
    ($($field:ident: $cap:ty, manifest #[$request:meta], policy #[$allow:meta];)*) => {
        /// Every capability with the import prefixes it covers, in audit order.
        pub(crate) const LIST: &[(&str, &[&str])] = &[$((<$cap>::NAME, <$cap>::IMPORTS)),*];

        /// What a plugin's manifest asks for (`[capabilities]`).
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Requested {
            $(#[$request] pub $field: <$cap as Capability>::Request,)*
        }

        /// What the operator's policy allows one plugin (`[plugins.NAME]`).
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct Allowed {
            /// Only the component with this digest may use these allowances (64 hex digits,
            /// checked when the policy is parsed).
            #[serde(default)]
            pub sha256: Option<crate::digest::Sha256>,
            $(#[$allow] pub $field: <$cap as Capability>::Allow,)*
            /// `unsafe-host-paths = true`: file grants may expose the host (`/proc`, `/sys`,
            /// `/dev`, kernel pseudo-filesystems, or a directory containing one). Refused by
            /// default.
            #[serde(default)]
            pub unsafe_host_paths: bool,
        }

        /// The effective capabilities of one plugin: requested ∩ allowed. What instances
        /// are built from, and nothing else.
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
        pub struct Grant {
            $(pub $field: <$cap as Capability>::Grant,)*
        }

        impl Grant {
            /// Intersects `requested` with `allowed`, capability by capability. Every request
            /// not covered is listed, with the policy line that would allow it.
            pub fn compute(
                plugin: &str,
                requested: &Requested,
                allowed: &Allowed,
                policy: &crate::policy::Policy,
                dirs: Dirs<'_>,
            ) -> Result<Grant, Vec<Missing>> {
                let scope = Scope {
                    plugin,
                    plugin_dir: dirs.plugin,
                    policy_dir: dirs.policy,
                    blocklist: &policy.blocklist,
                    policy_http: &policy.http,
                    unsafe_host_paths: allowed.unsafe_host_paths,
                };
                let mut missing = Vec::new();
                let grant = Grant {
                    $($field: {
                        let (grant, refused) =
                            <$cap>::grant(&requested.$field, &allowed.$field, &scope);
                        missing.extend(refused);
                        grant
                    },)*
                };
                match missing.is_empty() {
                    true => Ok(grant),
                    false => Err(missing),
                }
            }

            /// Builds one instance's WASI context, and what each capability keeps for it,
            /// from this grant only.
            pub(crate) fn prepare(
                &self,
                limits: &crate::limits::Limits,
                log: &crate::log_budget::LogBudget,
                stdout: &OutputCapture,
                stderr: &OutputCapture,
            ) -> wasmtime::Result<(WasiCtx, Instances)> {
                let mut wasi = WasiCtxBuilder::new();
                let mut instance = Prepare { limits, log, wasi: &mut wasi, stdout, stderr };
                let instances = Instances {
                    $($field: <$cap>::prepare(&self.$field, &mut instance)?,)*
                };
                Ok((wasi.build(), instances))
            }
        }

        /// What one instance keeps per capability (see [`Capability::Instance`]).
        #[allow(dead_code, reason = "most capabilities keep nothing (`()`) per instance")]
        pub struct Instances {
            $(pub(crate) $field: <$cap as Capability>::Instance,)*
        }

        /// Links every capability's host bindings (once per runtime).
        pub(crate) fn link(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
            $(<$cap>::link(linker)?;)*
            Ok(())
        }

        /// The audit's rows, by capability name: requested, allowed and (when a grant was
        /// made) effective.
        pub fn audit_rows(
            requested: &Requested,
            allowed: &Allowed,
            grant: Option<&Grant>,
        ) -> serde_json::Map<String, serde_json::Value> {
            let mut rows = serde_json::Map::new();
            $(
                let row = <$cap>::audit(
                    &requested.$field,
                    &allowed.$field,
                    grant.map(|g| &g.$field),
                );
                if let Some(row) = row {
                    rows.insert(<$cap>::NAME.to_string(), serde_json::json!(row));
                }
            )*
            rows
        }
    };
}

capabilities! {
    base: base::Base, manifest #[serde(skip)], policy #[serde(skip)];
    stdio: stdio::Stdio, manifest #[serde(skip)], policy #[serde(skip)];
    files: files::Files,
        manifest #[serde(default, deserialize_with = "files::checked")],
        policy #[serde(default)];
    env: env::Env,
        manifest #[serde(default, deserialize_with = "env::checked")],
        policy #[serde(default, deserialize_with = "env::checked")];
    network: network::Network, manifest #[serde(default)], policy #[serde(default)];
    exec: exec::Exec,
        manifest #[serde(default, deserialize_with = "exec::checked")],
        policy #[serde(default, deserialize_with = "exec::checked")];
    http: http::Http, manifest #[serde(default)], policy #[serde(default)];
    clocks: clocks::Clocks, manifest #[serde(skip)], policy #[serde(default)];
    random: random::Random, manifest #[serde(skip)], policy #[serde(default)];
}

impl Requested {
    /// Asks for nothing.
    pub fn is_empty(&self) -> bool {
        *self == Requested::default()
    }
}

impl Grant {
    /// Nothing at all: no files, env, network or exec; host clocks and random.
    pub fn none() -> Grant {
        Grant::default()
    }
}

/// Where the manifest and policy live, for resolving relative paths.
pub struct Dirs<'a> {
    pub plugin: &'a Path,
    pub policy: &'a Path,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::exec::ExecPattern;
    use crate::capabilities::network::NetPattern;
    use crate::policy::Policy;

    /// Found by the policy fuzz target: a name with backslashes and a newline was quoted as
    /// a multi-line string, which TOML does not allow in a table header.
    #[test]
    fn any_plugin_name_is_a_table_header_that_parses_back_to_it() {
        let names = [
            "calc",
            "my plugin",
            "a.b",
            "x\\\\\n= e = ",
            "it's \"quoted\"",
            "tab\there",
            "[plugins.x]",
            "",
        ];
        for name in names {
            let line = policy_setting(name, "env", "[\"HOME\"]");
            assert!(!line.contains('\n'), "one line: {line}");
            let (header, setting) = line.split_once("] env").expect("a header");
            let text = format!("{header}]\nenv{setting}");
            let policy = Policy::parse(
                &text,
                std::path::Path::new("fix.toml"),
                std::path::Path::new("/"),
            )
            .unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(policy.allowed(name).env, ["HOME"], "{line}");
        }
        assert_eq!(toml_string("two\nlines"), "\"two\\nlines\"");
    }

    fn manifest_requests(toml_text: &str) -> Requested {
        toml::from_str(toml_text).expect("a [capabilities] table")
    }

    fn policy_allows(toml_text: &str, plugin: &str) -> Policy {
        let text = format!("[plugins.{plugin}]\n{toml_text}");
        Policy::parse(&text, Path::new("policy.toml"), Path::new("/")).expect("a policy")
    }

    fn compute(
        requested: &Requested,
        policy: &Policy,
        plugin: &str,
    ) -> Result<Grant, Vec<Missing>> {
        let dirs = Dirs {
            plugin: Path::new("/"),
            policy: Path::new("/"),
        };
        let allowed = policy.allowed(plugin);
        Grant::compute(plugin, requested, &allowed, policy, dirs)
    }

    /// Every capability with requests: covered requests are granted as asked (not as wide
    /// as the allowance), and the policy-only capabilities take the policy's setting.
    #[test]
    fn a_grant_is_what_was_requested_and_allowed() {
        let requested = manifest_requests(
            r#"
            env = ["HOME", "AIRLOCK_T_*"]
            network = ["api.example.com:443"]
            exec = [{ command = "git", args = ["log", "*"] }]
            "#,
        );
        let policy = policy_allows(
            r#"
            env = ["*"]
            network = ["*.example.com:*", "api.example.com:443"]
            exec = [{ command = "git", args = ["**"] }]
            clocks = "deterministic"
            random = "deterministic"
            "#,
            "p",
        );
        let grant = compute(&requested, &policy, "p").expect("everything is covered");
        assert_eq!(grant.env.names, ["HOME", "AIRLOCK_T_*"]);
        let home = std::env::var("HOME").ok();
        let captured = grant
            .env
            .values
            .iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| v.clone());
        assert_eq!(captured, home, "values are captured when the grant is made");
        assert_eq!(grant.network.entries, requested.network);
        assert_eq!(grant.network.blocklist, policy.blocklist);
        assert_eq!(grant.exec, requested.exec);
        assert_eq!(grant.clocks, clocks::ClockMode::Deterministic);
        assert_eq!(grant.random, random::RandomMode::Deterministic);
        assert!(grant.files.is_empty());
    }

    /// Nothing allowed: every request is refused, each naming its capability, and nothing
    /// is granted at all (no partial grant).
    #[test]
    fn every_uncovered_request_is_listed_by_capability() {
        let requested = manifest_requests(
            r#"
            env = ["HOME"]
            network = ["api.example.com:443"]
            exec = [{ command = "git" }]
            files = [{ host = "no-such-dir", guest = "/d", access = "read" }]
            "#,
        );
        let refused = compute(&requested, &Policy::default(), "p").unwrap_err();
        let mut names: Vec<&str> = refused.iter().map(|m| m.capability).collect();
        names.sort();
        assert_eq!(names, ["env", "exec", "files", "network"]);
        let narrow = policy_allows(r#"env = ["HOM"]"#, "p");
        let requested = manifest_requests(r#"env = ["HOME"]"#);
        let refused = compute(&requested, &narrow, "p").unwrap_err();
        assert_eq!(refused[0].fix, r#"[plugins.p] env = ["HOME"]"#);
    }

    /// Asking for nothing gets nothing but the defaults, whatever the policy allows.
    #[test]
    fn no_request_no_reach() {
        let policy = policy_allows(
            r#"env = ["*"]
network = ["*:*"]
exec = [{ command = "sh", args = ["**"] }]"#,
            "p",
        );
        let grant = compute(&Requested::default(), &policy, "p").unwrap();
        assert_eq!(grant, Grant::none());
    }

    /// Clocks and random are the operator's to set: a manifest cannot ask for them (the key
    /// is unknown there, as before the capability list).
    #[test]
    fn policy_only_capabilities_are_not_manifest_keys() {
        for key in [
            "clocks = \"host\"",
            "random = \"host\"",
            "stdio = 1",
            "base = 1",
        ] {
            let err = toml::from_str::<Requested>(key).unwrap_err().to_string();
            assert!(err.contains("unknown field"), "{key}: {err}");
        }
    }

    /// The one list: each capability's import prefixes map back to it, and no two
    /// capabilities claim the same import.
    #[test]
    fn each_import_prefix_belongs_to_exactly_one_capability() {
        for (name, prefixes) in LIST {
            for prefix in *prefixes {
                let import = format!("{prefix}x@0.2.6");
                let owners: Vec<&str> = LIST
                    .iter()
                    .filter(|(_, ps)| ps.iter().any(|p| import.starts_with(p)))
                    .map(|(n, _)| *n)
                    .collect();
                assert_eq!(owners, [*name], "{import}");
                assert_eq!(audit::capability_of(&import), Some(*name), "{import}");
            }
        }
    }

    /// The audit's rows come from the list: one per capability a reviewer decides on,
    /// with `effective` empty until a grant is made.
    #[test]
    fn audit_rows_cover_every_decided_capability() {
        let requested = manifest_requests(r#"env = ["HOME"]"#);
        let allowed = Allowed::default();
        let rows = audit_rows(&requested, &allowed, None);
        let names: Vec<&str> = rows.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "clocks", "env", "exec", "files", "http", "network", "random"
            ]
        );
        assert_eq!(rows["env"]["requested"], serde_json::json!(["HOME"]));
        assert_eq!(rows["env"]["effective"], serde_json::Value::Null);
        assert_eq!(rows["clocks"]["requested"], "host");
        let grant = Grant::none();
        let rows = audit_rows(&Requested::default(), &allowed, Some(&grant));
        assert_eq!(rows["network"]["effective"], serde_json::json!([]));
        assert_eq!(rows["random"]["effective"], "host");
    }

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
