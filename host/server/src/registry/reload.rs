//! Hot reload: a new version is verified, compiled and started beside the old one, with the
//! old one's captured state restored into every new instance; only then is it switched in,
//! in one write of the live map. Calls already running finish on the old version; calls
//! that had not started are routed to the new one. A version that fails to verify, load,
//! restore or init is dropped and the old one goes on serving; the failure is reported.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::{Live, Registry, RegistryError, RegistryEvent, key};
use airlock::Plugin;

/// What a reload did for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReloadOutcome {
    pub tenant: String,
    pub plugin: String,
    /// The version that served before: in this process, else (nothing of it runs here, as
    /// in the CLI) the version the registration last ran.
    pub from: Option<String>,
    /// The version serving now (unchanged when the reload failed).
    pub to: Option<String>,
    /// Why the new version was refused.
    pub error: Option<String>,
}

impl ReloadOutcome {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

impl Registry {
    /// Reloads `name` from its folder for every tenant that has it enabled. The folder's
    /// manifest is installed again (new version, new dependencies) once at least one tenant
    /// switched, or when no tenant has it enabled.
    pub async fn reload(&self, name: &str) -> Result<Vec<ReloadOutcome>, RegistryError> {
        let _changes = self.changes.lock().await;
        let dir = self.installed_dir(name).await?;
        let enabled: Vec<_> = self
            .store
            .registrations(None, Some(name))
            .await?
            .into_iter()
            .filter(|r| r.enabled)
            .collect();
        let mut outcomes = Vec::new();
        for registration in enabled {
            let tenant = registration.tenant.as_str();
            // The version serving here, else (nothing runs in this process, e.g. the CLI)
            // the one the registration last ran.
            let from = self
                .plugin(tenant, name)
                .map(|p| p.metadata().version.to_string())
                .or_else(|| Some(registration.version.clone()));
            let config = registration.config;
            let tools = Some(registration.tools.clone());
            let swapped = self.swap(tenant, name, &dir, config.clone(), tools).await;
            let outcome = match swapped {
                Ok(plugin) => {
                    let to = plugin.metadata().version.to_string();
                    let generation = self
                        .store
                        .set_config(tenant, name, &to, &config, true)
                        .await?;
                    if let Some(generation) = generation {
                        self.record_own(tenant, name, registration.generation, generation);
                    }
                    self.emit(RegistryEvent::Reloaded {
                        tenant: tenant.into(),
                        plugin: name.into(),
                        from: from.clone(),
                        to: to.clone(),
                    });
                    ReloadOutcome {
                        tenant: tenant.into(),
                        plugin: name.into(),
                        from,
                        to: Some(to),
                        error: None,
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        tenant,
                        plugin = name,
                        "reload refused, old version serves: {error}"
                    );
                    self.emit(RegistryEvent::ReloadFailed {
                        tenant: tenant.into(),
                        plugin: name.into(),
                        reason: error.to_string(),
                    });
                    ReloadOutcome {
                        tenant: tenant.into(),
                        plugin: name.into(),
                        to: from.clone(),
                        from,
                        error: Some(error.to_string()),
                    }
                }
            };
            outcomes.push(outcome);
        }
        if outcomes.is_empty() || outcomes.iter().any(ReloadOutcome::succeeded) {
            self.install(&dir).await?;
        }
        Ok(outcomes)
    }

    /// Starts the folder's plugin for `tenant` with `config` and the current version's
    /// state, then switches it in and shuts the old version down (its running calls
    /// finish first). Nothing changes when any step fails. The new version shows the
    /// tenant `tools` when given, else what the old one showed (all, without one): set in
    /// the same write as the switch, so no call ever sees a hidden tool.
    pub(super) async fn swap(
        &self,
        tenant: &str,
        name: &str,
        dir: &Path,
        config: Value,
        tools: Option<airlock::ToolFilter>,
    ) -> Result<Plugin, RegistryError> {
        let old = self.live_map().get(&key(tenant, name)).cloned();
        let state = match &old {
            // A failing version refuses calls, `capture-state` included: clear the mark so
            // a reset or reload of a failing plugin still carries its state over.
            Some(old) => {
                old.plugin.reset();
                capture(&old.plugin).await
            }
            None => None,
        };
        let options = self
            .options(config)
            .state(state)
            .log_tap(self.tails.tap(tenant, name));
        let (plugin, manifest) = self.runtime.load_folder(dir, &self.policy, options).await?;
        let version = plugin.metadata().version.to_string();
        if let Err(e) = self.check_dependents(tenant, name, &version).await {
            plugin.shutdown().await;
            return Err(e);
        }
        let live = Arc::new(Live {
            plugin: plugin.clone(),
            priority: manifest.hooks.priority,
            tools: tools
                .or_else(|| old.as_ref().map(|o| o.tools.clone()))
                .unwrap_or_default(),
        });
        let previous = self.live_map_mut().insert(key(tenant, name), live);
        if let Some(previous) = previous {
            *self
                .reloads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key(tenant, name))
                .or_default() += 1;
            previous.plugin.shutdown().await;
        }
        Ok(plugin)
    }
}

/// The state the running version wants carried over; a version that cannot give it (it
/// failed, or trapped in `capture-state`) is replaced without state, which is logged.
async fn capture(plugin: &Plugin) -> Option<Vec<u8>> {
    match plugin.capture_state().await {
        Ok(state) => state,
        Err(e) => {
            tracing::warn!(plugin = %plugin.name(), "state not carried over: {e}");
            None
        }
    }
}
