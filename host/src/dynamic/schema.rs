//! JSON Schemas (draft 2020-12) derived from WIT types: what [`super::json::from_json`]
//! accepts, so a caller (an MCP client, a form) can build valid arguments without bindings.

use serde_json::{Value, json};
use wasmtime::component::Type;

/// The schema of a value of `ty`.
pub fn of(ty: &Type) -> Value {
    let integer = |min: i128, max: i128| json!({"type": "integer", "minimum": min, "maximum": max});
    match ty {
        Type::Bool => json!({"type": "boolean"}),
        Type::S8 => integer(i8::MIN.into(), i8::MAX.into()),
        Type::U8 => integer(0, u8::MAX.into()),
        Type::S16 => integer(i16::MIN.into(), i16::MAX.into()),
        Type::U16 => integer(0, u16::MAX.into()),
        Type::S32 => integer(i32::MIN.into(), i32::MAX.into()),
        Type::U32 => integer(0, u32::MAX.into()),
        Type::S64 => integer(i64::MIN.into(), i64::MAX.into()),
        Type::U64 => integer(0, u64::MAX.into()),
        Type::Float32 | Type::Float64 => json!({"anyOf": [
            {"type": "number"},
            {"enum": ["NaN", "Infinity", "-Infinity"]}
        ]}),
        Type::Char => json!({"type": "string", "minLength": 1, "maxLength": 1}),
        Type::String => json!({"type": "string"}),
        Type::List(list) if list.ty() == Type::U8 => {
            json!({"type": "string", "contentEncoding": "base64"})
        }
        Type::List(list) => json!({"type": "array", "items": of(&list.ty())}),
        Type::FixedLengthList(list) => json!({"type": "array", "items": of(&list.ty())}),
        Type::Record(record) => {
            let properties: serde_json::Map<String, Value> = record
                .fields()
                .map(|f| (f.name.to_string(), of(&f.ty)))
                .collect();
            let required: Vec<&str> = record
                .fields()
                .filter(|f| !matches!(f.ty, Type::Option(_)))
                .map(|f| f.name)
                .collect();
            json!({"type": "object", "properties": properties, "required": required,
                   "additionalProperties": false})
        }
        Type::Tuple(tuple) => {
            let items: Vec<Value> = tuple.types().map(|t| of(&t)).collect();
            let n = items.len();
            json!({"type": "array", "prefixItems": items, "minItems": n, "maxItems": n})
        }
        Type::Variant(variant) => {
            let cases: Vec<Value> = variant
                .cases()
                .flat_map(|case| {
                    let payload = case.ty.as_ref().map_or(json!({"type": "null"}), of);
                    let object = single(case.name, payload);
                    match case.ty {
                        Some(_) => vec![object],
                        None => vec![object, json!({"const": case.name})],
                    }
                })
                .collect();
            json!({"oneOf": cases})
        }
        Type::Enum(cases) => json!({"type": "string", "enum": cases.names().collect::<Vec<_>>()}),
        Type::Flags(flags) => json!({
            "type": "array",
            "items": {"enum": flags.names().collect::<Vec<_>>()},
            "uniqueItems": true
        }),
        Type::Option(option) => {
            let inner = option.ty();
            let some = match inner {
                Type::Option(_) => single("some", of(&inner)),
                _ => of(&inner),
            };
            json!({"anyOf": [{"type": "null"}, some]})
        }
        Type::Result(result) => {
            let part = |t: Option<Type>| t.as_ref().map_or(json!({"type": "null"}), of);
            json!({"oneOf": [single("ok", part(result.ok())), single("err", part(result.err()))]})
        }
        // No JSON form (see `json`): nothing matches.
        _ => json!({"not": {}, "description": super::json::wit_name(ty)}),
    }
}

/// `{"key": value}` and nothing else.
fn single(key: &str, schema: Value) -> Value {
    json!({"type": "object", "properties": {key: schema}, "required": [key],
           "additionalProperties": false})
}
