//! [`Pool`]: the instances of one plugin. Calls check an instance out (an idle one, or a
//! fresh one up to the concurrency cap) and check it back in unless it trapped or hit a
//! limit, in which case it is dropped and the next call gets a fresh one.
//!
//! A call prefers the idle instance its own thread used last: an instance's working set
//! (its store, its guest's stack and heap) is then still in that core's caches, where
//! handing instances round between threads would move it from core to core on every
//! call. Tokio's workers are threads, so concurrent callers settle on an instance each.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::instance::LiveInstance;

pub(crate) struct Pool {
    /// Idle instances, each with the thread that last used it.
    idle: Mutex<Vec<(Caller, Box<LiveInstance>)>>,
    slots: Semaphore,
    max_instances: usize,
    max_idle: usize,
    closed: AtomicBool,
}

/// An instance lent to one call, with the slot it occupies. The slot is borrowed from the
/// pool rather than owned: an owned permit would clone and drop the semaphore's `Arc` on
/// every call, two more writes to a cache line every caller shares. The instance is boxed
/// so that lending it out and taking it back moves a pointer, not its few hundred bytes.
pub(crate) struct Lease<'a> {
    pub(crate) instance: Box<LiveInstance>,
    _slot: SemaphorePermit<'a>,
}

impl Pool {
    pub(crate) fn new(max_instances: usize, max_idle: usize) -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(max_instances.max(1)),
            max_instances: max_instances.max(1),
            max_idle,
            closed: AtomicBool::new(false),
        }
    }

    /// Waits for a free slot; `None` once the pool is closed. The slot comes with a warm
    /// instance when one is idle; otherwise the caller instantiates one and wraps it with
    /// [`Pool::lease`].
    pub(crate) async fn checkout(
        &self,
    ) -> Option<(SemaphorePermit<'_>, Option<Box<LiveInstance>>)> {
        let slot = self.slots.acquire().await.ok()?;
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let me = Caller::current();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let mine = idle.iter().rposition(|(last, _)| *last == me);
        let warm = match mine {
            Some(at) => Some(idle.swap_remove(at).1),
            None => idle.pop().map(|(_, instance)| instance),
        };
        Some((slot, warm))
    }

    pub(crate) fn lease(instance: Box<LiveInstance>, slot: SemaphorePermit<'_>) -> Lease<'_> {
        Lease {
            instance,
            _slot: slot,
        }
    }

    /// Returns a healthy instance for reuse (or drops it when enough are idle). Once the
    /// pool is closed the instance is handed back, to be shut down by the caller.
    pub(crate) fn checkin(&self, lease: Lease<'_>) -> Option<Box<LiveInstance>> {
        // Checked under the lock `close` takes, so no instance slips in after it emptied the
        // idle list.
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Ordering::Acquire) {
            return Some(lease.instance);
        }
        if idle.len() < self.max_idle {
            idle.push((Caller::current(), lease.instance));
        }
        None
    }

    /// Takes a leased instance out of the pool's care for good: it goes on holding its slot
    /// (an instance leased to resource handles), until [`Pool::release_held`].
    pub(crate) fn hold(lease: Lease<'_>) -> Box<LiveInstance> {
        lease._slot.forget();
        lease.instance
    }

    /// Frees the slot an instance taken by [`Pool::hold`] occupied (the instance is gone).
    pub(crate) fn release_held(&self) {
        if !self.closed.load(Ordering::Acquire) {
            self.slots.add_permits(1);
        }
    }

    /// Closes the pool: no further checkouts; returns the idle instances for shutdown.
    pub(crate) fn close(&self) -> Vec<LiveInstance> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Ordering::Release);
        self.slots.close();
        std::mem::take(&mut *idle)
            .into_iter()
            .map(|(_, instance)| *instance)
            .collect()
    }

    /// How many instances are idle, and `measure` summed over them.
    pub(crate) fn idle(&self, measure: impl Fn(&LiveInstance) -> usize) -> (usize, usize) {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        (idle.len(), idle.iter().map(|(_, i)| measure(i)).sum())
    }

    /// How many instances are lent to calls right now.
    pub(crate) fn in_use(&self) -> usize {
        self.max_instances - self.slots.available_permits()
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

/// The thread a call runs on, as a number: cheaper to take and compare than a `ThreadId`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Caller(u64);

impl Caller {
    fn current() -> Caller {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            static ME: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        Caller(ME.with(|me| *me))
    }
}
