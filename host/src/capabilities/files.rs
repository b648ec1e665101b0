//! Files: host directories preopened into the guest at a guest path, read-only or
//! read-write. Covers `wasi:filesystem/*`. Without a grant the guest sees no directory at
//! all; path resolution inside a preopen (`..`, symlinks) is confined by wasmtime-wasi's
//! capability-based filesystem. Directories that would hand over the host itself (`/proc`,
//! `/sys`, `/dev`, kernel pseudo-filesystems, or any directory containing one — see
//! [`host_paths`](super::host_paths)) are refused unless the policy says
//! `unsafe-host-paths = true`; such a grant is then flagged in the audit.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::Missing;

pub const NAME: &str = "files";
pub const IMPORTS: &[&str] = &["wasi:filesystem/"];

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
    format!("[plugins.{plugin}] unsafe-host-paths = true")
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

/// Where the grant's directories are resolved from, and whether pseudo-filesystems may be
/// granted (`unsafe-host-paths`).
pub struct FileScope<'a> {
    pub plugin_dir: &'a Path,
    pub policy_dir: &'a Path,
    pub unsafe_host_paths: bool,
}

/// Grants each request covered by an allowance; the rest are missing. A directory that
/// exposes the host is missing too, naming `unsafe-host-paths = true`, unless the scope
/// allows it.
pub fn grant(
    requests: &[FileRequest],
    allows: &[FileAllow],
    scope: &FileScope<'_>,
    plugin: &str,
) -> (Vec<FileGrant>, Vec<Missing>) {
    let (plugin_dir, policy_dir) = (scope.plugin_dir, scope.policy_dir);
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
        let line = format!(
            "[plugins.{plugin}] files = [{{ host = \"{}\", access = \"{}\" }}]",
            host.display(),
            access_name(request.access)
        );
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
