//! Files: host directories preopened into the guest at a guest path, read-only or
//! read-write. Covers `wasi:filesystem/*`. Without a grant the guest sees no directory at
//! all; path resolution inside a preopen (`..`, symlinks) is confined by wasmtime-wasi's
//! capability-based filesystem. Directories that would hand over the host itself (`/proc`,
//! `/sys`, `/dev`, kernel pseudo-filesystems, or any directory containing one — see
//! [`host_paths`](super::host_paths)) are refused unless the policy says
//! `unsafe-host-paths = true`; such a grant is then flagged in the audit.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use wasmtime::component::Linker;
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::{Capability, Missing, Prepare, Scope};
use crate::store::InstanceState;

pub const NAME: &str = "files";
pub const IMPORTS: &[&str] = &["wasi:filesystem/"];

/// The files capability (see the module docs).
pub struct Files;

impl Capability for Files {
    const NAME: &'static str = NAME;
    const IMPORTS: &'static [&'static str] = IMPORTS;
    type Request = Vec<FileRequest>;
    type Allow = Vec<FileAllow>;
    type Grant = Vec<FileGrant>;
    type Instance = ();

    fn grant(
        requests: &Vec<FileRequest>,
        allows: &Vec<FileAllow>,
        scope: &Scope<'_>,
    ) -> (Vec<FileGrant>, Vec<Missing>) {
        grant(requests, allows, scope)
    }

    fn link(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
        let view = InstanceState::filesystem;
        filesystem::types::add_to_linker::<_, WasiFilesystem>(linker, view)?;
        filesystem::preopens::add_to_linker::<_, WasiFilesystem>(linker, view)
    }

    fn prepare(grants: &Vec<FileGrant>, instance: &mut Prepare<'_>) -> wasmtime::Result<()> {
        apply(grants, instance.wasi)
    }
}

/// How much of a directory the plugin may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    Read,
    ReadWrite,
}

/// Manifest: `{ host = "data", guest = "/data", access = "read" }`; `host` is relative to
/// the plugin's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    pub host: PathBuf,
    pub guest: String,
    pub access: Access,
}

/// Policy: `{ host = "/srv/plugins", access = "read-write" }` allows that directory and
/// everything below it, up to `access`. Relative paths are relative to the policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAllow {
    pub host: PathBuf,
    pub access: Access,
}

/// An effective grant: a canonical host directory at a guest path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileGrant {
    pub host: PathBuf,
    pub guest: String,
    pub access: Access,
    /// Set when the directory exposes the host (a pseudo-filesystem, or contains one) and
    /// the policy allowed it anyway with `unsafe-host-paths = true`: why it is unsafe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposes_host: Option<String>,
}

/// The policy line that allows pseudo-filesystem grants for `plugin`.
pub fn unsafe_line(plugin: &str) -> String {
    super::policy_setting(plugin, "unsafe-host-paths", "true")
}

/// Checks a request's own shape (used while parsing the manifest).
pub fn validate(request: &FileRequest) -> Result<(), String> {
    let guest = Path::new(&request.guest);
    if !guest.is_absolute()
        || guest
            .components()
            .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(format!(
            "guest path `{}` must be absolute and must not contain `..`",
            request.guest
        ));
    }
    Ok(())
}

/// Grants each request covered by an allowance; the rest are missing. A directory that
/// exposes the host is missing too, naming `unsafe-host-paths = true`, unless the scope
/// allows it.
pub fn grant(
    requests: &[FileRequest],
    allows: &[FileAllow],
    scope: &Scope<'_>,
) -> (Vec<FileGrant>, Vec<Missing>) {
    let (plugin, plugin_dir, policy_dir) = (scope.plugin, scope.plugin_dir, scope.policy_dir);
    let allowed: Vec<(PathBuf, Access)> = allows
        .iter()
        .filter_map(|a| {
            policy_dir
                .join(&a.host)
                .canonicalize()
                .ok()
                .map(|p| (p, a.access))
        })
        .collect();
    let mut granted = Vec::new();
    let mut missing = Vec::new();
    for request in requests {
        let shown = format!(
            "{} → {} ({})",
            request.host.display(),
            request.guest,
            access_name(request.access)
        );
        let host = match plugin_dir.join(&request.host).canonicalize() {
            Ok(host) if host.is_dir() => host,
            _ => {
                missing.push(Missing::new(
                    NAME,
                    shown,
                    format!(
                        "the directory {} does not exist",
                        plugin_dir.join(&request.host).display()
                    ),
                ));
                continue;
            }
        };
        let covered = allowed
            .iter()
            .any(|(dir, access)| host.starts_with(dir) && *access >= request.access);
        let exposes_host = super::host_paths::exposure(&host);
        let entry = format!(
            "{{ host = {}, access = \"{}\" }}",
            super::toml_string(&host.display().to_string()),
            access_name(request.access)
        );
        let line = super::policy_line(plugin, NAME, &entry);
        if let Some(why) = exposes_host.as_ref().filter(|_| !scope.unsafe_host_paths) {
            let also = match covered {
                true => String::new(),
                false => format!(" and `{line}`"),
            };
            let fix = format!(
                "refused by default: {why}, which hands the plugin the host itself (its \
                 environment, memory or devices); if that is really meant, add `{}`{also}",
                unsafe_line(plugin)
            );
            missing.push(Missing::new(NAME, shown, fix));
        } else if covered {
            if let Some(why) = &exposes_host {
                tracing::warn!(
                    plugin,
                    "unsafe-host-paths: granting {}: {why}",
                    host.display()
                );
            }
            granted.push(FileGrant {
                host,
                guest: request.guest.clone(),
                access: request.access,
                exposes_host,
            });
        } else {
            missing.push(Missing::new(NAME, shown, line));
        }
    }
    (granted, missing)
}

pub fn apply(grants: &[FileGrant], builder: &mut WasiCtxBuilder) -> wasmtime::Result<()> {
    for grant in grants {
        // The directory was checked against the policy when the grant was made. If a symlink
        // has since been swapped in along its path, it now resolves elsewhere: refuse.
        let now = grant.host.canonicalize()?;
        if now != grant.host {
            wasmtime::bail!(
                "granted directory {} now resolves to {}; refused",
                grant.host.display(),
                now.display()
            );
        }
        let perms = match grant.access {
            Access::Read => FsPerms::ReadOnly,
            Access::ReadWrite => FsPerms::ReadWrite,
        };
        builder.preopened_dir(&grant.host, &grant.guest, perms)?;
    }
    Ok(())
}

pub fn access_name(access: Access) -> &'static str {
    match access {
        Access::Read => "read",
        Access::ReadWrite => "read-write",
    }
}

/// Serde helper: a list of entries, each validated.
pub(crate) fn checked<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<FileRequest>, D::Error> {
    super::checked_list(d, validate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::network::Blocklist;
    use crate::policy::Policy;

    /// A fresh directory tree: `plugin/data/sub` and `policy/` under the system temp dir.
    fn tree(name: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("airlock-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("plugin/data/sub")).unwrap();
        std::fs::create_dir_all(root.join("policy")).unwrap();
        root
    }

    fn request(host: &str, guest: &str, access: Access) -> FileRequest {
        FileRequest {
            host: host.into(),
            guest: guest.into(),
            access,
        }
    }

    fn granted(
        root: &Path,
        plugin: &str,
        requests: &[FileRequest],
        allows: &[FileAllow],
        unsafe_host_paths: bool,
    ) -> (Vec<FileGrant>, Vec<Missing>) {
        let scope = Scope {
            plugin,
            plugin_dir: &root.join("plugin"),
            policy_dir: &root.join("policy"),
            blocklist: &Blocklist::default(),
            policy_http: &Default::default(),
            unsafe_host_paths,
        };
        grant(requests, allows, &scope)
    }

    #[test]
    fn a_directory_below_an_allowance_is_granted_up_to_its_access() {
        let root = tree("below");
        let allow = FileAllow {
            host: "../plugin/data".into(), // relative to the policy's folder
            access: Access::Read,
        };
        let requests = [
            request("data/sub", "/sub", Access::Read),
            request("data", "/data", Access::ReadWrite),
        ];
        let (grants, missing) = granted(&root, "p", &requests, &[allow], false);
        let sub = root.join("plugin/data/sub").canonicalize().unwrap();
        assert_eq!(grants.len(), 1);
        assert_eq!(
            (grants[0].host.as_path(), grants[0].guest.as_str()),
            (sub.as_path(), "/sub")
        );
        assert_eq!(grants[0].exposes_host, None);
        assert_eq!(
            missing.len(),
            1,
            "read-write is wider than the read allowance"
        );
        assert_eq!(missing[0].capability, "files");
        assert!(
            missing[0].fix.contains(r#"access = "read-write""#),
            "{}",
            missing[0].fix
        );
    }

    #[test]
    fn a_missing_directory_or_one_outside_every_allowance_is_refused() {
        let root = tree("outside");
        let allow = FileAllow {
            host: "../plugin/data/sub".into(),
            access: Access::ReadWrite,
        };
        let requests = [
            request("nowhere", "/x", Access::Read),
            request("data", "/data", Access::Read),
        ];
        let (grants, missing) = granted(&root, "p", &requests, &[allow], false);
        assert!(grants.is_empty());
        assert!(
            missing[0].fix.contains("does not exist"),
            "{}",
            missing[0].fix
        );
        assert!(
            missing[1].fix.starts_with("[plugins.p] files = [{ host = "),
            "{}",
            missing[1].fix
        );
    }

    /// The refusal's line is TOML even for a plugin name that needs quoting, and pasted into
    /// a policy it allows what was refused.
    #[test]
    fn the_refusal_line_allows_what_was_refused() {
        let root = tree("line");
        let requests = [request("data", "/data", Access::ReadWrite)];
        for plugin in ["plain", "my plugin", "a.b"] {
            let (_, missing) = granted(&root, plugin, &requests, &[], false);
            let text = missing[0].fix.replacen("] files = ", "]\nfiles = ", 1);
            let policy = Policy::parse(&text, Path::new("fix.toml"), Path::new("/"))
                .unwrap_or_else(|e| panic!("`{}` is not a policy line: {e}", missing[0].fix));
            let allows = policy.allowed(plugin).files;
            let (grants, missing) = granted(&root, plugin, &requests, &allows, false);
            assert_eq!((grants.len(), missing.len()), (1, 0), "{plugin}");
        }
    }

    #[test]
    fn a_directory_exposing_the_host_needs_unsafe_host_paths() {
        let root = tree("unsafe");
        let proc_dir = Path::new("/proc");
        if super::super::host_paths::exposure(proc_dir).is_none() {
            return; // no procfs mounted here: nothing to expose
        }
        let requests = [request("/proc", "/proc", Access::Read)];
        let allow = FileAllow {
            host: "/".into(),
            access: Access::Read,
        };
        let (grants, missing) = granted(&root, "p", &requests, std::slice::from_ref(&allow), false);
        assert!(grants.is_empty());
        assert!(
            missing[0]
                .fix
                .contains("[plugins.p] unsafe-host-paths = true"),
            "{}",
            missing[0].fix
        );
        let (grants, missing) = granted(&root, "p", &requests, &[allow], true);
        assert!(missing.is_empty());
        assert!(grants[0].exposes_host.is_some());
    }
}
