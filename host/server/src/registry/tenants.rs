//! Per tenant: enabling, disabling and configuring a plugin (each a hot swap that changes
//! nothing when any step fails), the stored registrations, and restoring them after a
//! restart.

use std::path::Path;

use serde_json::Value;

use super::store::Registration;
use super::{Registry, RegistryError, RegistryEvent, key};
use airlock::{LoadOptions, Plugin};

impl Registry {
    /// Enables `name` for `tenant` with `config`: checks its dependencies, loads it
    /// (manifest, policy, config schema, `init`) and, only once that succeeded, records the
    /// registration. Enabling an enabled plugin again restarts it with the new config.
    pub async fn enable(
        &self,
        tenant: &str,
        name: &str,
        config: Value,
    ) -> Result<Plugin, RegistryError> {
        let _changes = self.changes.lock().await;
        let dir = self.installed_dir(name).await?;
        self.check_dependencies(tenant, name).await?;
        let stored = self.stored(tenant, name).await?;
        // Enabling again keeps the tenant's tool filter; a first enable shows every tool.
        let tools = stored.as_ref().map(|r| r.tools.clone()).unwrap_or_default();
        let plugin = self
            .swap(tenant, name, &dir, config.clone(), Some(tools))
            .await?;
        let version = plugin.metadata().version.to_string();
        let written = self.store.enable(tenant, name, &version, &config).await;
        match written {
            Ok(generation) => {
                let previous = stored.as_ref().map_or(0, |r| r.generation);
                self.record_own(tenant, name, previous, generation);
            }
            Err(e) => {
                let previous = stored.filter(|r| r.enabled).map(|r| r.config);
                self.undo_swap(tenant, name, &dir, previous).await;
                return Err(e.into());
            }
        }
        self.emit(RegistryEvent::Enabled {
            tenant: tenant.into(),
            plugin: name.into(),
            version,
        });
        Ok(plugin)
    }

    /// Disables `name` for `tenant`: refused while other enabled plugins depend on it, and
    /// [`RegistryError::NotEnabled`] when the tenant never enabled it; otherwise recorded,
    /// then its instances are shut down.
    pub async fn disable(&self, tenant: &str, name: &str) -> Result<(), RegistryError> {
        let _changes = self.changes.lock().await;
        let previous = self.stored(tenant, name).await?.map_or(0, |r| r.generation);
        let dependents = self.store.dependents(tenant, name).await?;
        if !dependents.is_empty() {
            return Err(RegistryError::DependedOn {
                tenant: tenant.into(),
                plugin: name.into(),
                dependents,
            });
        }
        let generation = self.store.disable(tenant, name).await?;
        // Disabling what was never enabled is a mistake worth saying (a typo in the name).
        let generation = generation.ok_or_else(|| RegistryError::NotEnabled {
            tenant: tenant.into(),
            plugin: name.into(),
        })?;
        self.record_own(tenant, name, previous, generation);
        let live = self.live_map_mut().remove(&key(tenant, name));
        if let Some(live) = live {
            live.plugin.shutdown().await;
        }
        self.tails.forget(tenant, name);
        self.emit(RegistryEvent::Disabled {
            tenant: tenant.into(),
            plugin: name.into(),
        });
        Ok(())
    }

    /// The configuration stored for `tenant`'s registration of `name`, as given.
    pub async fn config(&self, tenant: &str, name: &str) -> Result<Value, RegistryError> {
        Ok(self.registration(tenant, name).await?.config)
    }

    /// The configuration an enable that names none keeps: the one stored for `tenant`'s
    /// registration of `name` (enabled or not), else `{}` for a first enable.
    pub async fn kept_config(&self, tenant: &str, name: &str) -> Result<Value, RegistryError> {
        let stored = self.stored(tenant, name).await?;
        Ok(stored.map_or_else(|| Value::Object(Default::default()), |r| r.config))
    }

    /// Replaces `tenant`'s configuration of `name`. It is checked against the manifest's
    /// schema first; an enabled plugin is restarted with it (state carried over) before it
    /// is stored, so a configuration its `init` refuses is never recorded.
    pub async fn set_config(
        &self,
        tenant: &str,
        name: &str,
        config: Value,
    ) -> Result<(), RegistryError> {
        let _changes = self.changes.lock().await;
        self.store_config(tenant, name, config).await
    }

    /// [`Registry::set_config`] with the change lock held.
    async fn store_config(
        &self,
        tenant: &str,
        name: &str,
        config: Value,
    ) -> Result<(), RegistryError> {
        let registration = self.registration(tenant, name).await?;
        let dir = self.installed_dir(name).await?;
        let version = match registration.enabled {
            true => {
                let tools = Some(registration.tools.clone());
                let plugin = self.swap(tenant, name, &dir, config.clone(), tools).await?;
                plugin.metadata().version.to_string()
            }
            false => {
                airlock::folder::checked_config(&dir, &config)?;
                registration.version
            }
        };
        // A running plugin's new configuration is stored only while its registration is
        // still enabled: a disable by another process meanwhile wins, and this process's
        // follower then stops the plugin (the generation is left unrecorded for that).
        let written = self
            .store
            .set_config(tenant, name, &version, &config, registration.enabled)
            .await;
        match written {
            Ok(generation) => {
                if let Some(generation) = generation {
                    self.record_own(tenant, name, registration.generation, generation);
                }
                Ok(())
            }
            Err(e) => {
                if registration.enabled {
                    self.undo_swap(tenant, name, &dir, Some(registration.config))
                        .await;
                }
                Err(e.into())
            }
        }
    }

    /// The tool filter of `tenant`'s registration of `name` (open: every tool).
    pub async fn tools(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<airlock::ToolFilter, RegistryError> {
        Ok(self.registration(tenant, name).await?.tools)
    }

    /// Restricts which of `name`'s tools `tenant` sees and may call ([`airlock::ToolFilter`]:
    /// allow and deny patterns) in every front end: catalogs, MCP `tools/list` and
    /// `tools/call`, JSON-RPC and the HTTP API. A hidden tool answers as an unknown one.
    /// Stored, so every process serving the registry applies it too. Errors:
    /// [`RegistryError::NotEnabled`] without a registration, [`RegistryError::BadToolFilter`]
    /// past the filter's bounds.
    pub async fn set_tools(
        &self,
        tenant: &str,
        name: &str,
        tools: airlock::ToolFilter,
    ) -> Result<(), RegistryError> {
        tools
            .check()
            .map_err(|reason| RegistryError::BadToolFilter {
                plugin: name.into(),
                reason,
            })?;
        let _changes = self.changes.lock().await;
        let previous = self.registration(tenant, name).await?.generation;
        let text = serde_json::to_string(&tools).unwrap_or_else(|_| "{}".into());
        let generation = self.store.set_tools(tenant, name, &text).await?;
        let generation = generation.ok_or_else(|| RegistryError::NotEnabled {
            tenant: tenant.into(),
            plugin: name.into(),
        })?;
        self.record_own(tenant, name, previous, generation);
        self.set_live_tools(tenant, name, tools);
        self.emit(RegistryEvent::ToolsChanged {
            tenant: tenant.into(),
            plugin: name.into(),
        });
        Ok(())
    }

    /// Shows `tenant` `tools` of the running `name` from now on (nothing when it does not
    /// run here): one write of the live map, so no call sees a mix.
    pub(super) fn set_live_tools(&self, tenant: &str, name: &str, tools: airlock::ToolFilter) {
        let mut live = self.live_map_mut();
        if let Some(current) = live.get_mut(&key(tenant, name))
            && current.tools != tools
        {
            *current = std::sync::Arc::new(super::Live {
                plugin: current.plugin.clone(),
                priority: current.priority,
                tools,
            });
        }
    }

    /// Resets `tenant`'s `name`: restarts it with its stored configuration (state carried
    /// over), which clears a failing mark at once instead of after the cool-down's trial
    /// call. Recorded as a change, so every process serving the registry restarts it too.
    /// Errors: [`RegistryError::NotEnabled`] when the tenant has not enabled it.
    pub async fn reset(&self, tenant: &str, name: &str) -> Result<(), RegistryError> {
        let _changes = self.changes.lock().await;
        let registration = self.registration(tenant, name).await?;
        if !registration.enabled {
            return Err(RegistryError::NotEnabled {
                tenant: tenant.into(),
                plugin: name.into(),
            });
        }
        self.store_config(tenant, name, registration.config).await
    }

    /// After a swap whose database write failed (a full disk): serves what the database
    /// holds again, so a change reported as failed has no effect. `previous` is the stored
    /// configuration of an enabled registration; `None` stops the plugin.
    pub(super) async fn undo_swap(
        &self,
        tenant: &str,
        name: &str,
        dir: &Path,
        previous: Option<Value>,
    ) {
        match previous {
            Some(config) => {
                if let Err(e) = self.swap(tenant, name, dir, config, None).await {
                    tracing::warn!(
                        tenant,
                        plugin = name,
                        "cannot restore the stored version: {e}"
                    );
                }
            }
            None => {
                let live = self.live_map_mut().remove(&key(tenant, name));
                if let Some(live) = live {
                    live.plugin.shutdown().await;
                }
            }
        }
    }

    /// `tenant`'s registration of `name`; [`RegistryError::NotEnabled`] when there is none.
    pub(super) async fn registration(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Registration, RegistryError> {
        self.stored(tenant, name)
            .await?
            .ok_or_else(|| RegistryError::NotEnabled {
                tenant: tenant.into(),
                plugin: name.into(),
            })
    }

    async fn stored(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<Registration>, RegistryError> {
        let found = self.store.registrations(Some(tenant), Some(name)).await?;
        Ok(found.into_iter().next())
    }

    /// Stored registrations, of one tenant or of all.
    pub async fn registrations(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<Registration>, RegistryError> {
        Ok(self.store.registrations(tenant, None).await?)
    }

    /// After a restart: loads every enabled registration with its stored configuration.
    /// Failures are returned (and logged) and never stop the others.
    pub async fn restore(&self) -> Result<Vec<(Registration, RegistryError)>, RegistryError> {
        self.restore_where(None).await
    }

    /// [`Registry::restore`] for one tenant only: what a command serving that tenant needs,
    /// without starting every other tenant's plugins.
    pub async fn restore_tenant(
        &self,
        tenant: &str,
    ) -> Result<Vec<(Registration, RegistryError)>, RegistryError> {
        self.restore_where(Some(tenant)).await
    }

    async fn restore_where(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<(Registration, RegistryError)>, RegistryError> {
        let _changes = self.changes.lock().await;
        let mut failures = Vec::new();
        for registration in self.registrations(tenant).await? {
            // Applied either way: a failure is not retried until the registration changes.
            self.record(
                &registration.tenant,
                &registration.plugin,
                registration.generation,
            );
            if !registration.enabled {
                continue;
            }
            // A restart changes nothing stored: start, do not re-record.
            if let Err(error) = self.start_registered(&registration).await {
                tracing::warn!(
                    tenant = registration.tenant,
                    plugin = registration.plugin,
                    "not restored: {error}"
                );
                failures.push((registration, error));
            }
        }
        Ok(failures)
    }

    pub(super) async fn start_registered(
        &self,
        registration: &Registration,
    ) -> Result<Plugin, RegistryError> {
        let dir = self.installed_dir(&registration.plugin).await?;
        let config = registration.config.clone();
        let tools = Some(registration.tools.clone());
        self.swap(
            &registration.tenant,
            &registration.plugin,
            &dir,
            config,
            tools,
        )
        .await
    }

    /// What a reviewer sees of `name` as `tenant` runs it (`airlock audit --json`'s report
    /// with the tenant's configuration): requested, granted and effective capabilities and
    /// limits, the signature, the verdict. Errors: no registration, the folder is missing.
    pub async fn audit(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<airlock::folder::AuditReport, RegistryError> {
        let registration = self.registration(tenant, name).await?;
        let dir = self.installed_dir(name).await?;
        let review =
            airlock::folder::review_config(&self.runtime, &dir, &self.policy, &registration.config)
                .await;
        Ok(airlock::folder::AuditReport::from(&review))
    }

    /// The recent log records and live feed of `name` for `tenant` (see
    /// [`super::log_tail`]). Errors: no registration.
    pub async fn log_tail(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<std::sync::Arc<super::log_tail::LogTail>, RegistryError> {
        self.registration(tenant, name).await?;
        Ok(self.tails.tail(tenant, name))
    }

    pub(super) fn options(&self, config: Value) -> LoadOptions {
        LoadOptions::default()
            .config(config)
            .pool(self.pool.0, self.pool.1)
    }
}
