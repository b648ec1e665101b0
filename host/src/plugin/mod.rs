//! [`Plugin`]: a loaded plugin — its compiled component, what it declared (metadata, tools,
//! hook subscriptions), its limits and configuration, and the pool of instances its calls
//! run on.
//!
//! `start.rs` makes one from an admitted candidate; `calls.rs` runs tools, hooks and the
//! lifecycle exports on it; `lease.rs` hands out its instances (`pool.rs` keeps them); `custom.rs`
//! makes the exports of a custom world's component (the host's own contract) its tools,
//! and `resources.rs` turns its resources into handles bound to the instance owning them.

mod call_id;
mod calls;
mod condition;
mod custom;
mod instance;
mod lease;
mod pool;
mod resources;
mod start;
mod timer;
mod usage;
mod validate;

pub use condition::PluginState;
pub(crate) use instance::AnyInstance;
pub use resources::{HANDLE_TTL, MAX_HANDLES, MAX_SESSION_HANDLES};
pub(crate) use usage::until_cancelled;
pub use usage::{Cancel, ERROR_KINDS, LATENCY_BUCKETS_US, UsageReport, cancellable, metered};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use wasmtime::component::InstancePre;

use crate::capabilities::Grant;
use crate::schema::ArgumentSchema;
use crate::store::{InstanceState, Reach};
use crate::types::{HookKind, Metadata, ToolDefinition};
use crate::{Isolation, Limits, Runtime, World};

use condition::Condition;
use instance::{ExportIndices, LiveInstance};
use pool::Pool;
use validate::Validation;

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

/// Tool name → compiled argument schema.
type Schemas = HashMap<String, Arc<ArgumentSchema>, foldhash::fast::RandomState>;

struct Inner {
    name: Arc<str>,
    world: World,
    metadata: Metadata,
    tools: Vec<ToolDefinition>,
    /// Each tool's compiled argument schema, looked up on every call.
    schemas: Schemas,
    validation: Validation,
    subscriptions: Vec<HookKind>,
    exports: Vec<String>,
    imports: Vec<String>,
    contracts: Vec<String>,
    keys: Vec<String>,
    /// The component's SHA-256, when it was loaded from a reviewed folder.
    digest: Option<crate::digest::Sha256>,
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
    /// A custom world's live resource handles (`resources.rs`).
    handles: resources::Handles,
    /// How long a handle lives unused.
    handle_ttl: std::time::Duration,
    usage: usage::Usage,
    /// Whether calls are counted in `usage` ([`crate::LoadOptions::usage`]).
    counting: bool,
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

pub(crate) use start::{Candidate, check_pool};

impl Plugin {
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

    /// The SHA-256 of its component, as its folder's review read it (what the manifest's
    /// `sha256` pins); `None` for a bare component. Two loads of one version with different
    /// code differ here (a cache of a plugin's results keys on it, not on the version).
    pub fn digest(&self) -> Option<crate::digest::Sha256> {
        self.inner.digest
    }

    /// The host contracts its manifest declares and review checked it implements
    /// (`pkg:name/iface@1.0.0`; see [`crate::contract`]). Empty for a bare component.
    pub fn contracts(&self) -> &[String] {
        &self.inner.contracts
    }

    /// The routing keys its manifest declares (`[plugin] keys`: URI schemes, model names).
    pub fn keys(&self) -> &[String] {
        &self.inner.keys
    }

    /// Whether it provides `contract`, and, when `key` is given, for that key.
    pub fn provides(&self, contract: &str, key: Option<&str>) -> bool {
        self.contracts().iter().any(|c| c == contract)
            && key.is_none_or(|k| self.keys().iter().any(|own| own == k))
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

    /// Clears a failing mark so calls are tried again at once (without waiting for the
    /// cool-down's trial call).
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

    /// What the plugin's calls have cost since it was loaded, and its instances now.
    pub fn usage(&self) -> UsageReport {
        let pool = &self.inner.pool;
        let (idle, _) = pool.idle(|_| 0);
        self.inner.usage.report(pool.in_use() + idle, idle)
    }

    /// The configuration `init` received (defaults filled in), as JSON text.
    pub fn config(&self) -> &str {
        &self.inner.config
    }
}
