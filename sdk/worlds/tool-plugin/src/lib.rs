//! Guest bindings for world `airlock:plugin/tool-plugin`. Shared interfaces come from
//! `airlock-sdk-world-plugin`, so one Rust type stands for one WIT type across worlds.
#![allow(clippy::all)]

wit_bindgen::generate!({
    path: "../../../wit",
    world: "airlock:plugin/tool-plugin",
    runtime_path: "airlock_sdk::__private::wit_bindgen::rt",
    pub_export_macro: true,
    export_macro_name: "export_tool_world",
    with: {
        "airlock:plugin/types@0.2.0": airlock_sdk_world_plugin::airlock::plugin::types,
        "airlock:plugin/host@0.2.0": airlock_sdk_world_plugin::airlock::plugin::host,
        "airlock:plugin/progress@0.2.0": airlock_sdk_world_plugin::airlock::plugin::progress,
    },
});

// The generated code names its runtime as `airlock_sdk::__private::wit_bindgen::rt` because
// the export macros expand in plugin crates, which depend on `airlock_sdk`. Inside this crate
// the same path has to resolve too.
extern crate self as airlock_sdk;
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}
