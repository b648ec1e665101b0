//! Watching installed plugin folders: a change to a component or manifest reloads that
//! plugin (see [`super::reload`]). Events are gathered for a short quiet period first, so a
//! component and its manifest written one after the other reload once.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::{Registry, RegistryError};

/// How long the folder must be quiet before a reload starts.
const QUIET: Duration = Duration::from_millis(250);

/// Reloads plugins whose folders change, until dropped.
pub struct Watcher {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Registry {
    /// Watches the folders of the plugins installed now. Reload outcomes are reported
    /// through [`Registry::events`] and the log.
    pub fn watch(self: &Arc<Self>) -> Result<Watcher, RegistryError> {
        let watch_error = |e: notify::Error| RegistryError::Watch(e.to_string());
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && !matches!(event.kind, EventKind::Access(_))
                {
                    let _ = sender.send(event.paths);
                }
            })
            .map_err(watch_error)?;
        let mut folders = HashMap::new();
        for installed in self.installed()? {
            watcher
                .watch(&installed.dir, RecursiveMode::NonRecursive)
                .map_err(watch_error)?;
            folders.insert(installed.dir, installed.name);
        }
        let task = tokio::spawn(follow(Arc::downgrade(self), folders, receiver));
        Ok(Watcher {
            _watcher: watcher,
            task,
        })
    }
}

async fn follow(
    registry: Weak<Registry>,
    folders: HashMap<PathBuf, String>,
    mut changes: mpsc::UnboundedReceiver<Vec<PathBuf>>,
) {
    while let Some(paths) = changes.recv().await {
        let mut changed = BTreeSet::new();
        collect(&folders, paths, &mut changed);
        // Wait for a quiet period, gathering whatever else changes meanwhile.
        while let Ok(Some(paths)) = tokio::time::timeout(QUIET, changes.recv()).await {
            collect(&folders, paths, &mut changed);
        }
        let Some(registry) = registry.upgrade() else {
            return;
        };
        for name in changed {
            match registry.reload(&name).await {
                Ok(outcomes) => tracing::info!(plugin = name, ?outcomes, "reloaded after a change"),
                Err(e) => tracing::warn!(plugin = name, "reload after a change failed: {e}"),
            }
        }
    }
}

/// The plugins the changed paths belong to (a folder itself or a file directly in it).
fn collect(folders: &HashMap<PathBuf, String>, paths: Vec<PathBuf>, into: &mut BTreeSet<String>) {
    for path in paths {
        let owner = folders
            .get(&path)
            .or_else(|| path.parent().and_then(|p| folders.get(p)));
        if let Some(name) = owner {
            into.insert(name.clone());
        }
    }
}
