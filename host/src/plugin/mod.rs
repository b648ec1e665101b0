//! [`Plugin`]: a loaded plugin — its compiled component, what it declared (metadata, tools,
//! hook subscriptions), its limits and configuration, and the pool of instances its calls
//! run on.

mod condition;
mod instance;
mod pool;
mod timer;
mod validate;

pub use condition::PluginState;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::Value;
use serde_json::value::RawValue;
use wasmtime::component::{Component, InstancePre};

use crate::bindings::hooks;
use crate::capabilities::Grant;
use crate::component::Inspected;
use crate::context::Sessions;
use crate::engine::InstancePool;
use crate::schema::ArgumentSchema;
use crate::store::{InstanceState, Reach};
use crate::types::{
    CallContext, Health, HookKind, HookOutcome, MAX_SUBSCRIPTIONS, MAX_TOOLS, Metadata,
    SHORT_TEXT_BYTES, ToolDefinition,
};
use crate::{CallError, HOST_VERSION, Isolation, Limits, LoadError, LoadOptions, Runtime, World};

use condition::Condition;
use instance::{ExportIndices, LiveInstance};
use pool::{Lease, Pool};
use validate::{Validation, Verdict};

/// A loaded plugin. Cheap to clone (a handle); `Send + Sync`; calls may run concurrently,
/// each on its own instance.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name())
            .field("version", &self.metadata().version.to_string())
            .field("world", &self.world())
            .finish_non_exhaustive()
    }
}

struct Inner {
    name: Arc<str>,
    world: World,
    metadata: Metadata,
    tools: Vec<ToolDefinition>,
    schemas: HashMap<String, Arc<ArgumentSchema>>,
    validation: Validation,
    subscriptions: Vec<HookKind>,
    exports: Vec<String>,
    imports: Vec<String>,
    limits: Limits,
    isolation: Isolation,
    config: String,
    reach: Reach,
    pre: InstancePre<InstanceState>,
    indices: ExportIndices,
    pool: Pool,
    /// State from a previous version (or, under `fresh`, the last `restore_state`),
    /// restored into every new instance after `init`.
    seed: RwLock<Option<Arc<[u8]>>>,
    condition: Condition,
    next_call: AtomicU64,
    _runtime: Runtime,
}

/// A snapshot of a plugin's idle instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PluginStats {
    /// Instances kept warm between calls.
    pub idle_instances: usize,
    /// Linear memory those instances hold, in bytes.
    pub idle_memory_bytes: usize,
}

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
        let (_, inspected) = crate::component::inspect(runtime.engine(), component, what);
        let inspected = inspected.map_err(|mut errors| errors.remove(0))?;
        let limits = options
            .limits
            .clone()
            .unwrap_or_else(|| runtime.default_limits().clone());
        check_pool(runtime.instance_pool(), what, &limits)?;
        Ok(Candidate {
            inspected,
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
            exports,
            imports,
        } = inspected;
        // Busy instances (one per slot) and idle ones may be alive at once.
        let alive = options.max_instances.max(1) + options.max_idle;
        let reach = Reach::new(grant, rt.sessions.clone(), alive);
        let link = |e: wasmtime::Error| LoadError::Link {
            what: what.to_string(),
            reason: format!("{e:#}"),
        };
        let pre = rt.linker.instantiate_pre(&component).map_err(link)?;
        let indices = ExportIndices::new(&pre, world).map_err(link)?;
        let config = serde_json::to_string(&config).expect("a JSON value serialises");
        let start_error = |source| LoadError::Start {
            plugin: what.to_string(),
            source: Box::new(source),
        };

        // A probe instance, labelled by where the component came from and holding no grant,
        // says who it is; only after every check passes do instances get the grant, and they
        // carry the plugin's own name in their logs and errors.
        let nothing = Reach::new(Grant::none(), Sessions::default(), 1);
        let mut probe = LiveInstance::new(&pre, &indices, Arc::from(what), &limits, &nothing)
            .await
            .map_err(start_error)?;
        let declared = declare(&mut probe, &limits).await.map_err(start_error)?;
        drop(probe);
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
        let mut first =
            LiveInstance::new(&pre, &indices, Arc::from(name.as_str()), &limits, &reach)
                .await
                .map_err(start_error)?;
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
            condition: Condition::new(options.failure_threshold),
            next_call: AtomicU64::new(1),
            _runtime: runtime,
        };
        let plugin = Plugin {
            inner: Arc::new(inner),
        };
        // The first instance proved that `init` accepts the configuration; under `reuse` it
        // also serves the first call.
        if isolation == Isolation::Reuse
            && let Some((slot, _)) = plugin.inner.pool.checkout().await
        {
            let _ = plugin.inner.pool.checkin(Pool::lease(first, slot));
        }
        tracing::info!(plugin = %plugin.name(), world = %world, version = %plugin.metadata().version, %isolation, "plugin loaded");
        Ok(plugin)
    }

    /// True when both handles are the same loaded plugin (not merely the same name).
    pub fn same_as(&self, other: &Plugin) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The plugin's name, from its metadata.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Which Airlock world the component implements.
    pub fn world(&self) -> World {
        self.inner.world
    }

    pub fn metadata(&self) -> &Metadata {
        &self.inner.metadata
    }

    /// The tools the plugin offers (empty for hook plugins).
    pub fn tools(&self) -> &[ToolDefinition] {
        &self.inner.tools
    }

    /// The hook kinds the plugin subscribes to (empty for tool plugins).
    pub fn subscriptions(&self) -> &[HookKind] {
        &self.inner.subscriptions
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether instances live across calls or each call gets a new one.
    pub fn isolation(&self) -> Isolation {
        self.inner.isolation
    }

    /// The component's export names.
    pub fn exports(&self) -> &[String] {
        &self.inner.exports
    }

    /// The capabilities this plugin's instances are built from.
    pub fn grant(&self) -> &Grant {
        &self.inner.reach.grant
    }

    /// The component's import names.
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// Calls tool `tool` with `arguments`, validated against its schema first.
    pub async fn call_tool(
        &self,
        tool: &str,
        arguments: &Value,
        context: &CallContext,
    ) -> Result<Value, CallError> {
        let text = self.encode_input("arguments", arguments)?;
        self.check_arguments(tool, &text, Some(arguments)).await?;
        let arguments = text;
        let text = self.run_tool(tool, &arguments, context).await?;
        validate::parse_off_worker(text, |text| serde_json::from_str(&text))
            .await
            .map_err(|e| self.bad_result(tool, e))
    }

    /// [`Plugin::call_tool`] for callers that hold JSON text and want JSON text back (a
    /// JSON-RPC server, a proxy): the arguments are parsed once, to check them against the
    /// schema, and handed to the plugin as given; the result is checked to be JSON but not
    /// parsed into a tree, so it can be embedded in a reply as it is. The plugin receives
    /// the text exactly as given: where JSON is ambiguous (a repeated key, a number beyond
    /// `f64` precision) the schema check and the plugin's parser may read it differently,
    /// so send plain JSON, or use `call_tool`, which re-serialises what it checked.
    pub async fn call_tool_json(
        &self,
        tool: &str,
        arguments: &str,
        context: &CallContext,
    ) -> Result<Box<RawValue>, CallError> {
        self.check_size("arguments", arguments.len())?;
        self.check_arguments(tool, arguments, None).await?;
        let text = self.run_tool(tool, arguments, context).await?;
        validate::parse_off_worker(text, RawValue::from_string)
            .await
            .map_err(|e| self.bad_result(tool, e))
    }

    /// Refuses an unknown tool, or arguments (`text`, and the same as a value when the
    /// caller has it) its schema does not accept, or whose check outlasts the deadline.
    async fn check_arguments(
        &self,
        tool: &str,
        text: &str,
        parsed: Option<&Value>,
    ) -> Result<(), CallError> {
        let schema = self
            .inner
            .schemas
            .get(tool)
            .ok_or_else(|| CallError::UnknownTool {
                plugin: self.name().to_string(),
                tool: tool.to_string(),
                available: self.inner.tools.iter().map(|t| t.name.clone()).collect(),
            })?;
        let deadline = self.inner.limits.deadline;
        match self
            .inner
            .validation
            .check(schema, text, parsed, deadline)
            .await
        {
            Verdict::Valid => Ok(()),
            Verdict::Problems(problems) => Err(CallError::BadArguments {
                plugin: self.name().to_string(),
                tool: tool.to_string(),
                problems,
            }),
            Verdict::TimedOut => Err(CallError::ValidationTimeout {
                plugin: self.name().to_string(),
                tool: tool.to_string(),
                deadline,
            }),
        }
    }

    /// Runs checked, encoded arguments through the tool; the plugin's answer as text.
    async fn run_tool(
        &self,
        tool: &str,
        arguments: &str,
        context: &CallContext,
    ) -> Result<String, CallError> {
        let context = context.to_wit(self.call_id(context));
        let limits = &self.inner.limits;
        let mut lease = self.checkout().await?;
        let result = lease
            .instance
            .call_tool(limits, tool, arguments, &context)
            .await;
        self.checkin(lease, &result);
        result
    }

    fn bad_result(&self, tool: &str, e: serde_json::Error) -> CallError {
        CallError::Protocol {
            plugin: self.name().to_string(),
            reason: format!("tool `{tool}` returned invalid JSON: {e}"),
        }
    }

    /// Runs the plugin's handler for `kind` on `payload`. A plugin not subscribed to `kind`
    /// passes without running.
    pub async fn handle_hook(
        &self,
        kind: &HookKind,
        payload: &Value,
        context: &CallContext,
    ) -> Result<HookOutcome, CallError> {
        if !self.inner.subscriptions.contains(kind) {
            return Ok(HookOutcome::Pass);
        }
        let payload = self.encode_input("payload", payload)?;
        let context = context.to_wit(self.call_id(context));
        let limits = &self.inner.limits;
        let mut lease = self.checkout().await?;
        let result = lease
            .instance
            .handle_hook(limits, &kind.to_wit(), &payload, &context)
            .await;
        self.checkin(lease, &result);
        Ok(match result? {
            hooks::HookOutcome::Pass => HookOutcome::Pass,
            hooks::HookOutcome::Veto(reason) => HookOutcome::Veto(reason),
            hooks::HookOutcome::Replace(text) => HookOutcome::Replace(
                validate::parse_off_worker(text, |text| serde_json::from_str(&text))
                    .await
                    .map_err(|e| CallError::Protocol {
                        plugin: self.name().to_string(),
                        reason: format!(
                            "hook `{kind}` replaced the payload with invalid JSON: {e}"
                        ),
                    })?,
            ),
        })
    }

    /// Polls the plugin's health on an instance.
    pub async fn health(&self) -> Result<Health, CallError> {
        let mut lease = self.checkout().await?;
        let result = lease.instance.health(&self.inner.limits).await;
        self.checkin(lease, &result);
        Ok(Health::from_wit(result?))
    }

    /// Hot swap, step 1: the state an instance wants carried over.
    pub async fn capture_state(&self) -> Result<Option<Vec<u8>>, CallError> {
        let mut lease = self.checkout().await?;
        let result = lease.instance.capture_state(&self.inner.limits).await;
        self.checkin(lease, &result);
        result
    }

    /// Hands captured state to one instance of this plugin (the next call's, when the
    /// pool holds one idle). For a whole new version, load it with
    /// [`LoadOptions::state`] instead: every instance then starts from that state. Under
    /// [`Isolation::Fresh`] there is no instance to keep it, so once an instance accepts
    /// the state it becomes the seed every later call's instance starts from.
    pub async fn restore_state(&self, state: &[u8]) -> Result<(), CallError> {
        let mut lease = self.checkout().await?;
        let result = lease
            .instance
            .restore_state(&self.inner.limits, state)
            .await;
        self.checkin(lease, &result);
        if result.is_ok() && self.inner.isolation == Isolation::Fresh {
            *self.inner.seed.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::from(state));
        }
        result
    }

    /// Stops the plugin: no new calls; idle instances get `shutdown` now, instances of
    /// calls still running get it when those calls finish.
    pub async fn shutdown(&self) {
        for mut instance in self.inner.pool.close() {
            if let Err(e) = instance.shutdown(&self.inner.limits).await {
                tracing::warn!(plugin = %self.name(), "shutdown failed: {e}");
            }
        }
    }

    /// True once `shutdown` was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.pool.is_closed()
    }

    /// Whether the plugin takes calls.
    pub fn state(&self) -> PluginState {
        if self.is_shut_down() {
            return PluginState::Stopped;
        }
        match self.inner.condition.failing() {
            Some(reason) => PluginState::Failing { reason },
            None => PluginState::Ready,
        }
    }

    /// Clears a failing mark so calls are tried again.
    pub fn reset(&self) {
        self.inner.condition.reset();
    }

    /// What the plugin holds right now while idle: for capacity planning and metrics.
    pub fn stats(&self) -> PluginStats {
        let (idle_instances, idle_memory_bytes) = self.inner.pool.idle(LiveInstance::memory_bytes);
        PluginStats {
            idle_instances,
            idle_memory_bytes,
        }
    }

    /// Starts instances until `count` are idle (at most the pool's idle cap), so the next
    /// calls — a burst of `count` at once included — skip instantiation and `init`.
    /// Returns how many are idle. Does nothing under [`Isolation::Fresh`].
    pub async fn prewarm(&self, count: usize) -> Result<usize, CallError> {
        let pool = &self.inner.pool;
        // Every lease holds a slot, so never ask for more than there are.
        let wanted = count.min(pool.max_idle()).min(pool.max_instances());
        // Hold every lease until all exist, so each checkout starts a new instance instead
        // of taking back the one just returned.
        let mut leases = Vec::with_capacity(wanted);
        let mut failed = None;
        for _ in 0..wanted {
            match self.checkout().await {
                Ok(lease) => leases.push(lease),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        for lease in leases {
            // After a concurrent shutdown the pool hands the instance back: it never ran a
            // call, so it is simply dropped.
            let _ = pool.checkin(lease);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(self.stats().idle_instances),
        }
    }

    /// The configuration `init` received (defaults filled in), as JSON text.
    pub fn config(&self) -> &str {
        &self.inner.config
    }

    async fn checkout(&self) -> Result<Lease, CallError> {
        if let Some(reason) = self.inner.condition.failing() {
            return Err(CallError::Failing {
                plugin: self.name().to_string(),
                reason,
            });
        }
        let shut_down = || CallError::ShutDown {
            plugin: self.name().to_string(),
        };
        let (slot, warm) = self.inner.pool.checkout().await.ok_or_else(shut_down)?;
        let instance = match warm {
            Some(instance) => instance,
            None => {
                // Only a failure counts here: a fresh instance after a trap says nothing
                // about whether calls work.
                let started = self.new_instance().await;
                if started.is_err() {
                    self.inner.condition.record(&started);
                }
                started?
            }
        };
        Ok(Pool::lease(instance, slot))
    }

    /// A new instance, initialised with the plugin's configuration and any seed state.
    async fn new_instance(&self) -> Result<LiveInstance, CallError> {
        let inner = &self.inner;
        let mut instance = LiveInstance::new(
            &inner.pre,
            &inner.indices,
            inner.name.clone(),
            &inner.limits,
            &inner.reach,
        )
        .await?;
        instance.init(&inner.limits, &inner.config).await?;
        let seed = inner.seed.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(seed) = seed {
            instance.restore_state(&inner.limits, &seed).await?;
        }
        Ok(instance)
    }

    /// Keeps the instance unless the call trapped or hit a limit (its store is then
    /// poisoned or half-way through something).
    fn checkin<T>(&self, lease: Lease, result: &Result<T, CallError>) {
        self.inner.condition.record(result);
        if self.inner.isolation == Isolation::Fresh {
            // The call's instance ends with the call; dropping the lease frees its slot.
            return;
        }
        match result {
            Err(e) if e.discards_instance() => {
                tracing::info!(plugin = %self.name(), kind = e.kind(), "instance discarded: {e}");
            }
            _ => {
                if let Some(mut late) = self.inner.pool.checkin(lease) {
                    // The plugin was shut down while this call ran: this instance gets its
                    // `shutdown` too, off the caller's path.
                    let (limits, name) = (self.inner.limits.clone(), self.inner.name.clone());
                    tokio::spawn(async move {
                        if let Err(e) = late.shutdown(&limits).await {
                            tracing::warn!(plugin = %name, "shutdown failed: {e}");
                        }
                    });
                }
            }
        }
    }

    fn encode_input(&self, what: &'static str, value: &Value) -> Result<String, CallError> {
        let text = serde_json::to_string(value).expect("a JSON value serialises");
        self.check_size(what, text.len())?;
        Ok(text)
    }

    fn check_size(&self, what: &'static str, size: usize) -> Result<(), CallError> {
        let limit = self.inner.limits.input_bytes;
        match size > limit {
            true => Err(CallError::InputTooLarge {
                plugin: self.name().to_string(),
                what,
                size,
                limit,
            }),
            false => Ok(()),
        }
    }

    /// The caller's call id, or `<plugin>-<n>`. Written by hand: `format!` costs more
    /// than everything else on this path together.
    fn call_id(&self, context: &CallContext) -> String {
        if !context.call_id.is_empty() {
            return context.call_id.clone();
        }
        let n = self.inner.next_call.fetch_add(1, Ordering::Relaxed);
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let mut id = String::with_capacity(self.name().len() + 1 + digits.len() - at);
        id.push_str(self.name());
        id.push('-');
        id.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
        id
    }
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
fn compile_schemas(
    plugin: &str,
    tools: &[ToolDefinition],
) -> Result<HashMap<String, Arc<ArgumentSchema>>, LoadError> {
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
