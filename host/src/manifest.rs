//! The plugin manifest, `airlock.toml` beside the component: identity, integrity pin,
//! requested limits, configuration schema, requested capabilities, dependencies on other
//! plugins and hook priority. Parsing is strict:
//! unknown keys, wrong types, bad semver and bad capability entries are errors naming the
//! key and the file and line. Nothing gets a silent default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::capabilities::Requested;
use crate::digest::Sha256;
use crate::limits::LimitTable;

/// The file name of a manifest inside a plugin folder.
pub const FILE_NAME: &str = "airlock.toml";

/// A parsed, validated manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub plugin: PluginSection,
    #[serde(default)]
    /// `[limits]`: what the plugin asks for; the policy may lower it, never raise it past
    /// its caps (or the runtime's defaults where it sets none).
    pub limits: LimitTable,
    #[serde(default)]
    pub config: ConfigSection,
    #[serde(default)]
    pub capabilities: Requested,
    /// `[dependencies]`: other plugins (by name) this one needs enabled for the same
    /// tenant, each with a semver range, e.g. `calculator = "^0.1"`.
    #[serde(default)]
    pub dependencies: std::collections::BTreeMap<String, semver::VersionReq>,
    #[serde(default)]
    pub hooks: HooksSection,
}

/// `[hooks]`: where the plugin runs in a hook chain.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksSection {
    /// Lower runs first; ties run in name order.
    #[serde(default)]
    pub priority: i32,
}

/// `[plugin]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginSection {
    pub name: String,
    pub version: semver::Version,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub license: String,
    /// The component, relative to the manifest's folder.
    #[serde(deserialize_with = "relative_path")]
    pub component: PathBuf,
    /// SHA-256 of the component. Required to load a plugin folder.
    #[serde(default)]
    pub sha256: Option<Sha256>,
    /// Compatible Airlock host versions.
    #[serde(default)]
    pub host_versions: Option<semver::VersionReq>,
    /// `reuse` (default: instances live across calls) or `fresh` (a new instance for
    /// every call).
    #[serde(default)]
    pub isolation: crate::Isolation,
    /// The host contracts the component implements (`"pkg:name/iface@1.0.0"`, one or a
    /// list; interfaces or worlds), checked at review against the WIT the policy's
    /// `[contracts]` names ([`crate::contract`]). A component that implements no Airlock
    /// world must declare at least one.
    #[serde(default, deserialize_with = "one_or_many")]
    pub contract: Vec<String>,
    /// Routing keys the plugin serves its contracts for (a URI scheme, a model name): a
    /// host asks the registry which plugin provides contract X for key K. At most
    /// [`MAX_KEYS`], each 1 to [`KEY_BYTES`] bytes of letters, digits and `+ - . _ :`.
    /// `domains = [...]` is another name for the same list (the orchestrator's domain
    /// plugins: `fiction`, `code`, `docs`), so there is one routing mechanism; a manifest
    /// giving both is refused as a duplicate.
    #[serde(default, deserialize_with = "routing_keys")]
    #[serde(alias = "domains")]
    pub keys: Vec<String>,
}

/// Most routing keys a manifest declares.
pub const MAX_KEYS: usize = 64;
/// Longest routing key, in bytes.
pub const KEY_BYTES: usize = 64;

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let names = match OneOrMany::deserialize(d)? {
        OneOrMany::One(name) => vec![name],
        OneOrMany::Many(names) => names,
    };
    if names.len() > MAX_KEYS {
        return Err(serde::de::Error::custom(format!(
            "{} contracts, over the cap of {MAX_KEYS}",
            names.len()
        )));
    }
    for name in &names {
        let valid = name.len() <= 256
            && name.contains(':')
            && name.contains('/')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-:/@.+".contains(c));
        if !valid {
            return Err(serde::de::Error::custom(format!(
                "`{}` is not a contract name: write `namespace:package/interface@version` \
                 (or a world)",
                crate::text::escape(name)
            )));
        }
    }
    Ok(names)
}

fn routing_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let keys = Vec::<String>::deserialize(d)?;
    if keys.len() > MAX_KEYS {
        return Err(serde::de::Error::custom(format!(
            "{} keys, over the cap of {MAX_KEYS}",
            keys.len()
        )));
    }
    for key in &keys {
        let valid = !key.is_empty()
            && key.len() <= KEY_BYTES
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-._:".contains(c));
        if !valid {
            return Err(serde::de::Error::custom(format!(
                "`{}` is not a routing key: 1 to {KEY_BYTES} letters, digits and `+ - . _ :`",
                crate::text::escape(key)
            )));
        }
    }
    Ok(keys)
}

/// `[config]`: the JSON Schema of the plugin's configuration, inline or in a file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigSection {
    pub schema: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "optional_relative_path")]
    pub schema_file: Option<PathBuf>,
}

/// Why a manifest was refused; the message names the file, and the key and line where known.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct ManifestError {
    pub path: PathBuf,
    pub message: String,
}

/// `text`, the manifest at `path`, with its component pinned to `digest`: an existing
/// `sha256 = …` line is replaced, else one is added right after `[plugin]`; everything
/// else, comments included, stays as written (what `airlock pin` and `airlock build` write).
///
/// # Errors
/// [`ManifestError`] naming `path` when the text has no `[plugin]` table.
pub fn pin_text(text: &str, path: &Path, digest: &Sha256) -> Result<String, ManifestError> {
    let line = format!("sha256 = \"{digest}\"");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    match lines
        .iter()
        .position(|l| l.trim_start().starts_with("sha256"))
    {
        Some(i) => lines[i] = line,
        None => {
            let table = lines.iter().position(|l| l.trim() == "[plugin]");
            let at = table.ok_or_else(|| ManifestError {
                path: path.to_path_buf(),
                message: "the manifest has no [plugin] table to pin the component in".into(),
            })?;
            lines.insert(at + 1, line);
        }
    }
    Ok(lines.join("\n") + "\n")
}

impl Manifest {
    /// Reads `dir/airlock.toml`.
    pub fn from_dir(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|e| ManifestError {
            path: path.clone(),
            message: format!("cannot read: {e}"),
        })?;
        Manifest::parse(&text, &path)
    }

    /// Parses manifest text; `path` is used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if manifest.config.schema.is_some() && manifest.config.schema_file.is_some() {
            return Err(ManifestError {
                path: path.to_path_buf(),
                message: "[config] has both `schema` and `schema-file`; keep one".into(),
            });
        }
        Ok(manifest)
    }
}

fn relative_path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    let path = PathBuf::deserialize(d)?;
    let escapes = path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    match escapes {
        true => Err(serde::de::Error::custom(format!(
            "`{}` must be a path inside the plugin folder",
            path.display()
        ))),
        false => Ok(path),
    }
}

fn optional_relative_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    relative_path(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(text: &str) -> Result<Manifest, String> {
        Manifest::parse(text, Path::new("plugins/x/airlock.toml")).map_err(|e| e.to_string())
    }

    const MINIMAL: &str = "[plugin]\nname = \"x\"\nversion = \"1.2.3\"\ncomponent = \"x.wasm\"\n";

    #[test]
    fn a_full_manifest_parses() {
        let text = format!(
            "{MINIMAL}sha256 = \"{}\"\nhost-versions = \"^0.1\"\n[limits]\nfuel = 1000\ndeadline = \"2s\"\nmemory = \"32MiB\"\noutput = 4096\n\
             [config]\nschema = {{ type = \"object\" }}\n\
             [capabilities]\nfiles = [{{ host = \"data\", guest = \"/data\", access = \"read\" }}]\nenv = [\"API_KEY\"]\n\
             network = [\"api.example.com:443\"]\nexec = [{{ command = \"git\", args = [\"log\", \"**\"] }}]\n",
            "ab".repeat(32)
        );
        let m = parse(&text).unwrap();
        assert_eq!(m.limits.deadline, Some(Duration::from_secs(2)));
        assert_eq!(m.limits.memory, Some(32 << 20));
        assert_eq!(m.capabilities.network[0].to_string(), "api.example.com:443");
        assert_eq!(m.config.schema.unwrap()["type"], "object");
        assert_eq!(m.plugin.sha256.unwrap().to_string(), "ab".repeat(32));
    }

    #[test]
    fn a_malformed_component_pin_is_refused_with_the_rule() {
        let err = parse(&format!("{MINIMAL}sha256 = \"{}\"\n", "zz".repeat(32))).unwrap_err();
        assert!(
            err.contains("64 hexadecimal digits") && err.contains("line 5"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let err = parse(&format!("{MINIMAL}verison = \"1\"\n")).unwrap_err();
        assert!(
            err.contains("plugins/x/airlock.toml")
                && err.contains("line 5")
                && err.contains("verison"),
            "{err}"
        );
        let err = parse("[plugin]\nname = \"x\"\nversion = \"1.x\"\ncomponent = \"x.wasm\"\n")
            .unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        let err = parse(&format!(
            "{MINIMAL}[capabilities]\nnetwork = [\"example.com\"]\n"
        ))
        .unwrap_err();
        assert!(
            err.contains("line 6") && err.contains("missing :port"),
            "{err}"
        );
        let err = parse(&format!("{MINIMAL}[limits]\nmemory = \"lots\"\n")).unwrap_err();
        assert!(err.contains("line 6"), "{err}");
        let err = parse("[plugin]\nname = \"x\"\nversion = \"1.0.0\"\ncomponent = \"../x.wasm\"\n")
            .unwrap_err();
        assert!(err.contains("inside the plugin folder"), "{err}");
        let err = parse(&format!("{MINIMAL}[capabilities]\nenv = [\"A*B\"]\n")).unwrap_err();
        assert!(err.contains("line 6") && err.contains("A*B"), "{err}");
        let err = parse(&format!("{MINIMAL}[capabilities]\nfiles = [{{ host = \"d\", guest = \"rel\", access = \"read\" }}]\n")).unwrap_err();
        assert!(err.contains("must be absolute"), "{err}");
        let err = parse(&format!(
            "{MINIMAL}[capabilities]\nexec = [{{ command = \"sh\", args = [\"**\", \"x\"] }}]\n"
        ))
        .unwrap_err();
        assert!(err.contains("last"), "{err}");
    }
}
