//! The Airlock methods every front end serves (JSON-RPC over stdio, the admin HTTP API):
//! plugin management, tool listing and calls, hook dispatch, over one [`Registry`]. Each
//! method takes a JSON object of parameters, checked strictly (unknown keys are errors),
//! and answers JSON or an [`RpcError`].

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::errors::{call_error, registry_error};
use super::jsonrpc::RpcError;
use crate::registry::Registry;
use airlock::{CallContext, HookKind};

/// The methods, by name.
pub const METHODS: &[&str] = &[
    "plugin/list",
    "plugin/load",
    "plugin/unload",
    "plugin/enable",
    "plugin/disable",
    "plugin/config/get",
    "plugin/config/set",
    "plugin/tools/get",
    "plugin/tools/set",
    "plugin/health",
    "plugin/audit",
    "plugin/reset",
    "tool/list",
    "tool/call",
    "plugin/call",
    "contract/providers",
    "handle/drop",
    "session/end",
    "hook/dispatch",
];

/// Airlock's methods over a registry.
#[derive(Clone)]
pub struct Service {
    registry: Arc<Registry>,
    default_tenant: String,
    in_flight: super::InFlight,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantOnly {
    #[serde(default)]
    tenant: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Load {
    path: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    plugin: String,
    #[serde(default)]
    tenant: Option<String>,
}

/// `plugin/tools/set`: the plugin, the tenant, and the filter's `allow` and `deny`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetTools {
    plugin: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Enable {
    plugin: String,
    #[serde(default)]
    tenant: Option<String>,
    /// Absent: keep the stored configuration (`{}` for a first enable).
    #[serde(default)]
    config: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetConfig {
    plugin: String,
    #[serde(default)]
    tenant: Option<String>,
    config: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolCall {
    /// `plugin.tool`
    tool: String,
    #[serde(default = "empty_object")]
    arguments: Value,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    session: Option<String>,
    /// Ask for the plugin's progress as `$/progress` notifications (over stdio; read by the
    /// transport, see [`super::progress`]).
    #[serde(default, rename = "progress")]
    _progress: bool,
}

/// `plugin/call`: App Factory's method, `{plugin, method, args}`; the same call as
/// `tool/call` of `plugin.method`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginCall {
    plugin: String,
    /// The plugin's own name for the tool (a custom world's function name).
    method: String,
    #[serde(default = "empty_object")]
    args: Value,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    session: Option<String>,
    /// As `tool/call`'s.
    #[serde(default, rename = "progress")]
    _progress: bool,
}

/// `handle/drop`: drops a resource handle a `plugin/call` returned.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DropHandle {
    plugin: String,
    handle: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    session: Option<String>,
}

/// `session/end`: the session's resource handles are dropped in every plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndSession {
    session: String,
    #[serde(default)]
    tenant: Option<String>,
}

/// `contract/providers`: which enabled plugins provide a contract (for a routing key).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Providers {
    contract: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HookDispatch {
    kind: HookKind,
    #[serde(default = "empty_object")]
    payload: Value,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    session: Option<String>,
}

fn empty_object() -> Value {
    json!({})
}

fn params<T: DeserializeOwned>(method: &str, params: Value) -> Result<T, RpcError> {
    // By-position parameters are not part of these methods' contract.
    let params = match params {
        Value::Array(items) if items.is_empty() => json!({}),
        other => other,
    };
    serde_json::from_value(params)
        .map_err(|e| RpcError::invalid_params(format!("invalid params for {method}: {e}")))
}

impl Service {
    /// Serves `registry`; requests that name no tenant act for `default_tenant`.
    pub fn new(registry: Arc<Registry>, default_tenant: impl Into<String>) -> Self {
        Service {
            registry,
            default_tenant: default_tenant.into(),
            in_flight: super::InFlight::default(),
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The requests in flight on this service's connection (see [`super::InFlight`]).
    pub fn in_flight(&self) -> &super::InFlight {
        &self.in_flight
    }

    fn tenant(&self, given: Option<String>) -> String {
        given.unwrap_or_else(|| self.default_tenant.clone())
    }

    fn context(&self, tenant: Option<String>, session: Option<String>) -> CallContext {
        CallContext::for_tenant(self.tenant(tenant)).with_session(session.unwrap_or_default())
    }

    /// Runs `method` with `params`.
    pub async fn call(&self, method: &str, raw: Value) -> Result<Value, RpcError> {
        let registry = &self.registry;
        let failed = |e: crate::registry::RegistryError| registry_error(&e);
        match method {
            "plugin/list" => {
                let p: TenantOnly = params(method, raw)?;
                let tenant = self.tenant(p.tenant);
                Ok(json!({
                    "tenant": tenant,
                    "installed": registry.installed().await.map_err(failed)?,
                    "registrations": registry.registrations(Some(&tenant)).await.map_err(failed)?,
                }))
            }
            "plugin/load" => {
                let p: Load = params(method, raw)?;
                let name = registry.install(&p.path).await.map_err(failed)?;
                Ok(json!({"plugin": name}))
            }
            "plugin/unload" => {
                let p: Named = params(method, raw)?;
                let mut tenants = Vec::new();
                for registration in registry.registrations(None).await.map_err(failed)? {
                    if registration.plugin == p.plugin && registration.enabled {
                        registry
                            .disable(&registration.tenant, &p.plugin)
                            .await
                            .map_err(failed)?;
                        tenants.push(registration.tenant);
                    }
                }
                Ok(json!({"plugin": p.plugin, "disabled_for": tenants}))
            }
            "plugin/enable" => {
                let p: Enable = params(method, raw)?;
                let tenant = self.tenant(p.tenant);
                // The same lookup as `airlock plugins enable`: installed, else the search path.
                let name = registry.resolve(&p.plugin).await.map_err(failed)?;
                let config = match p.config {
                    Some(config) => config,
                    None => registry.kept_config(&tenant, &name).await.map_err(failed)?,
                };
                let plugin = registry
                    .enable(&tenant, &name, config)
                    .await
                    .map_err(failed)?;
                Ok(json!({
                    "tenant": tenant,
                    "plugin": name,
                    "version": plugin.metadata().version.to_string(),
                    "enabled": true,
                }))
            }
            "plugin/disable" => {
                let p: Named = params(method, raw)?;
                let tenant = self.tenant(p.tenant);
                registry.disable(&tenant, &p.plugin).await.map_err(failed)?;
                Ok(json!({"tenant": tenant, "plugin": p.plugin, "enabled": false}))
            }
            "plugin/config/get" => {
                let p: Named = params(method, raw)?;
                registry
                    .config(&self.tenant(p.tenant), &p.plugin)
                    .await
                    .map_err(failed)
            }
            "plugin/config/set" => {
                let p: SetConfig = params(method, raw)?;
                let tenant = self.tenant(p.tenant);
                registry
                    .set_config(&tenant, &p.plugin, p.config.clone())
                    .await
                    .map_err(failed)?;
                Ok(json!({"tenant": tenant, "plugin": p.plugin, "config": p.config}))
            }
            "plugin/tools/get" => {
                let p: Named = params(method, raw)?;
                let tenant = self.tenant(p.tenant);
                let tools = registry.tools(&tenant, &p.plugin).await.map_err(failed)?;
                Ok(
                    json!({"tenant": tenant, "plugin": p.plugin, "allow": tools.allow, "deny": tools.deny}),
                )
            }
            "plugin/tools/set" => {
                let p: SetTools = params(method, raw)?;
                let tenant = self.tenant(p.tenant);
                let tools = airlock::ToolFilter {
                    allow: p.allow,
                    deny: p.deny,
                };
                registry
                    .set_tools(&tenant, &p.plugin, tools.clone())
                    .await
                    .map_err(failed)?;
                Ok(
                    json!({"tenant": tenant, "plugin": p.plugin, "allow": tools.allow, "deny": tools.deny}),
                )
            }
            "plugin/health" => {
                let p: Named = params(method, raw)?;
                let health = registry
                    .health(&self.tenant(p.tenant), &p.plugin)
                    .await
                    .map_err(failed)?;
                Ok(serde_json::to_value(health).expect("serialisable"))
            }
            "plugin/audit" => {
                let p: Named = params(method, raw)?;
                let report = registry
                    .audit(&self.tenant(p.tenant), &p.plugin)
                    .await
                    .map_err(failed)?;
                Ok(serde_json::to_value(report).expect("serialisable"))
            }
            "plugin/reset" => {
                let p: Named = params(method, raw)?;
                let tenant = self.tenant(p.tenant);
                registry.reset(&tenant, &p.plugin).await.map_err(failed)?;
                let state = registry.plugin(&tenant, &p.plugin).map(|p| p.state());
                Ok(json!({"tenant": tenant, "plugin": p.plugin, "state": state}))
            }
            "tool/list" => {
                let p: TenantOnly = params(method, raw)?;
                let entries = registry.catalog(&self.tenant(p.tenant)).entries();
                Ok(json!({"tools": entries}))
            }
            "tool/call" => {
                let p: ToolCall = params(method, raw)?;
                let context = self.context(p.tenant, p.session);
                registry
                    .call_tool(&p.tool, &p.arguments, &context)
                    .await
                    .map_err(|e| call_error(&e))
            }
            "plugin/call" => {
                let p: PluginCall = params(method, raw)?;
                let context = self.context(p.tenant, p.session);
                let tool = format!("{}.{}", p.plugin, p.method);
                registry
                    .call_tool(&tool, &p.args, &context)
                    .await
                    .map_err(|e| call_error(&e))
            }
            "handle/drop" => {
                let p: DropHandle = params(method, raw)?;
                let context = self.context(p.tenant, p.session);
                let plugin = registry.plugin(&context.tenant, &p.plugin).ok_or_else(|| {
                    RpcError::invalid_params(format!(
                        "plugin `{}` is not enabled for tenant `{}`",
                        airlock::text::escape(&p.plugin),
                        airlock::text::escape(&context.tenant)
                    ))
                })?;
                plugin
                    .drop_handle(&p.handle, &context)
                    .await
                    .map_err(|e| call_error(&e))?;
                Ok(json!({"plugin": p.plugin, "handle": p.handle, "dropped": true}))
            }
            "session/end" => {
                let p: EndSession = params(method, raw)?;
                let tenant = self.tenant(p.tenant);
                let dropped = registry.end_session(&tenant, &p.session).await;
                Ok(json!({"tenant": tenant, "session": p.session, "handles_dropped": dropped}))
            }
            "contract/providers" => {
                let p: Providers = params(method, raw)?;
                let tenant = self.tenant(p.tenant);
                let providers = registry.providers(&tenant, &p.contract, p.key.as_deref());
                let plugins: Vec<Value> = providers
                    .iter()
                    .map(|plugin| {
                        json!({
                            "plugin": plugin.name(),
                            "version": plugin.metadata().version.to_string(),
                            "contracts": plugin.contracts(),
                            "keys": plugin.keys(),
                        })
                    })
                    .collect();
                Ok(json!({"tenant": tenant, "contract": p.contract, "plugins": plugins}))
            }
            "hook/dispatch" => {
                let p: HookDispatch = params(method, raw)?;
                let context = self.context(p.tenant, p.session);
                let dispatch = registry.dispatch(&p.kind, p.payload, &context).await;
                Ok(serde_json::to_value(dispatch).expect("serialisable"))
            }
            other => Err(RpcError::method_not_found(other)),
        }
    }
}
