//! What any component imports and exports, with the WIT types of its functions printed as
//! WIT text (`func(text: string) -> result<u32, string>`): the reviewer's view of a component
//! that is not (or not yet) an Airlock plugin. Nothing is instantiated and no guest code
//! runs; only the compiled component's type information is read.
//!
//! The runtime keeps the types' structure, not the names a WIT file gave them, so records,
//! variants, enums and flags are printed in place (`record { code: u32, message: string }`)
//! and resources by the name they are exported under where there is one. A hostile component
//! can nest types so that their printed form grows exponentially: each item's text is cut at
//! [`TYPE_TEXT_CAP`] bytes, ending in `…`.

use std::path::Path;

use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};

use crate::{LoadError, Runtime};

/// The longest printed type of one item, in bytes; longer text ends in `…`.
pub const TYPE_TEXT_CAP: usize = 4 << 10;

/// One import or export: its name, its kind and type as WIT text, and, for an interface
/// (an instance), the items it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// The import or export name, e.g. `wasi:cli/stdout@0.2.6` or `run`.
    pub name: String,
    /// `interface`, `func(…) -> …`, `type …`, `resource`, `component`, `core module`,
    /// `core func`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The functions, types and resources of an interface; empty for anything else.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
}

/// A component's imports and exports, in the order the component declares them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interface {
    pub imports: Vec<Item>,
    pub exports: Vec<Item>,
}

/// Reads, checks and compiles the component at `path` with `runtime`'s engine (through its
/// artifact cache) and describes its imports and exports. Works for any valid component,
/// whatever world it implements.
///
/// # Errors
/// [`LoadError::Read`] for an unreadable file, [`LoadError::NotWasm`],
/// [`LoadError::CoreModule`] or [`LoadError::Invalid`] for bytes that are not a valid
/// component; [`LoadError::CompileTimeout`] past the runtime's compile budget.
pub async fn describe_file(
    runtime: &Runtime,
    path: impl AsRef<Path>,
) -> Result<Interface, LoadError> {
    let path = path.as_ref();
    let what = path.display().to_string();
    let file = crate::runtime::read_component_digested(path).await?;
    // Under the compile budget like every load: an inspected file is untrusted too.
    let component = runtime.compile_file(file, &what).await?;
    Ok(describe(runtime.engine(), &component))
}

/// The imports and exports of a compiled component.
pub fn describe(engine: &Engine, component: &wasmtime::component::Component) -> Interface {
    let ty = component.component_type();
    Interface {
        imports: ty
            .imports(engine)
            .map(|(name, item)| self::item(engine, name, &item.ty))
            .collect(),
        exports: ty
            .exports(engine)
            .map(|(name, item)| self::item(engine, name, &item.ty))
            .collect(),
    }
}

fn item(engine: &Engine, name: &str, ty: &ComponentItem) -> Item {
    let items = match ty {
        ComponentItem::ComponentInstance(instance) => instance
            .exports(engine)
            .map(|(name, inner)| item(engine, name, &inner.ty))
            .collect(),
        _ => Vec::new(),
    };
    let mut text = Printer::default();
    match ty {
        ComponentItem::ComponentInstance(_) => text.push("interface"),
        ComponentItem::ComponentFunc(func) => text.func(func),
        ComponentItem::Type(ty) => {
            text.push("type ");
            text.ty(ty);
        }
        ComponentItem::Resource(_) => text.push("resource"),
        ComponentItem::Component(_) => text.push("component"),
        ComponentItem::Module(_) => text.push("core module"),
        ComponentItem::CoreFunc(_) => text.push("core func"),
    }
    Item {
        name: name.to_string(),
        ty: text.finish(),
        items,
    }
}

/// `func`'s signature as WIT text (`func(a: s32) -> s32`), cut at `cap` bytes (ending in
/// `…`): what [`crate::contract`] compares.
pub(crate) fn signature(func: &ComponentFunc, cap: usize) -> String {
    let mut text = Printer {
        cap,
        ..Printer::default()
    };
    text.func(func);
    text.finish()
}

/// WIT text under a byte cap: once full, everything further is ignored.
struct Printer {
    out: String,
    full: bool,
    cap: usize,
}

impl Default for Printer {
    fn default() -> Self {
        Printer {
            out: String::new(),
            full: false,
            cap: TYPE_TEXT_CAP,
        }
    }
}

impl Printer {
    fn push(&mut self, text: &str) {
        if self.full {
            return;
        }
        if self.out.len() + text.len() > self.cap {
            self.full = true;
            return;
        }
        self.out.push_str(text);
    }

    fn finish(mut self) -> String {
        if self.full {
            self.out.push('…');
        }
        self.out
    }

    fn func(&mut self, func: &ComponentFunc) {
        self.push(if func.async_() {
            "async func("
        } else {
            "func("
        });
        for (i, (name, ty)) in func.params().enumerate() {
            self.push(if i == 0 { "" } else { ", " });
            self.push(name);
            self.push(": ");
            self.ty(&ty);
        }
        self.push(")");
        for ty in func.results() {
            self.push(" -> ");
            self.ty(&ty);
        }
    }

    /// A list of `items` between `open` and `close`, each printed by `each`.
    fn list<T>(
        &mut self,
        open: &str,
        items: impl Iterator<Item = T>,
        close: &str,
        mut each: impl FnMut(&mut Self, T),
    ) {
        self.push(open);
        for (i, item) in items.enumerate() {
            if self.full {
                return;
            }
            self.push(if i == 0 { "" } else { ", " });
            each(self, item);
        }
        self.push(close);
    }

    fn ty(&mut self, ty: &Type) {
        if self.full {
            return;
        }
        match ty {
            Type::Bool => self.push("bool"),
            Type::S8 => self.push("s8"),
            Type::U8 => self.push("u8"),
            Type::S16 => self.push("s16"),
            Type::U16 => self.push("u16"),
            Type::S32 => self.push("s32"),
            Type::U32 => self.push("u32"),
            Type::S64 => self.push("s64"),
            Type::U64 => self.push("u64"),
            Type::Float32 => self.push("f32"),
            Type::Float64 => self.push("f64"),
            Type::Char => self.push("char"),
            Type::String => self.push("string"),
            Type::ErrorContext => self.push("error-context"),
            Type::List(list) => self.generic("list<", [Some(list.ty())]),
            Type::Map(map) => self.generic("map<", [Some(map.key()), Some(map.value())]),
            Type::Option(option) => self.generic("option<", [Some(option.ty())]),
            Type::Tuple(tuple) => self.list("tuple<", tuple.types(), ">", |p, t| p.ty(&t)),
            Type::FixedLengthList(list) => {
                self.push("list<");
                self.ty(&list.ty());
                self.push(&format!(", {}>", list.len()));
            }
            Type::Record(record) => self.list("record { ", record.fields(), " }", |p, field| {
                p.push(field.name);
                p.push(": ");
                p.ty(&field.ty);
            }),
            Type::Variant(variant) => self.list("variant { ", variant.cases(), " }", |p, case| {
                p.push(case.name);
                if let Some(ty) = case.ty {
                    p.push("(");
                    p.ty(&ty);
                    p.push(")");
                }
            }),
            Type::Enum(e) => self.list("enum { ", e.names(), " }", |p, name| p.push(name)),
            Type::Flags(flags) => {
                self.list("flags { ", flags.names(), " }", |p, name| p.push(name))
            }
            Type::Result(result) => match (result.ok(), result.err()) {
                (None, None) => self.push("result"),
                (ok, err) => {
                    self.push("result<");
                    match ok {
                        Some(ok) => self.ty(&ok),
                        None => self.push("_"),
                    }
                    if let Some(err) = err {
                        self.push(", ");
                        self.ty(&err);
                    }
                    self.push(">");
                }
            },
            Type::Own(_) => self.push("own<resource>"),
            Type::Borrow(_) => self.push("borrow<resource>"),
            Type::Future(future) => self.optional("future", future.ty()),
            Type::Stream(stream) => self.optional("stream", stream.ty()),
        }
    }

    /// `open` + the types, comma-separated, + `>`.
    fn generic<const N: usize>(&mut self, open: &str, types: [Option<Type>; N]) {
        self.list(open, types.into_iter().flatten(), ">", |p, t| p.ty(&t));
    }

    /// `name` alone, or `name<T>`.
    fn optional(&mut self, name: &str, ty: Option<Type>) {
        match ty {
            None => self.push(name),
            Some(ty) => self.generic(&format!("{name}<"), [Some(ty)]),
        }
    }
}
