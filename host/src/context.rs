//! Session context: JSON values by key, scoped by tenant and session, shared by the plugins
//! (through the `airlock:plugin/context` import) and the host application (through
//! [`Sessions`]). Each session expires after its time-to-live, restarted on every write;
//! values, keys, ids, session sizes and the number of sessions are capped so no plugin or
//! caller can make the host hold unbounded data. Reads never create a session: one exists
//! from its first write until it expires or its last key is deleted.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Caps and lifetime of session contexts. Tenant and session ids come from callers, keys
/// and values from plugins: every one of them is bounded here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLimits {
    /// How long a session lives after its last write.
    pub ttl: Duration,
    /// Largest value (JSON text), in bytes.
    pub max_value_bytes: usize,
    /// Most bytes of keys and values one session holds.
    pub max_session_bytes: usize,
    /// Most keys one session holds.
    pub max_keys: usize,
    /// Longest tenant or session id, in bytes. A longer id has no context: reads see
    /// nothing and writes fail.
    pub max_id_bytes: usize,
    /// Most sessions alive at once, all tenants together.
    pub max_sessions: usize,
    /// Most bytes of keys and values all sessions together hold.
    pub max_total_bytes: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            ttl: Duration::from_secs(3600),
            max_value_bytes: 64 << 10,
            max_session_bytes: 1 << 20,
            max_keys: 1000,
            max_id_bytes: 256,
            max_sessions: 10_000,
            max_total_bytes: 256 << 20,
        }
    }
}

/// Longest key, in bytes.
const MAX_KEY_BYTES: usize = 256;

/// Expired sessions are swept at most this often (a sweep walks every session).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Which session a call belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub tenant: String,
    pub session: String,
}

/// One session's values. Created by its first write, removed when it expires or its last
/// key is deleted: reads never create one.
struct Session {
    values: BTreeMap<String, String>,
    bytes: usize,
    expires: Instant,
}

struct Table {
    sessions: HashMap<Scope, Session>,
    /// Bytes of keys and values across all sessions.
    bytes: usize,
    last_sweep: Instant,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            sessions: HashMap::new(),
            bytes: 0,
            last_sweep: Instant::now(),
        }
    }
}

impl Table {
    /// Drops expired sessions (at most once per [`SWEEP_EVERY`]).
    fn sweep(&mut self, now: Instant) {
        if now.duration_since(self.last_sweep) < SWEEP_EVERY {
            return;
        }
        self.last_sweep = now;
        let mut freed = 0;
        self.sessions.retain(|_, s| {
            let live = s.expires > now;
            freed += if live { 0 } else { s.bytes };
            live
        });
        self.bytes -= freed;
    }

    /// The live session at `scope`, if any (an expired one is dropped here).
    fn live(&mut self, scope: &Scope, now: Instant) -> Option<&mut Session> {
        if self.sessions.get(scope).is_some_and(|s| s.expires <= now) {
            let gone = self.sessions.remove(scope).map_or(0, |s| s.bytes);
            self.bytes -= gone;
        }
        self.sessions.get_mut(scope)
    }
}

/// Every session context of a runtime. Cheap to clone; clones share the data.
#[derive(Clone, Default)]
pub struct Sessions {
    limits: SessionLimits,
    inner: Arc<Mutex<Table>>,
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Self {
        Sessions {
            limits,
            inner: Arc::default(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        let mut table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        table.sweep(Instant::now());
        table
    }

    /// Reads the live session at `scope` without creating one; `None` for no session.
    fn read<R>(&self, scope: &Scope, f: impl FnOnce(&Session) -> R) -> Option<R> {
        if self.id_problem(scope).is_some() {
            return None;
        }
        let mut table = self.table();
        let session = table.live(scope, Instant::now())?;
        Some(f(session))
    }

    /// Why ids this long have no context, if they are too long.
    fn id_problem(&self, scope: &Scope) -> Option<String> {
        let cap = self.limits.max_id_bytes;
        [("tenant", &scope.tenant), ("session", &scope.session)]
            .into_iter()
            .find(|(_, id)| id.len() > cap)
            .map(|(what, id)| {
                format!(
                    "the {what} id is {} bytes, over the {cap}-byte cap",
                    id.len()
                )
            })
    }

    /// How many sessions are alive (not yet expired), all tenants together.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        let table = self.table();
        table.sessions.values().filter(|s| s.expires > now).count()
    }

    /// True when no session is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value under `key` in `tenant`'s `session`.
    pub fn get(&self, tenant: &str, session: &str, key: &str) -> Option<Value> {
        self.get_text(&scope(tenant, session), key)
            .and_then(|t| serde_json::from_str(&t).ok())
    }

    /// Stores `value` under `key`; fails with the reason when a cap would be exceeded.
    pub fn set(&self, tenant: &str, session: &str, key: &str, value: &Value) -> Result<(), String> {
        self.set_text(&scope(tenant, session), key, value.to_string())
    }

    /// Removes `key`; true when it existed.
    pub fn delete(&self, tenant: &str, session: &str, key: &str) -> bool {
        self.delete_key(&scope(tenant, session), key)
    }

    /// The session's keys, sorted.
    pub fn keys(&self, tenant: &str, session: &str) -> Vec<String> {
        self.keys_of(&scope(tenant, session))
    }

    pub(crate) fn get_text(&self, scope: &Scope, key: &str) -> Option<String> {
        self.read(scope, |s| s.values.get(key).cloned()).flatten()
    }

    /// Checks what a write brings before taking the lock.
    fn check_write(&self, scope: &Scope, key: &str, value: &str) -> Result<(), String> {
        let limits = &self.limits;
        if scope.session.is_empty() {
            return Err("this call has no session: there is no context to write".into());
        }
        if let Some(problem) = self.id_problem(scope) {
            return Err(format!("{problem}: there is no context to write"));
        }
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(format!("a key must be 1 to {MAX_KEY_BYTES} bytes"));
        }
        if value.len() > limits.max_value_bytes {
            return Err(format!(
                "value of {} bytes is over the {}-byte cap",
                value.len(),
                limits.max_value_bytes
            ));
        }
        serde_json::from_str::<Value>(value).map_err(|e| format!("value is not JSON: {e}"))?;
        Ok(())
    }

    pub(crate) fn set_text(&self, scope: &Scope, key: &str, value: String) -> Result<(), String> {
        self.check_write(scope, key, &value)?;
        let limits = &self.limits;
        let now = Instant::now();
        let mut guard = self.table();
        let table = &mut *guard;
        let exists = table.live(scope, now).is_some();
        if !exists && table.sessions.len() >= limits.max_sessions {
            return Err(format!(
                "the runtime already holds its cap of {} sessions",
                limits.max_sessions
            ));
        }
        let session = table.sessions.entry(scope.clone()).or_insert(Session {
            values: BTreeMap::new(),
            bytes: 0,
            expires: now + limits.ttl,
        });
        let old = session.values.get(key).map_or(0, |v| key.len() + v.len());
        let bytes = session.bytes - old + key.len() + value.len();
        let total = table.bytes - old + key.len() + value.len();
        let refusal = if bytes > limits.max_session_bytes {
            Some(format!(
                "the session would hold {bytes} bytes, over its {}-byte cap",
                limits.max_session_bytes
            ))
        } else if old == 0 && session.values.len() >= limits.max_keys {
            Some(format!(
                "the session already holds its cap of {} keys",
                limits.max_keys
            ))
        } else if total > limits.max_total_bytes {
            Some(format!(
                "all sessions would hold {total} bytes, over the runtime's {}-byte cap",
                limits.max_total_bytes
            ))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            if session.values.is_empty() {
                table.sessions.remove(scope);
            }
            return Err(refusal);
        }
        session.values.insert(key.to_string(), value);
        session.bytes = bytes;
        session.expires = now + limits.ttl;
        table.bytes = total;
        Ok(())
    }

    pub(crate) fn delete_key(&self, scope: &Scope, key: &str) -> bool {
        if self.id_problem(scope).is_some() {
            return false;
        }
        let mut guard = self.table();
        let table = &mut *guard;
        let Some(session) = table.live(scope, Instant::now()) else {
            return false;
        };
        let Some(value) = session.values.remove(key) else {
            return false;
        };
        let freed = key.len() + value.len();
        session.bytes -= freed;
        let emptied = session.values.is_empty();
        table.bytes -= freed;
        if emptied {
            table.sessions.remove(scope);
        }
        true
    }

    pub(crate) fn keys_of(&self, scope: &Scope) -> Vec<String> {
        self.read(scope, |s| s.values.keys().cloned().collect())
            .unwrap_or_default()
    }
}

fn scope(tenant: &str, session: &str) -> Scope {
    Scope {
        tenant: tenant.to_string(),
        session: session.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scoped_capped_and_expiring() {
        let limits = SessionLimits {
            ttl: Duration::from_millis(500),
            max_value_bytes: 100,
            max_session_bytes: 200,
            max_keys: 2,
            ..SessionLimits::default()
        };
        let sessions = Sessions::new(limits);
        sessions.set("a", "s1", "k", &json!({"x": 1})).unwrap();
        assert_eq!(sessions.get("a", "s1", "k"), Some(json!({"x": 1})));
        assert_eq!(sessions.get("a", "s2", "k"), None, "another session");
        assert_eq!(sessions.get("b", "s1", "k"), None, "another tenant");
        assert!(
            sessions
                .set("a", "s1", "big", &json!("x".repeat(200)))
                .is_err()
        );
        sessions.set("a", "s1", "k2", &json!(2)).unwrap();
        assert!(
            sessions
                .set("a", "s1", "k3", &json!(3))
                .unwrap_err()
                .contains("cap of 2 keys")
        );
        assert!(
            sessions.set("a", "", "k", &json!(1)).is_err(),
            "no session, no writes"
        );
        assert!(sessions.delete("a", "s1", "k2"));
        assert_eq!(sessions.keys("a", "s1"), ["k"]);
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(sessions.get("a", "s1", "k"), None, "expired");
    }

    #[test]
    fn reads_create_nothing_and_every_session_is_bounded() {
        let limits = SessionLimits {
            max_sessions: 2,
            max_id_bytes: 8,
            max_total_bytes: 20,
            ..SessionLimits::default()
        };
        let sessions = Sessions::new(limits);
        for n in 0..100 {
            assert_eq!(sessions.get("a", &format!("s{n}"), "k"), None);
            assert!(sessions.keys("a", &format!("s{n}")).is_empty());
            assert!(!sessions.delete("a", &format!("s{n}"), "k"));
        }
        assert!(sessions.is_empty(), "reads created sessions");
        let long = "x".repeat(9);
        assert!(
            sessions
                .set("a", &long, "k", &json!(1))
                .unwrap_err()
                .contains("8-byte cap")
        );
        assert!(sessions.set(&long, "s", "k", &json!(1)).is_err());
        sessions.set("a", "s1", "k", &json!(1)).unwrap();
        sessions.set("a", "s2", "k", &json!(1)).unwrap();
        assert!(
            sessions
                .set("a", "s3", "k", &json!(1))
                .unwrap_err()
                .contains("cap of 2 sessions")
        );
        assert!(
            sessions
                .set("a", "s1", "big", &json!("x".repeat(20)))
                .unwrap_err()
                .contains("runtime's")
        );
        assert!(sessions.delete("a", "s2", "k"));
        assert_eq!(sessions.len(), 1, "deleting the last key ends the session");
        sessions.set("a", "s3", "k", &json!(1)).unwrap();
    }
}
