//! Session context: JSON values by key, scoped by tenant and session, shared by the plugins
//! (through the `airlock:plugin/context` import) and the host application (through
//! [`Sessions`]). Each session expires after its time-to-live, restarted on every write;
//! values, keys and session sizes are capped so no plugin can make the host hold unbounded
//! data.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Caps and lifetime of session contexts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLimits {
    pub ttl: Duration,
    pub max_value_bytes: usize,
    pub max_session_bytes: usize,
    pub max_keys: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            ttl: Duration::from_secs(3600),
            max_value_bytes: 64 << 10,
            max_session_bytes: 1 << 20,
            max_keys: 1000,
        }
    }
}

/// Which session a call belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub tenant: String,
    pub session: String,
}

#[derive(Default)]
struct Session {
    values: BTreeMap<String, String>,
    bytes: usize,
    expires: Option<Instant>,
}

/// Every session context of a runtime. Cheap to clone; clones share the data.
#[derive(Clone, Default)]
pub struct Sessions {
    limits: SessionLimits,
    inner: Arc<Mutex<HashMap<Scope, Session>>>,
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Self {
        Sessions {
            limits,
            inner: Arc::default(),
        }
    }

    fn with<R>(&self, scope: &Scope, f: impl FnOnce(&mut Session) -> R) -> R {
        let mut sessions = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires.is_none_or(|at| at > now));
        f(sessions.entry(scope.clone()).or_default())
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
        self.with(scope, |s| s.values.get(key).cloned())
    }

    pub(crate) fn set_text(&self, scope: &Scope, key: &str, value: String) -> Result<(), String> {
        let limits = &self.limits;
        if scope.session.is_empty() {
            return Err("this call has no session: there is no context to write".into());
        }
        if key.is_empty() || key.len() > 256 {
            return Err("a key must be 1 to 256 bytes".into());
        }
        if value.len() > limits.max_value_bytes {
            return Err(format!(
                "value of {} bytes is over the {}-byte cap",
                value.len(),
                limits.max_value_bytes
            ));
        }
        serde_json::from_str::<Value>(&value).map_err(|e| format!("value is not JSON: {e}"))?;
        self.with(scope, |s| {
            let old = s.values.get(key).map_or(0, |v| key.len() + v.len());
            let bytes = s.bytes - old + key.len() + value.len();
            if bytes > limits.max_session_bytes {
                return Err(format!(
                    "the session would hold {bytes} bytes, over its {}-byte cap",
                    limits.max_session_bytes
                ));
            }
            if old == 0 && s.values.len() >= limits.max_keys {
                return Err(format!(
                    "the session already holds its cap of {} keys",
                    limits.max_keys
                ));
            }
            s.values.insert(key.to_string(), value);
            s.bytes = bytes;
            s.expires = Some(Instant::now() + limits.ttl);
            Ok(())
        })
    }

    pub(crate) fn delete_key(&self, scope: &Scope, key: &str) -> bool {
        self.with(scope, |s| match s.values.remove(key) {
            Some(v) => {
                s.bytes -= key.len() + v.len();
                true
            }
            None => false,
        })
    }

    pub(crate) fn keys_of(&self, scope: &Scope) -> Vec<String> {
        self.with(scope, |s| s.values.keys().cloned().collect())
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
}
