//! What a component is before it is a plugin: the binary checks made before compiling
//! (so a wrong file gets a precise error), compiling it (or loading it from the
//! [`ArtifactCache`]), and the detection of which Airlock world it implements, from its
//! exports.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use crate::LoadError;
use crate::cache::{ArtifactCache, Key};
use crate::capabilities::audit::{ImportUse, audit, refuse_unknown};
use crate::digest::Sha256;

use crate::bindings::Version;

/// What the export names of Airlock's interfaces start with (`lifecycle`, `tools`, `hooks`,
/// then `@` and the contract version).
const AIRLOCK_EXPORT: &str = "airlock:plugin/";

/// Which Airlock world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// lifecycle + tools
    ToolPlugin,
    /// lifecycle + hooks
    HookPlugin,
    /// lifecycle + tools + hooks
    Plugin,
    /// A world of the host application's own ([`crate::contract`]): the manifest names the
    /// contracts it implements, and its JSON-convertible exports are its tools.
    Custom,
}

impl World {
    /// Whether it has tools (a custom world's are its exports).
    pub fn has_tools(self) -> bool {
        matches!(self, World::ToolPlugin | World::Plugin | World::Custom)
    }

    /// Whether every component of this world exports Airlock's `lifecycle` interface
    /// (metadata, init, health, state); a custom world's component may too
    /// ([`crate::folder::Review::lifecycle`] says whether one does).
    pub fn has_lifecycle(self) -> bool {
        self != World::Custom
    }

    pub fn has_hooks(self) -> bool {
        matches!(self, World::HookPlugin | World::Plugin)
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            World::ToolPlugin => "tool-plugin",
            World::HookPlugin => "hook-plugin",
            World::Plugin => "plugin",
            World::Custom => "custom",
        })
    }
}

/// The kind of binary the first eight bytes announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinaryKind {
    CoreModule,
    Component,
}

/// Checks the preamble: `\0asm`, then a version/layer word. Core modules are version 1,
/// layer 0; components carry layer 1 in the upper half.
fn binary_kind(bytes: &[u8], what: &str) -> Result<BinaryKind, LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm {
            what: what.to_string(),
        });
    }
    let layer = u16::from_le_bytes([bytes[6], bytes[7]]);
    match layer {
        0 => Ok(BinaryKind::CoreModule),
        1 => Ok(BinaryKind::Component),
        other => Err(LoadError::Invalid {
            what: what.to_string(),
            reason: format!("unknown binary layer {other} in the header"),
        }),
    }
}

/// Component bytes to compile: `digest` is their SHA-256 when the caller computed it
/// already (never recomputed then); `what` names them in errors.
pub(crate) struct Source<'a> {
    pub bytes: &'a [u8],
    pub digest: Option<Sha256>,
    pub what: &'a str,
}

/// Compiles `bytes` as a component, or loads the artifact `cache` holds for exactly these
/// bytes and this engine (a hit compiles nothing). A fresh compilation is stored in the
/// cache unless `abandoned` was set meanwhile: the caller gave up waiting (compile budget),
/// and what ran over its budget is not kept. Blocking: run it off the async workers.
pub(crate) fn compile_cached(
    engine: &Engine,
    cache: Option<&ArtifactCache>,
    source: Source<'_>,
    abandoned: &AtomicBool,
) -> Result<Component, LoadError> {
    let Source {
        bytes,
        digest,
        what,
    } = source;
    // The cheap checks first: a wrong file gets its precise error, and never a cache lookup.
    check_component(bytes, what)?;
    let Some(cache) = cache else {
        return compile(engine, bytes, what);
    };
    let digest = digest.unwrap_or_else(|| Sha256::of(bytes));
    let key = Key::of(engine, &digest);
    if let Some(component) = cache.load(engine, &key) {
        return Ok(component);
    }
    compile_missed(engine, cache, &key, bytes, what, abandoned)
}

/// After a cache miss for `key`: compiles `bytes` (checked first) and stores the artifact
/// unless `abandoned` was set meanwhile.
pub(crate) fn compile_missed(
    engine: &Engine,
    cache: &ArtifactCache,
    key: &Key,
    bytes: &[u8],
    what: &str,
    abandoned: &AtomicBool,
) -> Result<Component, LoadError> {
    check_component(bytes, what)?;
    let component = compile(engine, bytes, what)?;
    if !abandoned.load(Ordering::Relaxed) {
        cache.store(key, &component);
    }
    Ok(component)
}

/// Refuses anything that is not a component with a precise error.
fn check_component(bytes: &[u8], what: &str) -> Result<(), LoadError> {
    match binary_kind(bytes, what)? {
        BinaryKind::CoreModule => Err(LoadError::CoreModule {
            what: what.to_string(),
        }),
        BinaryKind::Component => Ok(()),
    }
}

/// Compiles `bytes` (already through [`check_component`]) as a component.
fn compile(engine: &Engine, bytes: &[u8], what: &str) -> Result<Component, LoadError> {
    Component::new(engine, bytes).map_err(|e| LoadError::Invalid {
        what: what.to_string(),
        reason: format!("{e:#}"),
    })
}

/// Names of the component's exported instances and functions.
pub fn export_names(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Names of the component's imports, with whether each is an instance (interface).
pub fn import_names(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, item)| match item.ty {
            ComponentItem::ComponentInstance(_) => name.to_string(),
            _ => format!("{name} (not an interface)"),
        })
        .collect()
}

/// A compiled component that passed the import audit and implements an Airlock world:
/// what a plugin starts from. Made once per load, by [`inspect`].
pub(crate) struct Inspected {
    pub(crate) component: Component,
    pub(crate) world: World,
    /// The `airlock:plugin` version of an Airlock world's exports, or of the `lifecycle` a
    /// custom world exports (the latest for a custom world without one).
    pub(crate) version: Version,
    /// Whether it exports Airlock's `lifecycle` (every Airlock world; a custom world may,
    /// [`custom_lifecycle`]): `init`, `health` and state across a swap are called.
    pub(crate) lifecycle: bool,
    pub(crate) exports: Vec<String>,
    pub(crate) imports: Vec<String>,
}

/// Audits `component`'s imports (each must map to a capability) and detects its world from
/// its exports (a component whose manifest declares `contracts` may be of a custom world).
/// Returns the import audit's rows either way (a reviewer sees them even for a refused
/// component) and the component, or every reason it is refused.
pub(crate) fn inspect(
    engine: &Engine,
    component: Component,
    what: &str,
    contracts: bool,
) -> (Vec<ImportUse>, Result<Inspected, Vec<LoadError>>) {
    let imports = import_names(engine, &component);
    let exports = export_names(engine, &component);
    let uses = audit(&imports);
    let covered = refuse_unknown(what, &uses);
    let world = match detect_world(&exports, what) {
        Err(_) if contracts => custom_lifecycle(&exports, what).map(|lifecycle| {
            (
                World::Custom,
                lifecycle.unwrap_or(Version::V0_2),
                lifecycle.is_some(),
            )
        }),
        world => world.map(|(world, version)| (world, version, true)),
    };
    let inspected = match (covered, world) {
        (Ok(()), Ok((world, version, lifecycle))) => Ok(Inspected {
            component,
            world,
            version,
            lifecycle,
            exports,
            imports,
        }),
        (covered, world) => Err(covered.err().into_iter().chain(world.err()).collect()),
    };
    (uses, inspected)
}

/// The `airlock:plugin` package (`airlock:plugin@0.1.0`, …) whose world a component with
/// these export names ([`export_names`]) implements; `None` for any other world.
pub fn airlock_package(exports: &[String]) -> Option<&'static str> {
    detect_world(exports, "")
        .ok()
        .map(|(_, version)| version.package())
}

/// The `airlock:plugin` version of the `lifecycle` a custom-world component exports beside
/// its contracts, if it exports one: such a component gets `init` with its configuration,
/// `health`, and its state carried across a swap, like Airlock's own worlds (App Factory's
/// plugins have a lifecycle and their own contract). Any other Airlock export (`tools`,
/// `hooks`, a second `lifecycle`, a `lifecycle` of a version this host does not serve)
/// would be neither called nor offered, so it is refused
/// ([`LoadError::AirlockExportsBesideContract`]) rather than silently ignored.
pub(crate) fn custom_lifecycle(
    exports: &[String],
    what: &str,
) -> Result<Option<Version>, LoadError> {
    let airlock: Vec<&String> = exports.iter().filter(|e| is_airlock_export(e)).collect();
    let lifecycle = |e: &str| {
        e.strip_prefix(AIRLOCK_EXPORT)
            .is_some_and(|rest| rest.split('@').next() == Some("lifecycle"))
    };
    match airlock.as_slice() {
        [] => Ok(None),
        [only] if lifecycle(only) && Version::of_export(only).is_some() => {
            Ok(Version::of_export(only))
        }
        _ => Err(LoadError::AirlockExportsBesideContract {
            what: what.to_string(),
            found: airlock
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Whether `export` (an export name, [`export_names`]) is one of Airlock's own interfaces
/// (`airlock:plugin/…`): never one of a custom world's tools.
pub(crate) fn is_airlock_export(export: &str) -> bool {
    export.starts_with(AIRLOCK_EXPORT)
}

/// Detects the world and the `airlock:plugin` version from the export names
/// ([`export_names`]). Anything without `lifecycle` plus tools or hooks, all of one version
/// this host serves ([`crate::bindings::VERSIONS`]), is refused, listing what the component
/// does export.
pub(crate) fn detect_world(exports: &[String], what: &str) -> Result<(World, Version), LoadError> {
    let airlock: Vec<(&str, Option<Version>)> = exports
        .iter()
        .filter_map(|e| {
            let interface = e.strip_prefix(AIRLOCK_EXPORT)?.split('@').next()?;
            Some((interface, Version::of_export(e)))
        })
        .collect();
    let version = airlock.first().and_then(|(_, v)| *v);
    let has = |name: &str| airlock.iter().any(|(i, _)| *i == name);
    let one_version = airlock.iter().all(|(_, v)| *v == version);
    let world = match (has("lifecycle"), has("tools"), has("hooks")) {
        (true, true, true) => Some(World::Plugin),
        (true, true, false) => Some(World::ToolPlugin),
        (true, false, true) => Some(World::HookPlugin),
        _ => None,
    };
    match (world, version) {
        (Some(world), Some(version)) if one_version => Ok((world, version)),
        _ => Err(LoadError::WrongWorld {
            what: what.to_string(),
            found: if exports.is_empty() {
                "nothing".into()
            } else {
                exports.join(", ")
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_custom_world_may_export_one_lifecycle_of_a_served_version_and_nothing_else_of_airlocks() {
        let contract = "appfactory:contracts/tts@0.1.0";
        let lifecycle = |version| format!("airlock:plugin/lifecycle@{version}");
        let ok = |names: &[&str]| custom_lifecycle(&exports(names), "x").unwrap();
        assert_eq!(ok(&[contract]), None);
        assert_eq!(ok(&[contract, &lifecycle("0.2.0")]), Some(Version::V0_2));
        assert_eq!(ok(&[&lifecycle("0.1.0"), contract]), Some(Version::V0_1));
        let refused = |names: &[&str]| {
            let error = custom_lifecycle(&exports(names), "x").unwrap_err();
            assert!(
                matches!(error, LoadError::AirlockExportsBesideContract { .. }),
                "{error}"
            );
            error.to_string()
        };
        assert!(refused(&[contract, &lifecycle("0.3.0")]).contains("lifecycle@0.3.0"));
        let tools = refused(&[contract, &lifecycle("0.2.0"), "airlock:plugin/tools@0.2.0"]);
        assert!(tools.contains("airlock:plugin/tools@0.2.0"), "{tools}");
        refused(&[contract, &lifecycle("0.2.0"), &lifecycle("0.1.0")]);
        refused(&[contract, "airlock:plugin/hooks@0.2.0"]);
    }
}
