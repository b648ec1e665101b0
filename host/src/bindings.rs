//! Host-side bindings generated from `wit/plugin.wit`. The `plugin` world is the union of
//! the three worlds, so its per-interface export indices serve all of them: a component
//! gets only the indices for the interfaces it really exports.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "airlock:plugin/plugin",
    imports: { default: async },
    exports: { default: async },
});

pub use self::airlock::plugin::types as wit;
pub use self::exports::airlock::plugin::{hooks, lifecycle, tools};
