//! Handle and descriptor budgets. Every open file, directory or socket a guest holds is one
//! entry in its instance's `ResourceTable` and one host file descriptor; without a bound, a
//! few tenants holding thousands of files each exhaust the process's `RLIMIT_NOFILE`, and
//! then *other* plugins' reads and the host's own loads fail with "Too many open files".
//!
//! The bounds, from the inside out:
//! - **per instance**: [`Limits::handles`](crate::Limits::handles) caps its resource table
//!   (and the store's component-model handles);
//! - **per plugin**: instances whose grant can open descriptors (files or network) reserve
//!   their table cap from the plugin's budget, a [`PLUGIN_SHARE`] of the process budget, so
//!   one plugin — however many pooled instances it runs — cannot take the descriptors every
//!   other plugin needs. Each such instance's cap is at most an even share of that budget
//!   over the instances the plugin may have alive at once (`max_instances + max_idle`):
//!   with the soft limit at 20,000 and the default pool of 16 + 4, that is 218 handles;
//!   with a limit of 1,048,576, the full default of 1,024;
//! - **per process**: those reservations also come from the process budget, the soft
//!   `RLIMIT_NOFILE` (raised to the hard limit once at start, where allowed) minus
//!   headroom kept for the host itself (its listeners, cache files, database, logs).
//!
//! A reservation is taken when an instance is created and given back when it is dropped;
//! an instance gets what is left when a budget runs low (possibly nothing: its first handle
//! then fails). A guest that hits its table cap traps, and the call fails with
//! [`CallError::HandleLimit`](crate::CallError::HandleLimit) naming the cap and which budget
//! set it; the instance is discarded, which closes everything it held.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The fraction (1 / `PLUGIN_SHARE`) of the process budget one plugin may reserve.
pub const PLUGIN_SHARE: usize = 4;

/// Descriptors kept for the host itself: at least this many…
const MIN_HEADROOM: usize = 512;
/// …or this fraction (1 / n) of the limit, whichever is more.
const HEADROOM_SHARE: usize = 8;

/// A pool of handle slots that reservations are taken from and given back to.
#[derive(Debug)]
pub struct Budget {
    total: usize,
    free: AtomicUsize,
}

impl Budget {
    pub fn new(total: usize) -> Self {
        Budget {
            total,
            free: AtomicUsize::new(total),
        }
    }

    /// Slots in the budget.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Slots not reserved now.
    pub fn free(&self) -> usize {
        self.free.load(Ordering::Acquire)
    }

    /// Takes up to `want` slots; returns how many it got.
    fn take(&self, want: usize) -> usize {
        let mut got = 0;
        // A failed update means another reservation raced this one: retry on the new value.
        let _ = self
            .free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |free| {
                got = want.min(free);
                Some(free - got)
            });
        got
    }

    fn give(&self, n: usize) {
        self.free.fetch_add(n, Ordering::AcqRel);
    }
}

/// The process budget: the soft descriptor limit (raised first) minus the host's headroom.
pub fn process_budget() -> &'static Budget {
    static BUDGET: OnceLock<Budget> = OnceLock::new();
    BUDGET.get_or_init(|| {
        let limit = raise_descriptor_limit();
        let headroom = MIN_HEADROOM.max(limit / HEADROOM_SHARE);
        Budget::new(limit.saturating_sub(headroom))
    })
}

/// A new plugin's budget: its share of the process budget.
pub(crate) fn plugin_budget() -> Arc<Budget> {
    Arc::new(Budget::new(process_budget().total() / PLUGIN_SHARE))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (where allowed) and returns the soft
/// limit in force. Runs its system calls once per process.
pub fn raise_descriptor_limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(raise_once)
}

#[cfg(unix)]
fn raise_once() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-pointer for getrlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    // Some systems report an unlimited hard limit that setrlimit then refuses; a million
    // descriptors is far more than the budgets hand out.
    let wanted = limit.rlim_max.min(1 << 20);
    if wanted > limit.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit; failure leaves the old limit in force.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = wanted;
        } else {
            tracing::debug!("could not raise RLIMIT_NOFILE to {wanted}");
        }
    }
    usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
}

#[cfg(not(unix))]
fn raise_once() -> usize {
    // Windows has no small per-process handle limit to share out.
    1 << 16
}

/// Which bound set an instance's handle cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapSource {
    /// The per-instance limit (`Limits::handles`).
    Instance,
    /// The instance's even share of its plugin's budget (the budget over the instances the
    /// plugin may have alive at once).
    PluginShare,
    /// What was left of the plugin's budget (its instances together).
    Plugin,
    /// What was left of the process budget (all plugins together).
    Process,
}

impl CapSource {
    /// How an error message names it.
    pub fn describe(self) -> &'static str {
        match self {
            CapSource::Instance => "its per-instance handle limit",
            CapSource::PluginShare => {
                "its share of the plugin's descriptor budget (fewer pooled instances get more)"
            }
            CapSource::Plugin => "what was left of the plugin's descriptor budget",
            CapSource::Process => "what was left of the process's descriptor budget",
        }
    }
}

/// Handle slots one instance reserved; given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    plugin: Option<Arc<Budget>>,
    held: usize,
    /// The instance's table cap, and what set it.
    pub(crate) cap: usize,
    pub(crate) source: CapSource,
}

impl Reservation {
    /// An instance that can open no descriptor: its table is capped, nothing is reserved.
    pub(crate) fn unreserved(cap: usize) -> Self {
        Reservation {
            plugin: None,
            held: 0,
            cap,
            source: CapSource::Instance,
        }
    }

    /// Reserves up to `want` slots from `plugin`'s budget and the process budget.
    pub(crate) fn take(plugin: &Arc<Budget>, want: usize) -> Self {
        let from_plugin = plugin.take(want);
        let held = process_budget().take(from_plugin);
        plugin.give(from_plugin - held);
        let source = match (from_plugin < want, held < from_plugin) {
            (_, true) => CapSource::Process,
            (true, false) => CapSource::Plugin,
            (false, false) => CapSource::Instance,
        };
        Reservation {
            plugin: Some(plugin.clone()),
            held,
            cap: held,
            source,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(plugin) = &self.plugin {
            plugin.give(self.held);
            process_budget().give(self.held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_come_back_and_never_exceed_the_budgets() {
        let plugin = Arc::new(Budget::new(100));
        let a = Reservation::take(&plugin, 60);
        assert_eq!((a.cap, a.source), (60, CapSource::Instance));
        let b = Reservation::take(&plugin, 60);
        assert_eq!((b.cap, b.source), (40, CapSource::Plugin));
        let c = Reservation::take(&plugin, 60);
        assert_eq!(c.cap, 0, "the plugin's budget is spent");
        drop(a);
        assert_eq!(plugin.free(), 60);
        drop((b, c));
        assert_eq!(plugin.free(), 100);
    }

    #[test]
    fn the_process_budget_keeps_headroom_below_the_limit() {
        let limit = raise_descriptor_limit();
        let budget = process_budget().total();
        assert!(
            budget + MIN_HEADROOM.min(limit) <= limit,
            "{budget} of {limit}"
        );
    }
}
