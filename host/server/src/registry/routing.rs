//! Calls, hook dispatch and health polls, always routed to the current version of each
//! (tenant, plugin): a call that raced a reload is routed again.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::{Key, Live, PluginHealth, Registry, RegistryError, key};
use airlock::pipeline::Dispatch;
use airlock::{CallContext, CallError, Catalog, HookKind, Pipeline, Plugin};

impl Registry {
    /// The plugins enabled for `tenant`, by name.
    pub fn plugins(&self, tenant: &str) -> Vec<Plugin> {
        let mut plugins: Vec<Plugin> = self
            .live_of(tenant)
            .into_iter()
            .map(|l| l.plugin.clone())
            .collect();
        plugins.sort_by(|a, b| a.name().cmp(b.name()));
        plugins
    }

    /// The current version of `name` for `tenant`, when enabled.
    pub fn plugin(&self, tenant: &str, name: &str) -> Option<Plugin> {
        self.live_map()
            .get(&key(tenant, name))
            .map(|l| l.plugin.clone())
    }

    /// The plugins enabled for `tenant` that provide `contract` (a manifest's
    /// `[plugin] contract`, checked at review), and, when `key` is given, declare that
    /// routing key (`[plugin] keys`: a URI scheme, a model name); by name. How a host
    /// routes by contract: `providers(t, "victor:workflow/compiler@0.1.0", Some("yaml"))`.
    pub fn providers(&self, tenant: &str, contract: &str, key: Option<&str>) -> Vec<Plugin> {
        let mut found = self.plugins(tenant);
        found.retain(|p| p.provides(contract, key));
        found
    }

    /// The session contexts its plugins share with the host (`airlock:plugin/context`):
    /// what a host reads and writes beside them, e.g. the phase runner's outputs.
    pub fn sessions(&self) -> &airlock::context::Sessions {
        self.runtime.sessions()
    }

    /// Ends `tenant`'s session `session` in every plugin enabled for the tenant: the
    /// resource handles it holds are dropped and their instances freed
    /// ([`Plugin::end_session`]). Returns how many handles were dropped.
    pub async fn end_session(&self, tenant: &str, session: &str) -> usize {
        let mut dropped = 0;
        for plugin in self.plugins(tenant) {
            let before = plugin.live_handles();
            plugin.end_session(tenant, session).await;
            dropped += before.saturating_sub(plugin.live_handles());
        }
        dropped
    }

    /// The namespaced tools of `tenant`'s enabled plugins that the tenant's tool filters
    /// let through.
    pub fn catalog(&self, tenant: &str) -> Catalog {
        Catalog::filtered(
            self.live_of(tenant)
                .into_iter()
                .map(|l| (l.plugin.clone(), l.tools.clone())),
        )
    }

    /// Calls the namespaced tool `plugin.tool` for `context.tenant`, on the current version.
    /// A call that reached a version being swapped out before it started is routed to the
    /// new one (nothing ran yet, so nothing runs twice).
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: &Value,
        context: &CallContext,
    ) -> Result<Value, CallError> {
        let tenant = &context.tenant;
        let unknown = || CallError::UnknownTool {
            plugin: name.split_once('.').map_or(name, |(p, _)| p).to_string(),
            tool: name.to_string(),
            available: self
                .catalog(tenant)
                .entries()
                .into_iter()
                .map(|e| e.name)
                .collect(),
        };
        let (plugin_name, tool) = name.split_once('.').ok_or_else(unknown)?;
        loop {
            let Some(plugin) = self.offering(tenant, plugin_name, tool) else {
                return Err(self
                    .unknown_tool(tenant, plugin_name, tool)
                    .unwrap_or_else(unknown));
            };
            match plugin.call_tool(tool, arguments, context).await {
                Err(CallError::ShutDown { .. }) if self.replaced(tenant, &plugin) => continue,
                result => return result,
            }
        }
    }

    /// The error for `tool`, which `plugin_name` (running for `tenant`) does not offer: the
    /// tools it does offer the tenant, by their own names, as the plugin itself would list
    /// them, hidden ones left out. `None` when the plugin does not run for the tenant.
    fn unknown_tool(&self, tenant: &str, plugin_name: &str, tool: &str) -> Option<CallError> {
        let live = self.live_map().get(&key(tenant, plugin_name)).cloned()?;
        let available = live
            .plugin
            .tools()
            .iter()
            .filter(|t| live.tools.permits(&t.name))
            .map(|t| t.name.clone())
            .collect();
        Some(CallError::UnknownTool {
            plugin: plugin_name.to_string(),
            tool: tool.to_string(),
            available,
        })
    }

    /// `plugin_name` when it runs for `tenant`, has `tool` and the tenant's filter shows it:
    /// a hidden tool is as unknown as one that does not exist, in every front end.
    pub fn offering(&self, tenant: &str, plugin_name: &str, tool: &str) -> Option<Plugin> {
        let live = self.live_map().get(&key(tenant, plugin_name)).cloned()?;
        let exists = live.plugin.tools().iter().any(|t| t.name == tool);
        (exists && live.tools.permits(tool)).then(|| live.plugin.clone())
    }

    /// True when `plugin` is no longer the live version for `tenant` but another one is.
    pub(super) fn replaced(&self, tenant: &str, plugin: &Plugin) -> bool {
        self.plugin(tenant, plugin.name())
            .is_some_and(|current| !current.same_as(plugin))
    }

    /// Runs `payload` through `context.tenant`'s enabled plugins subscribed to `kind`, in
    /// manifest `[hooks] priority` order (then name); the policy's `[hooks] fail-closed`
    /// kinds stop at a failing plugin, the others go on.
    pub async fn dispatch(
        &self,
        kind: &HookKind,
        payload: Value,
        context: &CallContext,
    ) -> Dispatch {
        let mut pipeline = Pipeline::new();
        for live in self.live_of(&context.tenant) {
            pipeline.add(live.plugin.clone(), live.priority);
        }
        for closed in &self.policy.fail_closed {
            pipeline.fail_closed(closed.clone());
        }
        let tenant = &context.tenant;
        let successor = |old: &Plugin| {
            self.plugin(tenant, old.name())
                .filter(|current| !current.same_as(old))
        };
        pipeline
            .dispatch_rerouted(kind, payload, context, &successor)
            .await
    }

    /// Polls `name`'s health for `tenant`, starting it from its registration when this
    /// process has not yet.
    pub async fn health(&self, tenant: &str, name: &str) -> Result<PluginHealth, RegistryError> {
        let plugin = match self.plugin(tenant, name) {
            Some(plugin) => plugin,
            None => {
                // Read under the change lock: a disable landing meanwhile (here, or applied
                // by the follower) must not be undone by starting what it stopped.
                let _changes = self.changes.lock().await;
                match self.plugin(tenant, name) {
                    Some(plugin) => plugin,
                    None => {
                        let registration = self.registration(tenant, name).await?;
                        if !registration.enabled {
                            return Err(RegistryError::NotEnabled {
                                tenant: tenant.into(),
                                plugin: name.into(),
                            });
                        }
                        let plugin = self.start_registered(&registration).await?;
                        self.record(tenant, name, registration.generation);
                        plugin
                    }
                }
            }
        };
        let (report, error) = match plugin.health().await {
            Ok(report) => (Some(report), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(PluginHealth {
            tenant: tenant.into(),
            plugin: name.into(),
            version: plugin.metadata().version.to_string(),
            state: plugin.state(),
            report,
            error,
            usage: plugin.usage(),
            reloads: self.reloads_of(tenant, name),
        })
    }

    /// How often this process swapped `tenant`'s `name`.
    pub(crate) fn reloads_of(&self, tenant: &str, name: &str) -> u64 {
        let reloads = self.reloads.lock().unwrap_or_else(|e| e.into_inner());
        reloads.get(&key(tenant, name)).copied().unwrap_or(0)
    }

    pub(super) fn live_of(&self, tenant: &str) -> Vec<Arc<Live>> {
        self.live_map()
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, l)| l.clone())
            .collect()
    }

    pub(super) fn live_map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Key, Arc<Live>>> {
        self.live.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn live_map_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Key, Arc<Live>>> {
        self.live.write().unwrap_or_else(|e| e.into_inner())
    }
}
