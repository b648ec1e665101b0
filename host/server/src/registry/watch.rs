//! Watching installed plugin folders: a change to a component or manifest reloads that
//! plugin (see [`super::reload`]). Events are gathered for a short quiet period first, so a
//! component and its manifest written one after the other reload once. Folders installed
//! while the watcher runs are watched from their install on.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::{broadcast, mpsc};

use super::{Registry, RegistryError, RegistryEvent};

/// How long the folder must be quiet before a reload starts.
const QUIET: Duration = Duration::from_millis(250);

/// Reloads plugins whose folders change, until dropped.
pub struct Watcher {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Registry {
    /// Watches the folders of the installed plugins, now and as more are installed.
    /// Reload outcomes are reported through [`Registry::events`] and the log.
    pub async fn watch(self: &Arc<Self>) -> Result<Watcher, RegistryError> {
        // Subscribed before listing, so an install in between is not missed.
        let installs = self.events();
        let installed = self.installed().await?;
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
        // A folder installed by another host sharing the database is not here to watch.
        for installed in installed.into_iter().filter(|i| i.dir.is_dir()) {
            watcher
                .watch(&installed.dir, RecursiveMode::NonRecursive)
                .map_err(watch_error)?;
            folders.insert(installed.dir, installed.name);
        }
        let watched = Watched { watcher, folders };
        let task = tokio::spawn(follow(Arc::downgrade(self), watched, receiver, installs));
        Ok(Watcher { task })
    }
}

/// The notify watcher and the folders it covers, by plugin; owned by the watching task.
struct Watched {
    watcher: notify::RecommendedWatcher,
    folders: HashMap<PathBuf, String>,
}

impl Watched {
    /// Starts watching a folder installed after the watcher started.
    fn add(&mut self, dir: PathBuf, plugin: String) {
        let Watched { watcher, folders } = self;
        if folders.get(&dir) == Some(&plugin) {
            return;
        }
        // Installed again from elsewhere: its old folder is no longer its source.
        let moved: Vec<PathBuf> = folders
            .iter()
            .filter(|(old, name)| **name == plugin && **old != dir)
            .map(|(old, _)| old.clone())
            .collect();
        for old in moved {
            let _ = watcher.unwatch(&old);
            folders.remove(&old);
        }
        match watcher.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => _ = folders.insert(dir, plugin),
            Err(e) => tracing::warn!(plugin, dir = %dir.display(), "cannot watch: {e}"),
        }
    }

    fn collect(&self, paths: Vec<PathBuf>, into: &mut BTreeSet<String>) {
        collect(&self.folders, paths, into);
    }
}

async fn follow(
    registry: Weak<Registry>,
    mut watched: Watched,
    mut changes: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    mut installs: broadcast::Receiver<RegistryEvent>,
) {
    loop {
        let paths = tokio::select! {
            paths = changes.recv() => match paths {
                Some(paths) => paths,
                None => return,
            },
            event = installs.recv() => {
                match event {
                    Ok(RegistryEvent::Installed { plugin, dir, .. }) => watched.add(dir, plugin),
                    Ok(_) => {}
                    // Events were dropped: an install may be among them, so look again.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let Some(registry) = registry.upgrade() else { return };
                        for installed in registry.installed().await.unwrap_or_default() {
                            watched.add(installed.dir, installed.name);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
                continue;
            }
        };
        let mut changed = BTreeSet::new();
        watched.collect(paths, &mut changed);
        // Wait for a quiet period, gathering whatever else changes meanwhile.
        while let Ok(Some(paths)) = tokio::time::timeout(QUIET, changes.recv()).await {
            watched.collect(paths, &mut changed);
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
