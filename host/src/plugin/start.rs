//! Starting a plugin from an admitted [`Candidate`]: link it, ask a probe instance (holding
//! no grant) who it is, check what it declared against its caps, then start the first real
//! instance with the grant and run `init`.

use std::sync::{Arc, RwLock};

use serde_json::Value;
use wasmtime::component::{Component, InstancePre};

use super::condition::Condition;
use super::instance::{ExportIndices, LiveInstance};
use super::pool::Pool;
use super::validate::Validation;
use super::{Inner, Plugin};
use crate::bindings::hooks;
use crate::capabilities::Grant;
use crate::component::Inspected;
use crate::context::Sessions;
use crate::engine::InstancePool;
use crate::schema::ArgumentSchema;
use crate::store::{InstanceState, Reach};
use crate::types::{
    HookKind, MAX_SUBSCRIPTIONS, MAX_TOOLS, Metadata, SHORT_TEXT_BYTES, ToolDefinition,
};
use crate::{CallError, HOST_VERSION, Isolation, Limits, LoadError, LoadOptions, Runtime, World};

/// What the first instance told us at load.
struct Declared {
    metadata: Metadata,
    tools: Vec<ToolDefinition>,
    subscriptions: Vec<HookKind>,
}

/// An admitted plugin, ready to start: everything [`Plugin::start`] needs, each checked
/// once before — by the folder review ([`crate::folder::Review::admit`]) or, for a bare
/// component, by [`Candidate::bare`].
pub(crate) struct Candidate {
    pub(crate) inspected: Inspected,
    /// Who a custom world's plugin is, from its manifest (a `lifecycle` it exports is not
    /// asked for its `metadata`);
    /// `None` for Airlock's worlds, which say it themselves.
    pub(crate) metadata: Option<Metadata>,
    /// The contracts its manifest declares (checked at review) and its routing keys.
    pub(crate) contracts: Vec<String>,
    pub(crate) keys: Vec<String>,
    /// The SHA-256 of the component a folder's review read; `None` for a bare component.
    pub(crate) digest: Option<crate::digest::Sha256>,
    /// Where it came from (a folder or a file), naming it until it says who it is.
    pub(crate) what: String,
    pub(crate) grant: Grant,
    pub(crate) limits: Limits,
    /// The configuration `init` gets (checked against the `[config]` schema, if any).
    pub(crate) config: Value,
    /// The name the plugin must report: its manifest's; `None` for a bare component.
    pub(crate) expected_name: Option<String>,
    /// True when a manifest's `host-versions` range already admitted this host; otherwise
    /// the range the plugin declares in its metadata is checked at start.
    pub(crate) host_range_checked: bool,
}

impl Candidate {
    /// A bare component (no manifest, no policy): no grant, the limits of `options` or the
    /// runtime's defaults (which must fit the instance pool), `options.config` as is.
    pub(crate) fn bare(
        runtime: &Runtime,
        component: Component,
        what: &str,
        options: &LoadOptions,
    ) -> Result<Candidate, LoadError> {
        let (_, inspected) = crate::component::inspect(runtime.engine(), component, what, false);
        let inspected = inspected.map_err(|mut errors| errors.remove(0))?;
        let limits = options
            .limits
            .clone()
            .unwrap_or_else(|| runtime.default_limits().clone());
        check_pool(runtime.instance_pool(), what, &limits)?;
        Ok(Candidate {
            inspected,
            metadata: None,
            contracts: Vec::new(),
            keys: Vec::new(),
            digest: None,
            what: what.to_string(),
            grant: Grant::none(),
            limits,
            config: options.config.clone(),
            expected_name: None,
            host_range_checked: false,
        })
    }
}

impl Plugin {
    /// Links the admitted component, starts a first instance (metadata, tools,
    /// subscriptions, `init`) and keeps it warm. Any failure refuses the whole plugin.
    /// From `options`, only the pool sizes, isolation, failure threshold and state apply:
    /// the limits and configuration are the candidate's.
    pub(crate) async fn start(
        runtime: Runtime,
        candidate: Candidate,
        options: LoadOptions,
    ) -> Result<Plugin, LoadError> {
        let rt = runtime.inner();
        let Candidate {
            inspected,
            metadata,
            contracts,
            keys,
            digest,
            what,
            grant,
            limits,
            config,
            expected_name,
            host_range_checked,
        } = candidate;
        let what = what.as_str();
        let Inspected {
            component,
            world,
            version,
            lifecycle,
            exports,
            imports,
        } = inspected;
        // Busy instances (one per slot) and idle ones may be alive at once.
        let alive = options.max_instances.max(1) + options.max_idle;
        let mut reach = Reach::new(grant, rt.sessions.clone(), alive);
        reach.log_tap = options.log_tap.clone();
        let link = |e: wasmtime::Error| LoadError::Link {
            what: what.to_string(),
            reason: format!("{e:#}"),
        };
        let pre = rt.linker.instantiate_pre(&component).map_err(link)?;
        let functions = match world {
            World::Custom => {
                super::custom::functions(&component, runtime.engine()).map_err(|reason| {
                    LoadError::BadMetadata {
                        plugin: what.to_string(),
                        reason,
                    }
                })?
            }
            _ => Vec::new(),
        };
        let indices =
            ExportIndices::new(&pre, world, version, functions, lifecycle).map_err(link)?;
        let config = serde_json::to_string(&config).expect("a JSON value serialises");
        let start_error = |source| LoadError::Start {
            plugin: what.to_string(),
            source: Box::new(source),
        };

        // A probe instance, labelled by where the component came from and holding no grant,
        // says who it is; only after every check passes do instances get the grant, and they
        // carry the plugin's own name in their logs and errors.
        let mut nothing = Reach::new(Grant::none(), Sessions::default(), 1);
        // The probe may stay on as the first instance: its records go to the tap too.
        nothing.log_tap = options.log_tap.clone();
        let mut probe = LiveInstance::new(&pre, &indices, Arc::from(what), &limits, &nothing)
            .await
            .map_err(start_error)?;
        let declared = match metadata {
            Some(metadata) => Declared {
                tools: super::custom::tools(&metadata.name, &indices.functions)?,
                metadata,
                subscriptions: Vec::new(),
            },
            None => declare(&mut probe, &limits).await.map_err(start_error)?,
        };
        let name = declared.metadata.name.clone();
        if let Some(expected) = expected_name.filter(|e| *e != name) {
            return Err(LoadError::NameMismatch {
                manifest: what.to_string(),
                expected,
                actual: name,
            });
        }
        if !host_range_checked {
            check_host_version(&declared.metadata)?;
        }
        let schemas = compile_schemas(&name, &declared.tools)?;
        let start_error = |source| LoadError::Start {
            plugin: name.clone(),
            source: Box::new(source),
        };
        let first = first_instance(probe, &pre, &indices, &name, &limits, &reach).await;
        let mut first = first.map_err(start_error)?;
        first.init(&limits, &config).await.map_err(start_error)?;
        if let Some(seed) = &options.state {
            first
                .restore_state(&limits, seed)
                .await
                .map_err(start_error)?;
        }

        let isolation = options.isolation;
        let max_idle = match isolation {
            Isolation::Reuse => options.max_idle,
            Isolation::Fresh => 0,
        };
        let pool = Pool::new(options.max_instances, max_idle);
        let inner = Inner {
            name: Arc::from(name.as_str()),
            world,
            exports,
            imports,
            contracts,
            keys,
            digest,
            metadata: declared.metadata,
            tools: declared.tools,
            schemas,
            validation: Validation::new(),
            subscriptions: declared.subscriptions,
            limits,
            isolation,
            config,
            reach,
            pre,
            indices,
            pool,
            seed: RwLock::new(options.state.map(Arc::from)),
            condition: Condition::new(options.failure_threshold, options.failure_cooldown),
            handles: Default::default(),
            handle_ttl: options.handle_ttl,
            usage: Default::default(),
            counting: options.usage,
            _runtime: runtime,
        };
        let plugin = Plugin {
            inner: Arc::new(inner),
        };
        if plugin.inner.indices.functions.iter().any(|f| f.handles) {
            plugin.sweep_handles(options.handle_ttl);
        }
        // The first instance proved that `init` accepts the configuration; under `reuse` it
        // also serves the first call.
        if isolation == Isolation::Reuse
            && let Some((slot, _)) = plugin.inner.pool.checkout().await
        {
            let _ = plugin
                .inner
                .pool
                .checkin(Pool::lease(Box::new(first), slot));
        }
        tracing::info!(plugin = %plugin.name(), world = %world, version = %plugin.metadata().version, %isolation, "plugin loaded");
        Ok(plugin)
    }
}

/// The plugin's first instance. A plugin granted nothing would get an instance just like
/// the probe, so the probe becomes it, renamed, and the load instantiates once (a Python
/// component's instantiation takes ~2 ms); any grant gets an instance of its own.
async fn first_instance(
    mut probe: LiveInstance,
    pre: &InstancePre<InstanceState>,
    indices: &ExportIndices,
    name: &str,
    limits: &Limits,
    reach: &Reach,
) -> Result<LiveInstance, CallError> {
    if *reach.grant == Grant::none() {
        probe.adopt(Arc::from(name), reach);
        return Ok(probe);
    }
    drop(probe);
    LiveInstance::new(pre, indices, Arc::from(name), limits, reach).await
}

/// Asks a fresh instance what the plugin is: metadata, tools, subscriptions.
async fn declare(instance: &mut LiveInstance, limits: &Limits) -> Result<Declared, CallError> {
    let raw = instance.metadata(limits).await?;
    let plugin = raw.name.clone();
    let protocol = |reason: String| CallError::Protocol {
        plugin: plugin.clone(),
        reason,
    };
    let metadata =
        Metadata::from_wit(raw).map_err(|r| protocol(format!("invalid metadata: {r}")))?;
    let tools = instance.list_tools(limits).await?;
    if tools.len() > MAX_TOOLS {
        return Err(protocol(format!(
            "it offers {} tools, over the cap of {MAX_TOOLS}",
            tools.len()
        )));
    }
    let tools = tools
        .into_iter()
        .map(ToolDefinition::from_wit)
        .collect::<Result<Vec<_>, _>>()
        .map_err(protocol)?;
    let mut names = std::collections::HashSet::new();
    for tool in &tools {
        let valid = !tool.name.is_empty()
            && tool.name.len() <= 64
            && tool
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid || !names.insert(tool.name.as_str()) {
            let shown = crate::capabilities::stdio::sanitize(tool.name.as_bytes());
            return Err(protocol(format!(
                "tool name `{shown}` is invalid or repeated (letters, digits, `_`, `-`; unique)"
            )));
        }
    }
    let subscriptions = instance.subscriptions(limits).await?;
    check_subscriptions(&subscriptions).map_err(protocol)?;
    let subscriptions = subscriptions.into_iter().map(HookKind::from_wit).collect();
    Ok(Declared {
        metadata,
        tools,
        subscriptions,
    })
}

/// Refuses more subscriptions than [`MAX_SUBSCRIPTIONS`], or a custom kind's name longer
/// than [`SHORT_TEXT_BYTES`].
fn check_subscriptions(kinds: &[hooks::HookKind]) -> Result<(), String> {
    if kinds.len() > MAX_SUBSCRIPTIONS {
        return Err(format!(
            "it subscribes to {} hook kinds, over the cap of {MAX_SUBSCRIPTIONS}",
            kinds.len()
        ));
    }
    for kind in kinds {
        if let hooks::HookKind::Custom(name) = kind {
            crate::types::within("custom hook kind", name, SHORT_TEXT_BYTES)?;
        }
    }
    Ok(())
}

/// Refuses limits whose memory or table cap the runtime's instance pool cannot hold: better
/// a clear error at load than every instantiation failing later.
/// The limits must fit the instance pool's slots (memory, tables), or no instance could
/// ever be made: refused at admission, naming the cap and the slot.
pub(crate) fn check_pool(
    pool: Option<&InstancePool>,
    what: &str,
    limits: &Limits,
) -> Result<(), LoadError> {
    match pool.and_then(|pool| pool.shortfall(limits)) {
        Some((cap_kind, cap, slot)) => Err(LoadError::PoolTooSmall {
            plugin: what.to_string(),
            what: cap_kind,
            cap,
            slot,
        }),
        None => Ok(()),
    }
}

fn check_host_version(metadata: &Metadata) -> Result<(), LoadError> {
    let host = semver::Version::parse(HOST_VERSION).expect("the crate version is semver");
    match metadata.host_versions.matches(&host) {
        true => Ok(()),
        false => Err(LoadError::IncompatibleHost {
            plugin: metadata.name.clone(),
            required: metadata.host_versions.to_string(),
            host: HOST_VERSION.to_string(),
        }),
    }
}

/// Checks every tool's schema against the caps of [`crate::schema::bounds`] and compiles it.
fn compile_schemas(plugin: &str, tools: &[ToolDefinition]) -> Result<super::Schemas, LoadError> {
    tools
        .iter()
        .map(|tool| {
            let schema = ArgumentSchema::compile(&tool.input_schema).map_err(|reason| {
                LoadError::BadToolSchema {
                    plugin: plugin.to_string(),
                    tool: tool.name.clone(),
                    reason,
                }
            })?;
            Ok((tool.name.clone(), Arc::new(schema)))
        })
        .collect()
}
