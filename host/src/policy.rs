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
//! [plugins.weather]
//! sha256 = "…"                 # only this exact component
//! network = ["api.weather.example:443"]
//! env = ["WEATHER_API_KEY"]
//! files = [{ host = "/srv/weather", access = "read" }]
//! exec = [{ command = "git", args = ["log", "**"] }]
//! clocks = "deterministic"     # or "host" (default); same for random
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::Limits;
use crate::capabilities::Allowed;
use crate::capabilities::network::Blocklist;
use crate::manifest::ManifestError;

/// An operator policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub caps: LimitCaps,
    pub blocklist: Blocklist,
    pub plugins: BTreeMap<String, Allowed>,
    /// Relative paths in allowances are relative to this directory.
    pub base_dir: PathBuf,
}

/// Global caps on limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitCaps {
    pub fuel: Option<u64>,
    #[serde(default, deserialize_with = "duration")]
    pub deadline: Option<Duration>,
    #[serde(default, deserialize_with = "bytes")]
    pub memory: Option<usize>,
    #[serde(default, deserialize_with = "bytes")]
    pub output: Option<usize>,
}

impl LimitCaps {
    /// `limits` lowered to these caps.
    pub fn apply(&self, limits: &Limits) -> Limits {
        let mut capped = limits.clone();
        if let Some(cap) = self.fuel {
            capped.fuel = Some(limits.fuel.map_or(cap, |f| f.min(cap)));
        }
        if let Some(cap) = self.deadline {
            capped.deadline = limits.deadline.min(cap);
        }
        if let Some(cap) = self.memory {
            capped.memory_bytes = limits.memory_bytes.min(cap);
        }
        if let Some(cap) = self.output {
            capped.output_bytes = limits.output_bytes.min(cap);
        }
        capped
    }
}

impl Limits {
    /// These limits with every cap the policy sets taken as the value (the policy may grant
    /// more than the runtime's defaults).
    pub fn raised_to(&self, caps: &LimitCaps) -> Limits {
        let mut limits = self.clone();
        if let Some(fuel) = caps.fuel {
            limits.fuel = Some(fuel);
        }
        limits.deadline = caps.deadline.unwrap_or(limits.deadline);
        limits.memory_bytes = caps.memory.unwrap_or(limits.memory_bytes);
        limits.output_bytes = caps.output.unwrap_or(limits.output_bytes);
        limits
    }

    /// The smaller of each limit (`None` fuel counts as unlimited).
    pub fn min(&self, other: &Limits) -> Limits {
        Limits {
            fuel: match (self.fuel, other.fuel) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            deadline: self.deadline.min(other.deadline),
            memory_bytes: self.memory_bytes.min(other.memory_bytes),
            output_bytes: self.output_bytes.min(other.output_bytes),
            input_bytes: self.input_bytes.min(other.input_bytes),
            table_elements: self.table_elements.min(other.table_elements),
            instances: self.instances.min(other.instances),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    limits: LimitCaps,
    #[serde(default)]
    network: NetworkSection,
    #[serde(default)]
    plugins: BTreeMap<String, Allowed>,
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
        let file: PolicyFile = toml::from_str(text).map_err(|e| ManifestError {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Policy {
            caps: file.limits,
            blocklist: Blocklist {
                block: file.network.block,
                allow_local: file.network.allow_local,
            },
            plugins: file.plugins,
            base_dir: base_dir.to_path_buf(),
        })
    }

    /// Allows `plugin` what `allowed` says (builder style).
    pub fn allow(mut self, plugin: impl Into<String>, allowed: Allowed) -> Self {
        self.plugins.insert(plugin.into(), allowed);
        self
    }

    /// Sets the caps on limits (builder style).
    pub fn with_caps(mut self, caps: LimitCaps) -> Self {
        self.caps = caps;
        self
    }

    /// Sets the network blocklist (builder style).
    pub fn with_blocklist(mut self, blocklist: Blocklist) -> Self {
        self.blocklist = blocklist;
        self
    }

    /// What `plugin` may be granted (nothing when the policy does not name it).
    pub fn allowed(&self, plugin: &str) -> Allowed {
        self.plugins.get(plugin).cloned().unwrap_or_default()
    }
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    crate::units::parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    crate::units::deserialize_size(d).map(Some)
}
