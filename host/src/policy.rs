//! The operator's policy: what may be granted, per plugin name (optionally pinned to a
//! component digest), global caps on limits, and the network blocklist. Loaded from TOML or
//! built in code.
//!
//! ```toml
//! [limits]                     # caps: a plugin may ask for less, never more
//! fuel = 5000000000
//! deadline = "30s"
//! memory = "256MiB"
//! output = "16MiB"
//!
//! [network]
//! block = ["203.0.113.0/24"]   # always blocked, whatever is granted
//! allow-local = ["127.0.0.1/32"]  # exempt from the default private/loopback block
//!
//! [http]
//! ca = "private-ca.pem"        # CA certificates trusted besides the web PKI roots
//!
//! [hooks]
//! fail-closed = ["before-tool-call"]  # a failing plugin stops these chains (default: open)
//!
//! [plugins.weather]
//! sha256 = "…"                 # only this exact component
//! network = ["api.weather.example:443"]
//! env = ["WEATHER_API_KEY"]
//! files = [{ host = "/srv/weather", access = "read" }]
//! exec = [{ command = "git", args = ["log", "**"] }]
//! http = ["https://api.weather.example/v1", { url = "https://*.example.org", methods = ["GET"] }]
//! clocks = "deterministic"     # or "host" (default); same for random
//!
//! [contracts]                  # WIT packages of the host's own plugin contracts:
//! wit = ["contracts/"]         # see `crate::contract`
//!
//! [trust]                      # signed plugins: see `crate::trust`
//! keys = ["RWQ…"]              # minisign public keys whose signatures are accepted
//! require-signature = true
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

use crate::capabilities::Allowed;
use crate::capabilities::http::HttpSettings;
use crate::capabilities::network::Blocklist;
use crate::limits::LimitTable;
use crate::manifest::ManifestError;
use crate::types::HookKind;

/// An operator policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// Caps on limits; where a cap is unset, the runtime's default is the ceiling.
    pub caps: LimitTable,
    pub blocklist: Blocklist,
    /// `[http]`: settings of outbound HTTP (the extra CA bundle, resolved and checked).
    pub http: HttpSettings,
    pub plugins: BTreeMap<String, Allowed>,
    /// Hook kinds whose chains stop when a plugin fails (the others go on).
    pub fail_closed: Vec<HookKind>,
    /// Relative paths in allowances are relative to this directory.
    pub base_dir: PathBuf,
    /// `[trust]`: which keys may sign plugins, and which plugins must be signed.
    pub trust: crate::trust::TrustPolicy,
    /// `[contracts]`: the WIT contracts this host serves, which a manifest's
    /// `[plugin] contract` names ([`crate::contract`]).
    pub contracts: crate::contract::Contracts,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    limits: LimitTable,
    #[serde(default)]
    network: NetworkSection,
    #[serde(default)]
    http: HttpSettings,
    #[serde(default)]
    plugins: BTreeMap<String, Allowed>,
    #[serde(default)]
    hooks: HooksSection,
    #[serde(default)]
    trust: crate::trust::TrustSection,
    #[serde(default)]
    contracts: ContractsSection,
}

/// `[contracts]`
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ContractsSection {
    /// WIT files or package folders, relative to the policy.
    #[serde(default)]
    wit: Vec<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct HooksSection {
    #[serde(default)]
    fail_closed: Vec<HookKind>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct NetworkSection {
    #[serde(default)]
    block: Vec<IpNet>,
    #[serde(default)]
    allow_local: Vec<IpNet>,
}

impl Policy {
    /// Reads a policy file.
    pub fn from_file(path: &Path) -> Result<Policy, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            path: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Policy::parse(&text, path, dir)
    }

    /// Parses policy text; `path` names it in errors, `base_dir` anchors relative paths.
    pub fn parse(text: &str, path: &Path, base_dir: &Path) -> Result<Policy, ManifestError> {
        let error = |message: String| ManifestError {
            path: path.to_path_buf(),
            message,
        };
        let file: PolicyFile = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        let http = file.http.resolve(base_dir).map_err(error)?;
        let trust = file.trust.resolve(base_dir).map_err(error)?;
        let contracts = crate::contract::load(base_dir, &file.contracts.wit)
            .map_err(|e| error(format!("[contracts] wit: {e}")))?;
        Ok(Policy {
            caps: file.limits,
            blocklist: Blocklist {
                block: file.network.block,
                allow_local: file.network.allow_local,
            },
            http,
            plugins: file.plugins,
            fail_closed: file.hooks.fail_closed,
            base_dir: base_dir.to_path_buf(),
            trust,
            contracts,
        })
    }

    /// Sets the `[trust]` rules (builder style).
    pub fn with_trust(mut self, trust: crate::trust::TrustPolicy) -> Self {
        self.trust = trust;
        self
    }

    /// Serves `contracts` (builder style).
    pub fn with_contracts(mut self, contracts: crate::contract::Contracts) -> Self {
        self.contracts = contracts;
        self
    }

    /// Allows `plugin` what `allowed` says (builder style).
    pub fn allow(mut self, plugin: impl Into<String>, allowed: Allowed) -> Self {
        self.plugins.insert(plugin.into(), allowed);
        self
    }

    /// Sets the caps on limits (builder style).
    pub fn with_caps(mut self, caps: LimitTable) -> Self {
        self.caps = caps;
        self
    }

    /// Sets the network blocklist (builder style).
    pub fn with_blocklist(mut self, blocklist: Blocklist) -> Self {
        self.blocklist = blocklist;
        self
    }

    /// Makes a failing plugin stop `kind`'s hook chains (builder style).
    pub fn fail_closed(mut self, kind: HookKind) -> Self {
        self.fail_closed.push(kind);
        self
    }

    /// What `plugin` may be granted (nothing when the policy does not name it).
    pub fn allowed(&self, plugin: &str) -> Allowed {
        self.plugins.get(plugin).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parse(text: &str) -> Result<Policy, String> {
        Policy::parse(text, Path::new("policy.toml"), Path::new("/")).map_err(|e| e.to_string())
    }

    /// A pin that can never match is a mistake in the policy, reported where it is written,
    /// not a denial at every load.
    #[test]
    fn a_component_pin_is_checked_when_the_policy_is_parsed() {
        let err = parse("[plugins.calc]\nsha256 = \"abc123\"\n").unwrap_err();
        assert!(
            err.contains("policy.toml") && err.contains("64 hexadecimal digits"),
            "{err}"
        );
        let upper = format!("[plugins.calc]\nsha256 = \"{}\"\n", DIGEST.to_uppercase());
        let pinned = parse(&upper).unwrap().allowed("calc").sha256.unwrap();
        assert_eq!(pinned.to_string(), DIGEST);
    }
}
