//! Contracts: WIT interfaces and worlds a host application defines for its plugins, checked
//! against a component before it runs.
//!
//! The operator names the WIT packages the host serves in the policy
//! (`[contracts] wit = ["contracts/"]`, files or folders, relative to the policy); a plugin
//! says which it implements in its manifest (`[plugin] contract = "pkg:name/iface@1.0.0"`,
//! one or a list, an interface or a world). At review the component must export each one
//! with the very same types: a missing interface or function, or a function whose
//! signature differs, is refused by name, with both signatures shown. Extra exports are
//! allowed (a newer component may offer more).
//!
//! Types are compared structurally, as the component model itself compares them (names of
//! records and variants are not part of a component's types; field, case and parameter
//! names are): both sides are printed as WIT text by the same rules as
//! [`crate::interface`] and the texts compared. Each printed signature is capped at
//! [`SIGNATURE_CAP`] bytes; a longer one is refused rather than compared in part.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;
use wit_parser::{Function, Handle, Resolve, Type, TypeDefKind, WorldItem, WorldKey};

/// The longest signature compared, in bytes of WIT text.
pub const SIGNATURE_CAP: usize = 64 << 10;

/// One function a contract requires: where the component must export it, and its
/// signature as WIT text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required {
    /// The exported interface holding it (`pkg:name/iface@1.0.0`), or `None` for a plain
    /// world export.
    pub interface: Option<String>,
    /// The function's name (`synthesize`, `[method]session.feed`).
    pub function: String,
    /// `func(text: string) -> list<u8>`.
    pub signature: String,
}

/// One contract: an interface (its functions) or a world (every function it exports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// `pkg:name/iface@1.0.0` or `pkg:name/world@1.0.0`.
    pub name: String,
    /// The interfaces the component must export (even one without functions).
    pub interfaces: Vec<String>,
    pub functions: Vec<Required>,
}

/// The contracts a host serves, by name. Built from WIT with [`Contracts::from_wit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contracts {
    by_name: BTreeMap<String, Contract>,
}

impl Contracts {
    /// Parses the WIT packages at `paths` (each a `.wit` file, or a folder holding a
    /// package and an optional `deps/`): every interface and world of each becomes a
    /// contract, named `namespace:package/item@version`.
    ///
    /// # Errors
    /// The WIT parser's message, naming the file and line.
    pub fn from_wit(paths: &[PathBuf]) -> Result<Contracts, String> {
        let mut resolve = Resolve::default();
        let mut packages = Vec::new();
        for path in paths {
            let (package, _) = resolve.push_path(path).map_err(|e| {
                // With the file, line and the line itself where the parser knows them.
                format!("{}: {}", path.display(), resolve.render_error(&e))
            })?;
            packages.push(package);
        }
        let mut by_name = BTreeMap::new();
        for package in packages {
            let package = &resolve.packages[package];
            for (_, &id) in &package.interfaces {
                let Some(name) = resolve.id_of(id) else {
                    continue;
                };
                let functions = interface_functions(&resolve, &name, id);
                let interfaces = vec![name.clone()];
                let contract = Contract {
                    name: name.clone(),
                    interfaces,
                    functions,
                };
                by_name.insert(name, contract);
            }
            for (world_name, &id) in &package.worlds {
                let name = qualified(&package.name, world_name);
                let (interfaces, functions) = world_exports(&resolve, id);
                let contract = Contract {
                    name: name.clone(),
                    interfaces,
                    functions,
                };
                by_name.insert(name, contract);
            }
        }
        Ok(Contracts { by_name })
    }

    /// The contract named `name`.
    pub fn get(&self, name: &str) -> Option<&Contract> {
        self.by_name.get(name)
    }

    /// Every contract's name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// What keeps `component` from implementing the contract `name`: empty when it does.
    /// An unknown contract is one problem, naming the ones the host serves.
    pub fn check(
        &self,
        name: &str,
        engine: &wasmtime::Engine,
        component: &Component,
    ) -> Vec<String> {
        match self.get(name) {
            Some(contract) => contract.check(engine, component),
            None => vec![format!(
                "this host serves no contract `{}` (it serves: {}); add its WIT package to \
                 the policy's `[contracts] wit = [...]`",
                crate::text::escape(name),
                match self.is_empty() {
                    true => "none".to_string(),
                    false => self.names().collect::<Vec<_>>().join(", "),
                }
            )],
        }
    }
}

/// Most problems one contract check lists.
const MAX_PROBLEMS: usize = 20;
/// Longest signature quoted in a problem, in bytes.
const QUOTED: usize = 512;

impl Contract {
    /// What keeps `component` from implementing this contract (at most 20 problems, each
    /// quoting a signature whole up to 512 bytes, else the stretch where it differs): empty when it does. Only the functions
    /// the contract names are looked up and printed.
    pub fn check(&self, engine: &wasmtime::Engine, component: &Component) -> Vec<String> {
        let exports = component.component_type();
        let mut problems: Vec<String> = self
            .interfaces
            .iter()
            .filter(|i| exports.get_export(engine, i).is_none())
            .map(|i| format!("the component does not export `{i}`"))
            .take(MAX_PROBLEMS)
            .collect();
        for required in &self.functions {
            if problems.len() >= MAX_PROBLEMS {
                break;
            }
            if let Some(problem) = problem(&exports, engine, required)
                && !problems.contains(&problem)
            {
                problems.push(problem);
            }
        }
        problems
    }
}

/// Why the component's `exports` do not meet `required`, if they do not.
fn problem(
    exports: &wasmtime::component::types::Component,
    engine: &wasmtime::Engine,
    required: &Required,
) -> Option<String> {
    let shown = match &required.interface {
        Some(interface) => format!("{interface}#{}", required.function),
        None => required.function.clone(),
    };
    let func = match &required.interface {
        None => match exports.get_export(engine, &required.function).map(|e| e.ty) {
            Some(ComponentItem::ComponentFunc(func)) => Some(func),
            _ => None,
        },
        Some(interface) => match exports.get_export(engine, interface).map(|e| e.ty) {
            Some(ComponentItem::ComponentInstance(instance)) => {
                match instance
                    .get_export(engine, &required.function)
                    .map(|e| e.ty)
                {
                    Some(ComponentItem::ComponentFunc(func)) => Some(func),
                    _ => None,
                }
            }
            _ => return Some(format!("the component does not export `{interface}`")),
        },
    };
    let Some(func) = func else {
        return Some(format!("the component does not export `{shown}`"));
    };
    let actual = crate::interface::signature(&func, SIGNATURE_CAP);
    if actual.ends_with('…') || required.signature.ends_with('…') {
        return Some(format!(
            "`{shown}`'s type is over {SIGNATURE_CAP} bytes of WIT text, too long to compare"
        ));
    }
    (actual != required.signature).then(|| {
        let (ours, theirs) = around_difference(&actual, &required.signature);
        format!(
            "`{shown}` has a different type: the component's is `{}`, the contract's `{}`",
            crate::text::escape(&ours),
            crate::text::escape(&theirs)
        )
    })
}

/// `a` and `b` whole when both fit in [`QUOTED`] bytes; else each cut to the stretch
/// around where they first differ, with `…` where text was left out.
fn around_difference(a: &str, b: &str) -> (String, String) {
    if a.len() <= QUOTED && b.len() <= QUOTED {
        return (a.to_string(), b.to_string());
    }
    let at = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let window = |text: &str| {
        let start = text.floor_char_boundary(at.saturating_sub(QUOTED / 4));
        let end = text.floor_char_boundary((at + QUOTED / 2).min(text.len()));
        let (head, tail) = (start > 0, end < text.len());
        format!(
            "{}{}{}",
            if head { "…" } else { "" },
            &text[start..end],
            if tail { "…" } else { "" }
        )
    };
    (window(a), window(b))
}

/// `ns:pkg/item@version`.
fn qualified(package: &wit_parser::PackageName, item: &str) -> String {
    match &package.version {
        Some(version) => format!("{}:{}/{item}@{version}", package.namespace, package.name),
        None => format!("{}:{}/{item}", package.namespace, package.name),
    }
}

fn interface_functions(
    resolve: &Resolve,
    export: &str,
    id: wit_parser::InterfaceId,
) -> Vec<Required> {
    resolve.interfaces[id]
        .functions
        .values()
        .map(|f| Required {
            interface: Some(export.to_string()),
            function: f.name.clone(),
            signature: signature(resolve, f),
        })
        .collect()
}

/// The interfaces and functions the world `id` exports.
fn world_exports(resolve: &Resolve, id: wit_parser::WorldId) -> (Vec<String>, Vec<Required>) {
    let mut interfaces = Vec::new();
    let mut functions = Vec::new();
    for (key, item) in &resolve.worlds[id].exports {
        match item {
            WorldItem::Interface { id, .. } => {
                let name = match key {
                    WorldKey::Interface(id) => resolve.id_of(*id).unwrap_or_default(),
                    WorldKey::Name(name) => name.clone(),
                };
                functions.extend(interface_functions(resolve, &name, *id));
                interfaces.push(name);
            }
            WorldItem::Function(f) => functions.push(Required {
                interface: None,
                function: f.name.clone(),
                signature: signature(resolve, f),
            }),
            WorldItem::Type { .. } => {}
        }
    }
    (interfaces, functions)
}

/// A contract function's signature, printed as [`crate::interface`] prints a component's.
fn signature(resolve: &Resolve, function: &Function) -> String {
    let mut text = Text {
        resolve,
        out: String::new(),
    };
    text.func(function);
    if text.out.len() > SIGNATURE_CAP {
        text.out
            .truncate(text.out.floor_char_boundary(SIGNATURE_CAP));
        text.out.push('…');
    }
    text.out
}

struct Text<'a> {
    resolve: &'a Resolve,
    out: String,
}

impl Text<'_> {
    fn push(&mut self, s: &str) {
        // Past the cap nothing is compared (see `signature`): stop growing.
        if self.out.len() <= SIGNATURE_CAP {
            self.out.push_str(s);
        }
    }

    fn func(&mut self, f: &Function) {
        let is_async = matches!(
            f.kind,
            wit_parser::FunctionKind::AsyncFreestanding
                | wit_parser::FunctionKind::AsyncMethod(_)
                | wit_parser::FunctionKind::AsyncStatic(_)
        );
        self.push(if is_async { "async func(" } else { "func(" });
        for (i, param) in f.params.iter().enumerate() {
            self.push(if i == 0 { "" } else { ", " });
            self.push(&param.name);
            self.push(": ");
            self.ty(&param.ty);
        }
        self.push(")");
        if let Some(result) = &f.result {
            self.push(" -> ");
            self.ty(result);
        }
    }

    fn list<T>(&mut self, open: &str, items: &[T], close: &str, each: impl Fn(&mut Self, &T)) {
        self.push(open);
        for (i, item) in items.iter().enumerate() {
            self.push(if i == 0 { "" } else { ", " });
            each(self, item);
        }
        self.push(close);
    }

    fn ty(&mut self, ty: &Type) {
        let name = match ty {
            Type::Bool => "bool",
            Type::U8 => "u8",
            Type::U16 => "u16",
            Type::U32 => "u32",
            Type::U64 => "u64",
            Type::S8 => "s8",
            Type::S16 => "s16",
            Type::S32 => "s32",
            Type::S64 => "s64",
            Type::F32 => "f32",
            Type::F64 => "f64",
            Type::Char => "char",
            Type::String => "string",
            Type::ErrorContext => "error-context",
            Type::Id(id) => return self.def(&self.resolve.types[*id].kind),
        };
        self.push(name);
    }

    fn def(&mut self, kind: &TypeDefKind) {
        if self.out.len() > SIGNATURE_CAP {
            return;
        }
        match kind {
            TypeDefKind::Type(ty) => self.ty(ty),
            TypeDefKind::Record(r) => self.list("record { ", &r.fields, " }", |p, field| {
                p.push(&field.name);
                p.push(": ");
                p.ty(&field.ty);
            }),
            TypeDefKind::Variant(v) => self.list("variant { ", &v.cases, " }", |p, case| {
                p.push(&case.name);
                if let Some(ty) = &case.ty {
                    p.push("(");
                    p.ty(ty);
                    p.push(")");
                }
            }),
            TypeDefKind::Enum(e) => self.list("enum { ", &e.cases, " }", |p, c| p.push(&c.name)),
            TypeDefKind::Flags(f) => self.list("flags { ", &f.flags, " }", |p, f| p.push(&f.name)),
            TypeDefKind::Tuple(t) => self.list("tuple<", &t.types, ">", |p, t| p.ty(t)),
            TypeDefKind::Option(t) => {
                self.list("option<", std::slice::from_ref(t), ">", |p, t| p.ty(t))
            }
            TypeDefKind::List(t) => {
                self.list("list<", std::slice::from_ref(t), ">", |p, t| p.ty(t))
            }
            TypeDefKind::Map(k, v) => self.list("map<", &[*k, *v], ">", |p, t| p.ty(t)),
            TypeDefKind::FixedLengthList(t, n) => {
                self.push("list<");
                self.ty(t);
                self.push(&format!(", {n}>"));
            }
            TypeDefKind::Result(r) => match (&r.ok, &r.err) {
                (None, None) => self.push("result"),
                (ok, err) => {
                    self.push("result<");
                    match ok {
                        Some(ok) => self.ty(ok),
                        None => self.push("_"),
                    }
                    if let Some(err) = err {
                        self.push(", ");
                        self.ty(err);
                    }
                    self.push(">");
                }
            },
            TypeDefKind::Handle(Handle::Own(_)) => self.push("own<resource>"),
            TypeDefKind::Handle(Handle::Borrow(_)) => self.push("borrow<resource>"),
            // A bare `r` (or an unnamed `own<r>`) in a signature is the resource itself,
            // which the component model types as `own<r>`.
            TypeDefKind::Resource => self.push("own<resource>"),
            TypeDefKind::Future(t) => self.optional("future", t),
            TypeDefKind::Stream(t) => self.optional("stream", t),
            TypeDefKind::Unknown => self.push("unknown"),
        }
    }

    fn optional(&mut self, name: &str, ty: &Option<Type>) {
        self.push(name);
        if let Some(ty) = ty {
            self.push("<");
            self.ty(ty);
            self.push(">");
        }
    }
}

/// Reads the contracts of a policy's `[contracts] wit` list, relative to `base`.
pub(crate) fn load(base: &Path, wit: &[PathBuf]) -> Result<Contracts, String> {
    let paths: Vec<PathBuf> = wit.iter().map(|p| base.join(p)).collect();
    Contracts::from_wit(&paths)
}
