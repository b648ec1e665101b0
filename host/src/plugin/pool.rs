//! [`Pool`]: the instances of one plugin. Calls check an instance out (an idle one, or a
//! fresh one up to the concurrency cap) and check it back in unless it trapped or hit a
//! limit, in which case it is dropped and the next call gets a fresh one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::instance::LiveInstance;

pub(crate) struct Pool {
    idle: Mutex<Vec<LiveInstance>>,
    slots: Arc<Semaphore>,
    max_instances: usize,
    max_idle: usize,
    closed: AtomicBool,
}

/// An instance lent to one call, with the slot it occupies.
pub(crate) struct Lease {
    pub(crate) instance: LiveInstance,
    _slot: OwnedSemaphorePermit,
}

impl Pool {
    pub(crate) fn new(max_instances: usize, max_idle: usize) -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(max_instances.max(1))),
            max_instances: max_instances.max(1),
            max_idle,
            closed: AtomicBool::new(false),
        }
    }

    /// Waits for a free slot; `None` once the pool is closed. The slot comes with a warm
    /// instance when one is idle; otherwise the caller instantiates one and wraps it with
    /// [`Pool::lease`].
    pub(crate) async fn checkout(&self) -> Option<(OwnedSemaphorePermit, Option<LiveInstance>)> {
        let slot = self.slots.clone().acquire_owned().await.ok()?;
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let warm = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        Some((slot, warm))
    }

    pub(crate) fn lease(instance: LiveInstance, slot: OwnedSemaphorePermit) -> Lease {
        Lease {
            instance,
            _slot: slot,
        }
    }

    /// Returns a healthy instance for reuse (or drops it when enough are idle). Once the
    /// pool is closed the instance is handed back, to be shut down by the caller.
    pub(crate) fn checkin(&self, lease: Lease) -> Option<LiveInstance> {
        // Checked under the lock `close` takes, so no instance slips in after it emptied the
        // idle list.
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Ordering::Acquire) {
            return Some(lease.instance);
        }
        if idle.len() < self.max_idle {
            idle.push(lease.instance);
        }
        None
    }

    /// Closes the pool: no further checkouts; returns the idle instances for shutdown.
    pub(crate) fn close(&self) -> Vec<LiveInstance> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Ordering::Release);
        self.slots.close();
        std::mem::take(&mut *idle)
    }

    /// How many instances are idle, and `measure` summed over them.
    pub(crate) fn idle(&self, measure: impl Fn(&LiveInstance) -> usize) -> (usize, usize) {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        (idle.len(), idle.iter().map(measure).sum())
    }

    pub(crate) fn max_idle(&self) -> usize {
        self.max_idle
    }

    pub(crate) fn max_instances(&self) -> usize {
        self.max_instances
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
