//! Handing out a plugin's instances: a warm one from the pool or a new one (initialised,
//! seeded with carried-over state), back to the pool after the call or dropped after a
//! trap; prewarming; and shutting the pool down.

use super::Plugin;
use super::instance::LiveInstance;
use super::pool::{Lease, Pool};
use crate::{CallError, Isolation};

/// What an instance is leased for. Only calls (tools and hooks) count toward the failure
/// streak and can be the half-open trial: a health poll or a state hand-over that
/// answered says nothing about whether calls work, and must neither end a streak of
/// failing calls nor use up the one trial a failing plugin gets per cool-down.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Call,
    Upkeep,
}

impl Plugin {
    pub(super) async fn checkout(&self, purpose: Purpose) -> Result<Lease<'_>, CallError> {
        let admitted = match purpose {
            Purpose::Call => self.inner.condition.admit(),
            Purpose::Upkeep => self.inner.condition.failing().map_or(Ok(()), Err),
        };
        if let Err(reason) = admitted {
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
                // Boxed: instantiating is the cold path, and its future (kilobytes) would
                // otherwise be part of every warm call's future, copied at each layer.
                let started = Box::pin(self.new_instance()).await;
                if started.is_err() {
                    self.inner.condition.record(&started);
                }
                Box::new(started?)
            }
        };
        Ok(Pool::lease(instance, slot))
    }

    /// A new instance, initialised with the plugin's configuration and any seed state.
    pub(super) async fn new_instance(&self) -> Result<LiveInstance, CallError> {
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
    pub(super) fn checkin<T>(
        &self,
        lease: Lease<'_>,
        result: &Result<T, CallError>,
        purpose: Purpose,
    ) {
        if purpose == Purpose::Call {
            self.inner.condition.record(result);
        }
        if purpose == Purpose::Call {
            self.meter(&lease.instance);
        }
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

    /// Counts the fuel and memory of the call `instance` just ran in the plugin's usage,
    /// the caller's meter ([`super::metered`]) and the call's span.
    pub(super) fn meter(&self, instance: &LiveInstance) {
        if !self.inner.counting && !super::usage::metering() {
            return;
        }
        let fuel = instance.fuel_used(&self.inner.limits);
        if self.inner.counting {
            self.inner
                .usage
                .record_resources(fuel, instance.memory_bytes());
        }
        super::usage::add_metered(fuel);
        if tracing::level_enabled!(tracing::Level::DEBUG) {
            // The call's span (debug level): only then can it be the current one.
            tracing::Span::current().record("fuel", fuel);
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
            match self.checkout(Purpose::Upkeep).await {
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

    /// Stops the plugin: no new calls; idle instances get `shutdown` now, instances of
    /// calls still running get it when those calls finish.
    pub async fn shutdown(&self) {
        self.drop_all_handles();
        for mut instance in self.inner.pool.close() {
            if let Err(e) = instance.shutdown(&self.inner.limits).await {
                tracing::warn!(plugin = %self.name(), "shutdown failed: {e}");
            }
        }
    }
}
