//! Guest bindings for world `airlock:plugin/plugin` (lifecycle + tools + hooks), plus the
//! shared `types`, `host` and `progress` interfaces that the other two worlds reuse.
//!
//! Each world lives in its own crate because wit-bindgen names its exported helper macros
//! after the interface (`lifecycle`, `tools`, …): three worlds in one crate would collide.
#![allow(clippy::all)]

wit_bindgen::generate!({
    path: "../../../wit",
    world: "airlock:plugin/plugin",
    runtime_path: "airlock_sdk::__private::wit_bindgen::rt",
    pub_export_macro: true,
    export_macro_name: "export_plugin_world",
});

// The generated code names its runtime as `airlock_sdk::__private::wit_bindgen::rt` because
// the export macros expand in plugin crates, which depend on `airlock_sdk`. Inside this crate
// the same path has to resolve too.
extern crate self as airlock_sdk;
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}
