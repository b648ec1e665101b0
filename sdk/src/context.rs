//! [`CallContext`]: who a call is made for.

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
