//! The generated bindings of the three Airlock worlds, one crate each (see
//! `sdk/worlds/plugin/src/lib.rs` for why). Authors never touch these: the SDK's `export_*`
//! macros wire a [`crate::Plugin`] into them.

pub use airlock_sdk_world_hook_plugin as hook_world;
pub use airlock_sdk_world_plugin as plugin_world;
pub use airlock_sdk_world_tool_plugin as tool_world;
