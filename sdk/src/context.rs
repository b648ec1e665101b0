//! [`CallContext`]: who a call is made for, and the session context it may share.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::plugin_world::airlock::plugin::context as wit;

/// Who a call is made for, as set by the host. Read-only for the plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    /// Tenant the call belongs to.
    pub tenant: String,
    /// Agent session the call belongs to; empty when none.
    pub session_id: String,
    /// Unique id of this call, for log correlation.
    pub call_id: String,
}

/// The current call's session context: values shared by every plugin and the host working
/// on the same session, scoped to this call's tenant and session by the host.
pub mod session {
    use super::*;

    /// The value under `key`, deserialised; `None` when absent or of another shape.
    pub fn get<T: DeserializeOwned>(key: &str) -> Option<T> {
        wit::get(key).and_then(|text| serde_json::from_str(&text).ok())
    }

    /// Stores `value` under `key`. Fails when there is no session or a cap is exceeded.
    pub fn set<T: Serialize>(key: &str, value: &T) -> Result<(), String> {
        let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
        wit::set(key, &text)
    }

    /// Removes `key`; true when it existed.
    pub fn delete(key: &str) -> bool {
        wit::delete(key)
    }

    /// Every key of the session, sorted.
    pub fn keys() -> Vec<String> {
        wit::keys()
    }
}
