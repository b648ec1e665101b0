//! Plugin discovery: the folders (each with an `airlock.toml`) found along the search path.
//! The first folder with a given plugin name wins; later ones are reported as clashes.
//! A folder whose manifest is broken is reported with its reason and skipped, and so is a
//! plugin that fails to load: the rest load.
//!
//! Search path, in order: `$AIRLOCK_PLUGIN_PATH` (colon-separated),
//! `$XDG_DATA_HOME/airlock/plugins` (default `~/.local/share/airlock/plugins`),
//! `$XDG_CONFIG_HOME/airlock/plugins` (default `~/.config/airlock/plugins`),
//! `/usr/local/share/airlock/plugins`, `/usr/share/airlock/plugins`, `./plugins`.

use std::path::PathBuf;

use airlock::manifest::{self, Manifest, ManifestError};
use airlock::policy::Policy;
use airlock::{LoadError, LoadOptions, Plugin, Runtime};

/// The search path from an environment (`lookup` reads one variable).
pub fn search_path(lookup: impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let set = |key: &str| lookup(key).filter(|v| !v.is_empty());
    let home = set("HOME").map(PathBuf::from);
    let under_home = |xdg: &str, default: &str| {
        set(xdg)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let mut path: Vec<PathBuf> = set("AIRLOCK_PLUGIN_PATH")
        .map(|p| {
            p.split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    path.extend(under_home("XDG_DATA_HOME", ".local/share").map(|d| d.join("airlock/plugins")));
    path.extend(under_home("XDG_CONFIG_HOME", ".config").map(|d| d.join("airlock/plugins")));
    path.extend(
        [
            "/usr/local/share/airlock/plugins",
            "/usr/share/airlock/plugins",
            "./plugins",
        ]
        .map(PathBuf::from),
    );
    path
}

/// The search path from this process's environment.
pub fn default_search_path() -> Vec<PathBuf> {
    search_path(|key| std::env::var(key).ok())
}

/// A plugin folder found on the search path.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub name: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Two folders claiming one plugin name: the first on the path is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    pub name: String,
    pub kept: PathBuf,
    pub shadowed: PathBuf,
}

/// What a walk of the search path found.
#[derive(Debug, Default)]
pub struct Discovery {
    pub found: Vec<Found>,
    pub clashes: Vec<Clash>,
    pub broken: Vec<ManifestError>,
}

/// Walks `roots` in order; each immediate subfolder holding an `airlock.toml` is a plugin.
/// Missing roots are fine (most of the default path usually is).
pub fn discover(roots: &[PathBuf]) -> Discovery {
    let mut discovery = Discovery::default();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs
            .into_iter()
            .filter(|d| d.join(manifest::FILE_NAME).is_file())
        {
            match Manifest::from_dir(&dir) {
                Ok(manifest) => add(&mut discovery, dir, manifest),
                Err(e) => discovery.broken.push(e),
            }
        }
    }
    discovery
}

fn add(discovery: &mut Discovery, dir: PathBuf, manifest: Manifest) {
    let name = manifest.plugin.name.clone();
    match discovery.found.iter().find(|f| f.name == name) {
        Some(first) => {
            tracing::warn!(plugin = %name, kept = %first.dir.display(), shadowed = %dir.display(), "plugin name clash");
            discovery.clashes.push(Clash {
                name,
                kept: first.dir.clone(),
                shadowed: dir,
            });
        }
        None => discovery.found.push(Found {
            name,
            dir,
            manifest,
        }),
    }
}

/// Loads every plugin found, under `policy`. Each failure is returned with its folder and
/// logged; it never stops the others.
pub async fn load_all(
    runtime: &Runtime,
    discovery: &Discovery,
    policy: &Policy,
    options: &LoadOptions,
) -> (Vec<Plugin>, Vec<(PathBuf, LoadError)>) {
    let mut loaded = Vec::new();
    let mut failed = Vec::new();
    for found in &discovery.found {
        match runtime.load_dir(&found.dir, policy, options.clone()).await {
            Ok(plugin) => loaded.push(plugin),
            Err(error) => {
                tracing::warn!(plugin = %found.name, dir = %found.dir.display(), "skipped: {error}");
                failed.push((found.dir.clone(), error));
            }
        }
    }
    (loaded, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_path_follows_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
            }
        };
        let path = search_path(env(&[
            ("AIRLOCK_PLUGIN_PATH", "/a:/b"),
            ("HOME", "/home/u"),
        ]));
        let expected: Vec<PathBuf> = [
            "/a",
            "/b",
            "/home/u/.local/share/airlock/plugins",
            "/home/u/.config/airlock/plugins",
            "/usr/local/share/airlock/plugins",
            "/usr/share/airlock/plugins",
            "./plugins",
        ]
        .map(PathBuf::from)
        .to_vec();
        assert_eq!(path, expected);
        let path = search_path(env(&[
            ("XDG_DATA_HOME", "/data"),
            ("XDG_CONFIG_HOME", "/cfg"),
        ]));
        assert_eq!(
            path[..2],
            [
                PathBuf::from("/data/airlock/plugins"),
                PathBuf::from("/cfg/airlock/plugins")
            ]
        );
    }
}
