//! Following the database: changes another process (the CLI, another server on the same
//! file, another host on the same PostgreSQL database) makes to the registry reach the
//! plugins this process serves: within about [`FOLLOW_EVERY`] on SQLite, whose
//! `PRAGMA data_version` is polled, and within milliseconds on PostgreSQL, whose writes
//! `NOTIFY` every listening host ([`super::store`]'s `Changes`). When either says something
//! moved, every registration whose generation differs from the one this process applied is started,
//! restarted (new configuration, reloaded version) or stopped, and the change is announced
//! through [`Registry::events`] as if it had been made here (an MCP front end sends
//! `notifications/tools/list_changed`). Folders installed elsewhere are announced as
//! [`RegistryEvent::Installed`], so the folder watcher covers them too.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::store::{Changes, Installed, Registration};
use super::{Key, Registry, RegistryError, RegistryEvent, key};

/// How often a SQLite database is checked for other processes' writes; also how long a
/// sync that failed (a busy or unreachable database) waits before it is tried again.
pub const FOLLOW_EVERY: Duration = super::store::sqlite::POLL_EVERY;

/// Applies other processes' registry changes, until dropped.
pub struct Follower {
    task: tokio::task::JoinHandle<()>,
    tokens: tokio::task::JoinHandle<()>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
        self.tokens.abort();
    }
}

/// What this process last applied: each registration's generation and each installed
/// folder's row.
#[derive(Default)]
pub(super) struct Applied {
    generations: HashMap<Key, i64>,
    installed: HashMap<String, Installed>,
}

impl Registry {
    /// Applies what other processes change from now on ([`Registry::sync`]), starting
    /// with whatever changed since this process restored. Errors: the database cannot be
    /// read.
    pub async fn follow(self: &Arc<Self>) -> Result<Follower, RegistryError> {
        let changes = self.store.changes().await?;
        self.remember_tokens();
        for installed in self.installed().await? {
            self.applied()
                .installed
                .insert(installed.name.clone(), installed);
        }
        let tokens = tokio::spawn(forget_tokens_on_change(
            Arc::downgrade(self),
            changes.seen.clone(),
        ));
        let task = tokio::spawn(apply_changes(Arc::downgrade(self), changes));
        Ok(Follower { task, tokens })
    }

    /// Brings what this process serves in line with the database: every registration
    /// changed since this process last applied it is started, restarted or stopped. A
    /// registration that fails to start is logged and reported as
    /// [`RegistryEvent::ReloadFailed`], and not retried until it changes again.
    pub async fn sync(&self) -> Result<(), RegistryError> {
        let _changes = self.changes.lock().await;
        self.announce_installs().await?;
        let registrations = self.registrations(None).await?;
        let stored: HashSet<Key> = registrations
            .iter()
            .map(|r| key(&r.tenant, &r.plugin))
            .collect();
        for registration in registrations {
            let k = key(&registration.tenant, &registration.plugin);
            if self.applied().generations.get(&k) != Some(&registration.generation) {
                self.apply(&registration).await;
            }
        }
        // Registrations removed from the database altogether.
        let gone: Vec<Key> = self
            .live_map()
            .keys()
            .filter(|k| !stored.contains(*k))
            .cloned()
            .collect();
        for (tenant, plugin) in gone {
            self.stop(&tenant, &plugin).await;
        }
        Ok(())
    }

    /// Serves `registration` as stored: started with its configuration when enabled (the
    /// version in its folder, state carried over), stopped when not.
    async fn apply(&self, registration: &Registration) {
        let (tenant, plugin) = (&registration.tenant, &registration.plugin);
        let from = self
            .plugin(tenant, plugin)
            .map(|p| p.metadata().version.to_string());
        self.record(tenant, plugin, registration.generation);
        if !registration.enabled {
            self.stop(tenant, plugin).await;
            return;
        }
        // The tenant's view of the tools changes at once, whether or not the restart
        // below succeeds.
        self.set_live_tools(tenant, plugin, registration.tools.clone());
        match self.start_registered(registration).await {
            Ok(started) => {
                let to = started.metadata().version.to_string();
                tracing::info!(
                    tenant,
                    plugin,
                    version = to,
                    "applied a change made by another process"
                );
                self.emit(match from {
                    None => RegistryEvent::Enabled {
                        tenant: tenant.clone(),
                        plugin: plugin.clone(),
                        version: to,
                    },
                    Some(from) => RegistryEvent::Reloaded {
                        tenant: tenant.clone(),
                        plugin: plugin.clone(),
                        from: Some(from),
                        to,
                    },
                });
            }
            Err(error) => {
                tracing::warn!(
                    tenant,
                    plugin,
                    "a change made by another process cannot be applied: {error}"
                );
                self.emit(RegistryEvent::ReloadFailed {
                    tenant: tenant.clone(),
                    plugin: plugin.clone(),
                    reason: error.to_string(),
                });
            }
        }
    }

    /// Stops `tenant`'s `plugin` if this process serves it.
    async fn stop(&self, tenant: &str, plugin: &str) {
        let live = self.live_map_mut().remove(&key(tenant, plugin));
        self.tails.forget(tenant, plugin);
        if let Some(live) = live {
            live.plugin.shutdown().await;
            tracing::info!(tenant, plugin, "stopped: disabled by another process");
            self.emit(RegistryEvent::Disabled {
                tenant: tenant.into(),
                plugin: plugin.into(),
            });
        }
    }

    /// Announces folders installed (or installed again) by another process.
    async fn announce_installs(&self) -> Result<(), RegistryError> {
        for installed in self.installed().await? {
            let known = self.applied().installed.get(&installed.name) == Some(&installed);
            if !known {
                self.applied()
                    .installed
                    .insert(installed.name.clone(), installed.clone());
                self.emit(RegistryEvent::Installed {
                    plugin: installed.name,
                    version: installed.version,
                    dir: installed.dir,
                });
            }
        }
        Ok(())
    }

    /// Notes that this process serves `tenant`'s `plugin` as of `generation`.
    pub(super) fn record(&self, tenant: &str, plugin: &str, generation: i64) {
        self.applied()
            .generations
            .insert(key(tenant, plugin), generation);
    }

    /// After this process's own write, which turned generation `previous` into
    /// `generation`: recorded when nothing else wrote in between. Otherwise another
    /// process's change is folded into `generation`, so it is left unrecorded, and the
    /// follower's next sync serves the stored row, both changes included.
    pub(super) fn record_own(&self, tenant: &str, plugin: &str, previous: i64, generation: i64) {
        if generation == previous + 1 {
            self.record(tenant, plugin, generation);
        } else {
            tracing::debug!(
                tenant,
                plugin,
                "another process wrote this registration meanwhile: the follower applies it"
            );
        }
    }

    fn applied(&self) -> std::sync::MutexGuard<'_, Applied> {
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Forgets the checked tokens the moment `seen` moves: a revocation must not wait for a sync
/// (which may wait on a reload, a pull, a compile) to take effect.
async fn forget_tokens_on_change(
    registry: Weak<Registry>,
    mut seen: tokio::sync::watch::Receiver<u64>,
) {
    while seen.changed().await.is_ok() {
        match registry.upgrade() {
            Some(registry) => registry.forget_tokens(),
            None => return,
        }
    }
}

/// Syncs whenever `changes` moves (and once at the start: a change between the restore and
/// the follow shows in the generations); a sync that failed is tried again after
/// [`FOLLOW_EVERY`].
async fn apply_changes(registry: Weak<Registry>, mut changes: Changes) {
    loop {
        let Some(strong) = registry.upgrade() else {
            return;
        };
        strong.forget_tokens();
        let synced = strong.sync().await;
        drop(strong);
        if let Err(e) = synced {
            tracing::warn!("cannot apply the registry's changes (trying again): {e}");
            tokio::time::sleep(FOLLOW_EVERY).await;
            continue;
        }
        if changes.seen.changed().await.is_err() {
            return;
        }
    }
}
