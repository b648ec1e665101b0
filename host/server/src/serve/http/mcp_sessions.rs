//! The MCP HTTP endpoint's sessions (`Mcp-Session-Id`, handshake generations): capped in
//! number and expired when idle, so `initialize` in a loop cannot make the host hold
//! unbounded state. Past the cap, `initialize` is answered `503 Service Unavailable` with a
//! `Retry-After` header and a JSON-RPC error naming the cap; an expired session is unknown
//! (`404`), which the MCP transport spec tells clients to answer with a new `initialize`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many MCP HTTP sessions may be alive, and how long an unused one lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCaps {
    /// Most sessions alive at once; `initialize` past it gets 503.
    pub max_sessions: usize,
    /// A session not used (no request carrying its id) for this long is ended.
    pub idle_timeout: Duration,
}

impl Default for SessionCaps {
    fn default() -> Self {
        SessionCaps {
            max_sessions: 1024,
            idle_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// `initialize` found every session slot taken by a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full {
    pub(crate) cap: usize,
    /// When the least recently used session expires, at the latest.
    pub(crate) retry_after: Duration,
}

impl Full {
    /// The error message a client sees.
    pub(crate) fn message(&self) -> String {
        format!(
            "too many MCP sessions: the server holds its cap of {} live sessions; end one \
             (DELETE /mcp with its Mcp-Session-Id) or retry after {} s, when idle ones expire",
            self.cap,
            self.retry_after.as_secs().max(1)
        )
    }
}

/// Live sessions by id, with when each was last used.
#[derive(Default)]
pub(crate) struct SessionTable {
    caps: SessionCaps,
    last_used: Mutex<HashMap<String, Instant>>,
}

impl SessionTable {
    pub(crate) fn new(caps: SessionCaps) -> Self {
        SessionTable {
            caps,
            last_used: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.last_used.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mints a session; [`Full`] when the cap is reached even after expiring idle ones.
    pub(crate) fn open(&self) -> Result<Option<String>, Full> {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            return Ok(None);
        }
        let id = airlock::digest::hex(&bytes);
        let now = Instant::now();
        let mut sessions = self.lock();
        if sessions.len() >= self.caps.max_sessions {
            let idle = self.caps.idle_timeout;
            sessions.retain(|_, used| now.duration_since(*used) < idle);
        }
        if sessions.len() >= self.caps.max_sessions {
            let oldest = sessions.values().min().copied().unwrap_or(now);
            let retry_after = self
                .caps
                .idle_timeout
                .saturating_sub(now.duration_since(oldest));
            return Err(Full {
                cap: self.caps.max_sessions,
                retry_after,
            });
        }
        sessions.insert(id.clone(), now);
        Ok(Some(id))
    }

    /// True when `id` is a live session; using it restarts its idle time. An expired one is
    /// removed here.
    pub(crate) fn touch(&self, id: &str) -> bool {
        let now = Instant::now();
        let mut sessions = self.lock();
        match sessions.get_mut(id) {
            Some(used) if now.duration_since(*used) < self.caps.idle_timeout => {
                *used = now;
                true
            }
            Some(_) => {
                sessions.remove(id);
                false
            }
            None => false,
        }
    }

    /// Ends `id`; true when it was live.
    pub(crate) fn end(&self, id: &str) -> bool {
        let now = Instant::now();
        let used = self.lock().remove(id);
        used.is_some_and(|used| now.duration_since(used) < self.caps.idle_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_and_idle_sessions_expire() {
        let table = SessionTable::new(SessionCaps {
            max_sessions: 2,
            idle_timeout: Duration::from_millis(200),
        });
        let a = table.open().unwrap().unwrap();
        let _b = table.open().unwrap().unwrap();
        let full = table.open().unwrap_err();
        assert_eq!(full.cap, 2);
        assert!(full.message().contains("cap of 2"), "{}", full.message());
        assert!(table.touch(&a));
        assert!(table.end(&a));
        assert!(!table.touch(&a), "ended");
        let c = table.open().unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(!table.touch(&c), "expired when idle");
        table.open().unwrap().unwrap();
        table.open().unwrap().unwrap();
    }
}
