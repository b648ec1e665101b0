//! [`Limits`]: what one call may consume, and the store-side limiter that enforces the
//! memory and table caps and remembers which cap was hit (so the error can say so).

use std::time::Duration;

use serde::Deserialize;

/// What a single call into a plugin may consume. Every call (including `init`) runs under
/// all of them; hitting one is a typed [`CallError`](crate::CallError) and the instance that
/// hit it is discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (≈ WebAssembly instructions) per call; `None` meters nothing (the deadline
    /// still applies).
    pub fuel: Option<u64>,
    /// Wall-clock time per call. While the guest runs it yields every 10⁷ units of fuel
    /// (about 1.5 ms of guest code) and the clock is read at each yield and whenever a
    /// host call returns, so a runaway is stopped within about that much of the deadline,
    /// with or without a fuel budget; while it waits in a host call, a timer stops it at the
    /// deadline.
    pub deadline: Duration,
    /// Maximum linear memory of the instance, all its memories together, in bytes.
    pub memory_bytes: usize,
    /// Maximum bytes the plugin may hand back in one call (a result, an error, a log line).
    pub output_bytes: usize,
    /// Maximum bytes of arguments or payload the host sends in one call.
    pub input_bytes: usize,
    /// Maximum table elements of the instance, all its tables together.
    pub table_elements: usize,
    /// Maximum core instances, tables and memories per component instance.
    pub instances: usize,
    /// Maximum host handles (open files, directories, sockets, streams, pollables) the
    /// instance holds at once: its resource table's capacity. An instance that can open
    /// descriptors may get fewer when its plugin's or the process's descriptor budget runs
    /// low (see [`handles`](crate::handles)). Past it the call fails with
    /// [`CallError::HandleLimit`](crate::CallError::HandleLimit).
    pub handles: usize,
    /// Maximum bytes of one outgoing HTTP request body, and of one response body (see
    /// [`http`](crate::capabilities::http)); past it the request or the body read fails
    /// with `wasi:http`'s `HTTP-request-body-size` / `HTTP-response-body-size`.
    pub http_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: Some(2_000_000_000),
            deadline: Duration::from_secs(5),
            memory_bytes: 64 << 20,
            output_bytes: 4 << 20,
            input_bytes: 4 << 20,
            table_elements: 20_000,
            instances: 32,
            handles: 1024,
            http_body_bytes: 4 << 20,
        }
    }
}

impl Limits {
    /// These limits with another fuel budget (`None`: unmetered).
    pub fn with_fuel(mut self, fuel: Option<u64>) -> Self {
        self.fuel = fuel;
        self
    }

    /// These limits with another deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// These limits with another memory cap.
    pub fn with_memory_bytes(mut self, bytes: usize) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// These limits with another output cap.
    pub fn with_output_bytes(mut self, bytes: usize) -> Self {
        self.output_bytes = bytes;
        self
    }

    /// These limits with another handle cap (per instance).
    pub fn with_handles(mut self, handles: usize) -> Self {
        self.handles = handles;
        self
    }

    /// These limits with another input cap.
    pub fn with_input_bytes(mut self, bytes: usize) -> Self {
        self.input_bytes = bytes;
        self
    }
}

/// A `[limits]` table as written in a manifest (what the plugin asks for) or a policy (the
/// operator's caps). Unset entries say nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitTable {
    pub fuel: Option<u64>,
    #[serde(default, deserialize_with = "crate::units::optional_duration")]
    pub deadline: Option<Duration>,
    #[serde(default, deserialize_with = "crate::units::optional_size")]
    pub memory: Option<usize>,
    #[serde(default, deserialize_with = "crate::units::optional_size")]
    pub output: Option<usize>,
    /// `http-body`: the cap on each outgoing HTTP request and response body.
    #[serde(
        default,
        rename = "http-body",
        deserialize_with = "crate::units::optional_size"
    )]
    pub http_body: Option<usize>,
}

impl LimitTable {
    /// `base` with every value this table sets put in.
    pub fn over(&self, base: &Limits) -> Limits {
        let mut limits = base.clone();
        if let Some(fuel) = self.fuel {
            limits.fuel = Some(fuel);
        }
        limits.deadline = self.deadline.unwrap_or(limits.deadline);
        limits.memory_bytes = self.memory.unwrap_or(limits.memory_bytes);
        limits.output_bytes = self.output.unwrap_or(limits.output_bytes);
        limits.http_body_bytes = self.http_body.unwrap_or(limits.http_body_bytes);
        limits
    }
}

impl Limits {
    /// The smaller of each limit (`None` fuel counts as unlimited).
    pub fn min(&self, other: &Limits) -> Limits {
        Limits {
            fuel: match (self.fuel, other.fuel) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            deadline: self.deadline.min(other.deadline),
            memory_bytes: self.memory_bytes.min(other.memory_bytes),
            output_bytes: self.output_bytes.min(other.output_bytes),
            input_bytes: self.input_bytes.min(other.input_bytes),
            table_elements: self.table_elements.min(other.table_elements),
            instances: self.instances.min(other.instances),
            handles: self.handles.min(other.handles),
            http_body_bytes: self.http_body_bytes.min(other.http_body_bytes),
        }
    }
}

/// Which store-enforced cap refused a growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CapHit {
    Memory,
    Table,
}

/// Enforces the memory and table caps for one store and records the first refusal.
pub(crate) struct Limiter {
    memory_bytes: usize,
    table_elements: usize,
    instances: usize,
    /// Bytes of linear memory across all memories of the instance, and table elements
    /// across all tables: the caps bound the whole instance, not each memory.
    memory_used: usize,
    table_used: usize,
    pub(crate) hit: Option<CapHit>,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Limiter {
            memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
            instances: limits.instances,
            memory_used: 0,
            table_used: 0,
            hit: None,
        }
    }
}

impl Limiter {
    /// Bytes of linear memory the store's instance holds, all memories together.
    pub(crate) fn memory_used(&self) -> usize {
        self.memory_used
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = (self.memory_used - current.min(self.memory_used)).saturating_add(desired);
        let allowed = total <= self.memory_bytes;
        match allowed {
            true => self.memory_used = total,
            false => _ = self.hit.get_or_insert(CapHit::Memory),
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = (self.table_used - current.min(self.table_used)).saturating_add(desired);
        let allowed = total <= self.table_elements;
        match allowed {
            true => self.table_used = total,
            false => _ = self.hit.get_or_insert(CapHit::Table),
        }
        Ok(allowed)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}
