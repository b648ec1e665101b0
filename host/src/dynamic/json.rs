//! JSON ↔ component-model values, converted by the WIT type of each parameter and result.
//!
//! | WIT | JSON |
//! |---|---|
//! | `bool` | `true` / `false` |
//! | `u8` … `s64` | an integer, range-checked (`1.0` is accepted up to 2^53, `1.5` is not) |
//! | `f32`, `f64` | a number (an `f32` within its range); `"NaN"`, `"Infinity"`, `"-Infinity"` for what JSON cannot write |
//! | `char` | a string of exactly one Unicode scalar value |
//! | `string` | a string |
//! | `list<u8>` | a base64 string (RFC 4648 §4, padded) |
//! | `list<T>`, fixed-length lists | an array (of exactly the length) |
//! | `record` | an object with the fields' WIT (kebab-case) names; a missing `option` field is `none` |
//! | `tuple<…>` | an array of exactly its arity |
//! | `variant` | `{"case": payload}`; a case without payload may also be `"case"` |
//! | `enum` | the case's name |
//! | `flags` | an array of the set flags' names |
//! | `option<T>` | `null` or the value; when `T` is itself an option, `some(x)` is `{"some": x}` |
//! | `result<T, E>` | `{"ok": value}` / `{"err": value}` (`null` for no payload) |
//!
//! Resources, futures, streams and maps are refused by name: the dynamic path has no JSON
//! for them. Every refusal is a [`Problem`] naming the JSON path, the WIT type expected and
//! what was found, and comes before any guest code runs.

use base64::Engine as _;
use serde_json::{Map, Number, Value};
use wasmtime::component::{Type, Val};

/// Why a JSON value is not a value of a WIT type: `/value/points/0/x: expected s32, found
/// "7"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A JSON Pointer (RFC 6901) into the arguments object.
    pub path: String,
    /// The WIT type, written as in WIT (`list<u32>`, `record { x, y }`).
    pub expected: String,
    /// What was there instead (or why it does not fit).
    pub found: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(
            f,
            "{path}: expected {}, found {}",
            self.expected, self.found
        )
    }
}

/// `value` as a value of `ty`; `path` names where it is (a JSON Pointer).
///
/// # Errors
/// The first [`Problem`] found, depth first.
pub fn from_json(ty: &Type, value: &Value, path: &str) -> Result<Val, Problem> {
    let problem = |found: String| Problem {
        path: path.to_string(),
        expected: wit_name(ty),
        found,
    };
    let mismatch = || problem(summary(value));
    Ok(match ty {
        Type::Bool => Val::Bool(value.as_bool().ok_or_else(mismatch)?),
        Type::S8 => Val::S8(integer(value).ok_or_else(mismatch)?),
        Type::U8 => Val::U8(integer(value).ok_or_else(mismatch)?),
        Type::S16 => Val::S16(integer(value).ok_or_else(mismatch)?),
        Type::U16 => Val::U16(integer(value).ok_or_else(mismatch)?),
        Type::S32 => Val::S32(integer(value).ok_or_else(mismatch)?),
        Type::U32 => Val::U32(integer(value).ok_or_else(mismatch)?),
        Type::S64 => Val::S64(integer(value).ok_or_else(mismatch)?),
        Type::U64 => Val::U64(integer(value).ok_or_else(mismatch)?),
        Type::Float32 => {
            let wide = float(value).ok_or_else(mismatch)?;
            if wide.is_finite() && wide.abs() > f64::from(f32::MAX) {
                return Err(problem(format!(
                    "{} (beyond the range of f32)",
                    summary(value)
                )));
            }
            Val::Float32(wide as f32)
        }
        Type::Float64 => Val::Float64(float(value).ok_or_else(mismatch)?),
        Type::Char => {
            let text = value.as_str().ok_or_else(mismatch)?;
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => {
                    return Err(problem(format!(
                        "a string of {} characters",
                        text.chars().count()
                    )));
                }
            }
        }
        Type::String => Val::String(value.as_str().ok_or_else(mismatch)?.to_string()),
        Type::List(list) if list.ty() == Type::U8 => {
            let text = value.as_str().ok_or_else(mismatch)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| problem(format!("a string that is not base64 ({e})")))?;
            Val::List(bytes.into_iter().map(Val::U8).collect())
        }
        Type::List(list) => {
            let items = value.as_array().ok_or_else(mismatch)?;
            let element = list.ty();
            Val::List(elements(&element, items, path)?)
        }
        Type::FixedLengthList(list) => {
            let items = value.as_array().ok_or_else(mismatch)?;
            Val::FixedLengthList(elements(&list.ty(), items, path)?)
        }
        Type::Record(record) => {
            let object = value.as_object().ok_or_else(mismatch)?;
            let names: Vec<&str> = record.fields().map(|f| f.name).collect();
            if let Some(unknown) = object.keys().find(|k| !names.contains(&k.as_str())) {
                return Err(problem(format!("an unknown field `{unknown}`")));
            }
            let mut fields = Vec::with_capacity(names.len());
            for field in record.fields() {
                let at = format!("{path}/{}", pointer(field.name));
                let val = match (object.get(field.name), &field.ty) {
                    (Some(v), ty) => from_json(ty, v, &at)?,
                    (None, Type::Option(_)) => Val::Option(None),
                    (None, _) => return Err(problem(format!("no field `{}`", field.name))),
                };
                fields.push((field.name.to_string(), val));
            }
            Val::Record(fields)
        }
        Type::Tuple(tuple) => {
            let items = value.as_array().ok_or_else(mismatch)?;
            let types: Vec<Type> = tuple.types().collect();
            if items.len() != types.len() {
                return Err(problem(format!("an array of {}", items.len())));
            }
            let mut vals = Vec::with_capacity(types.len());
            for (i, (ty, item)) in types.iter().zip(items).enumerate() {
                vals.push(from_json(ty, item, &format!("{path}/{i}"))?);
            }
            Val::Tuple(vals)
        }
        Type::Variant(variant) => {
            let (case, payload) = one_case(value).ok_or_else(mismatch)?;
            let found = variant.cases().find(|c| c.name == case);
            let Some(found) = found else {
                return Err(problem(format!("an unknown case `{case}`")));
            };
            let at = format!("{path}/{}", pointer(case));
            let payload = match (&found.ty, payload) {
                (Some(ty), Some(v)) => Some(Box::new(from_json(ty, v, &at)?)),
                (Some(_), None) => {
                    return Err(problem(format!("case `{case}` without its payload")));
                }
                (None, None | Some(Value::Null)) => None,
                (None, Some(v)) => {
                    return Err(problem(format!(
                        "case `{case}`, which has no payload, with {}",
                        summary(v)
                    )));
                }
            };
            Val::Variant(case.to_string(), payload)
        }
        Type::Enum(cases) => {
            let name = value.as_str().ok_or_else(mismatch)?;
            if !cases.names().any(|n| n == name) {
                return Err(problem(format!("an unknown case `{name}`")));
            }
            Val::Enum(name.to_string())
        }
        Type::Flags(flags) => {
            let items = value.as_array().ok_or_else(mismatch)?;
            let mut set = Vec::with_capacity(items.len());
            for item in items {
                let name = item.as_str().ok_or_else(mismatch)?;
                if !flags.names().any(|n| n == name) {
                    return Err(problem(format!("an unknown flag `{name}`")));
                }
                if set.iter().any(|s| s == name) {
                    return Err(problem(format!("the flag `{name}` twice")));
                }
                set.push(name.to_string());
            }
            Val::Flags(set)
        }
        Type::Option(option) => {
            let inner = option.ty();
            match (value, &inner) {
                (Value::Null, _) => Val::Option(None),
                (_, Type::Option(_)) => {
                    let some = value
                        .as_object()
                        .filter(|o| o.len() == 1)
                        .and_then(|o| o.get("some"))
                        .ok_or_else(|| {
                            problem(format!(
                                "{} (a nested option's value is {{\"some\": …}})",
                                summary(value)
                            ))
                        })?;
                    Val::Option(Some(Box::new(from_json(
                        &inner,
                        some,
                        &format!("{path}/some"),
                    )?)))
                }
                _ => Val::Option(Some(Box::new(from_json(&inner, value, path)?))),
            }
        }
        Type::Result(result) => {
            let (case, payload) = one_case(value).ok_or_else(mismatch)?;
            let ty = match case {
                "ok" => result.ok(),
                "err" => result.err(),
                other => {
                    return Err(problem(format!(
                        "`{other}` (a result is {{\"ok\": …}} or {{\"err\": …}})"
                    )));
                }
            };
            let at = format!("{path}/{case}");
            let payload = match (ty, payload) {
                (Some(ty), Some(v)) => Some(Box::new(from_json(&ty, v, &at)?)),
                (Some(_), None) => return Err(problem(format!("`{case}` without its value"))),
                (None, None | Some(Value::Null)) => None,
                (None, Some(v)) => {
                    return Err(problem(format!(
                        "`{case}`, which has no value, with {}",
                        summary(v)
                    )));
                }
            };
            Val::Result(match case {
                "ok" => Ok(payload),
                _ => Err(payload),
            })
        }
        // What is left has no JSON form (see `has_json`).
        _ => {
            return Err(problem(
                "a value; the dynamic JSON path cannot pass this type".into(),
            ));
        }
    })
}

fn elements(ty: &Type, items: &[Value], path: &str) -> Result<Vec<Val>, Problem> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| from_json(ty, item, &format!("{path}/{i}")))
        .collect()
}

/// A variant or result written as `{"case": payload}` (or a bare `"case"`).
fn one_case(value: &Value) -> Option<(&str, Option<&Value>)> {
    match value {
        Value::String(case) => Some((case, None)),
        Value::Object(object) if object.len() == 1 => {
            let (case, payload) = object.iter().next()?;
            Some((case, Some(payload)))
        }
        _ => None,
    }
}

/// Largest integer a JSON float writes exactly (2^53): past it, `9007199254740993.0` would
/// quietly become `…992`.
const EXACT_FLOAT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// An integer of `T`'s range: an integral JSON number (`3`, or `3.0` up to 2^53).
fn integer<T: TryFrom<i128>>(value: &Value) -> Option<T> {
    let number = value.as_number()?;
    let wide = match (number.as_i64(), number.as_u64(), number.as_f64()) {
        (Some(i), _, _) => i128::from(i),
        (_, Some(u), _) => i128::from(u),
        (_, _, Some(f)) if f.fract() == 0.0 && f.abs() <= EXACT_FLOAT_INTEGER => f as i128,
        _ => return None,
    };
    T::try_from(wide).ok()
}

fn float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// A JSON Pointer token (RFC 6901 §4: `~` and `/` escaped).
fn pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A short description of a JSON value for an error message.
fn summary(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() <= 32 => format!("{s:?}"),
        Value::String(s) => format!("a string of {} characters", s.chars().count()),
        Value::Array(a) => format!("an array of {}", a.len()),
        Value::Object(o) => format!("an object with {} keys", o.len()),
    }
}

/// Whether values of `ty` have JSON here: anything but resources, futures, streams,
/// error contexts and maps, at any depth.
pub fn passable(ty: &Type) -> bool {
    match ty {
        ty if !has_json(ty) => false,
        Type::List(l) => passable(&l.ty()),
        Type::FixedLengthList(l) => passable(&l.ty()),
        Type::Record(r) => r.fields().all(|f| passable(&f.ty)),
        Type::Tuple(t) => t.types().all(|t| passable(&t)),
        Type::Variant(v) => v.cases().all(|c| c.ty.as_ref().is_none_or(passable)),
        Type::Option(o) => passable(&o.ty()),
        Type::Result(r) => {
            r.ok().as_ref().is_none_or(passable) && r.err().as_ref().is_none_or(passable)
        }
        _ => true,
    }
}

/// Whether `ty` itself (not what it holds) has a JSON form: all but resources, futures,
/// streams, error contexts and maps.
pub(crate) fn has_json(ty: &Type) -> bool {
    !matches!(
        ty,
        Type::Own(_)
            | Type::Borrow(_)
            | Type::Future(_)
            | Type::Stream(_)
            | Type::ErrorContext
            | Type::Map(_)
    )
}

/// `ty` written as in WIT: `u32`, `list<string>`, `option<point>`… Records, variants, enums
/// and flags have no name at run time: their field or case names stand in.
pub fn wit_name(ty: &Type) -> String {
    let list = |names: Vec<String>| names.join(", ");
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", wit_name(&l.ty())),
        Type::FixedLengthList(l) => format!("list<{}, N>", wit_name(&l.ty())),
        Type::Map(m) => format!("map<{}, {}>", wit_name(&m.key()), wit_name(&m.value())),
        Type::Record(r) => format!(
            "record {{ {} }}",
            list(r.fields().map(|f| f.name.to_string()).collect())
        ),
        Type::Tuple(t) => format!("tuple<{}>", list(t.types().map(|t| wit_name(&t)).collect())),
        Type::Variant(v) => format!(
            "variant {{ {} }}",
            list(v.cases().map(|c| c.name.to_string()).collect())
        ),
        Type::Enum(e) => format!(
            "enum {{ {} }}",
            list(e.names().map(str::to_string).collect())
        ),
        Type::Flags(f) => format!(
            "flags {{ {} }}",
            list(f.names().map(str::to_string).collect())
        ),
        Type::Option(o) => format!("option<{}>", wit_name(&o.ty())),
        Type::Result(r) => {
            let part = |t: Option<Type>| t.map_or("_".to_string(), |t| wit_name(&t));
            format!("result<{}, {}>", part(r.ok()), part(r.err()))
        }
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(_) => "future".into(),
        Type::Stream(_) => "stream".into(),
        Type::ErrorContext => "error-context".into(),
    }
}

/// `val`, a value of `ty`, as JSON (the inverse of [`from_json`]).
pub fn to_json(ty: &Type, val: &Val) -> Value {
    match (ty, val) {
        (_, Val::Bool(b)) => Value::Bool(*b),
        (_, Val::S8(n)) => Value::from(*n),
        (_, Val::U8(n)) => Value::from(*n),
        (_, Val::S16(n)) => Value::from(*n),
        (_, Val::U16(n)) => Value::from(*n),
        (_, Val::S32(n)) => Value::from(*n),
        (_, Val::U32(n)) => Value::from(*n),
        (_, Val::S64(n)) => Value::from(*n),
        (_, Val::U64(n)) => Value::from(*n),
        // The shortest decimal that is this f32 (`0.1`, not its f64 widening).
        (_, Val::Float32(f)) => float_json(f.to_string().parse().unwrap_or(f64::from(*f))),
        (_, Val::Float64(f)) => float_json(*f),
        (_, Val::Char(c)) => Value::String(c.to_string()),
        (_, Val::String(s)) => Value::String(s.clone()),
        (Type::List(list), Val::List(items)) if list.ty() == Type::U8 => {
            let bytes: Vec<u8> = items
                .iter()
                .map(|v| if let Val::U8(b) = v { *b } else { 0 })
                .collect();
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        (Type::List(list), Val::List(items)) => {
            let element = list.ty();
            Value::Array(items.iter().map(|v| to_json(&element, v)).collect())
        }
        (Type::FixedLengthList(list), Val::FixedLengthList(items)) => {
            let element = list.ty();
            Value::Array(items.iter().map(|v| to_json(&element, v)).collect())
        }
        (Type::Record(record), Val::Record(fields)) => {
            let mut object = Map::new();
            for (field, (name, v)) in record.fields().zip(fields) {
                object.insert(name.clone(), to_json(&field.ty, v));
            }
            Value::Object(object)
        }
        (Type::Tuple(tuple), Val::Tuple(items)) => Value::Array(
            tuple
                .types()
                .zip(items)
                .map(|(t, v)| to_json(&t, v))
                .collect(),
        ),
        (Type::Variant(variant), Val::Variant(case, payload)) => {
            let ty = variant.cases().find(|c| c.name == case).and_then(|c| c.ty);
            let payload = match (ty, payload) {
                (Some(ty), Some(v)) => to_json(&ty, v),
                _ => Value::Null,
            };
            Value::Object(Map::from_iter([(case.clone(), payload)]))
        }
        (_, Val::Enum(case)) => Value::String(case.clone()),
        (_, Val::Flags(set)) => Value::Array(set.iter().cloned().map(Value::String).collect()),
        (Type::Option(option), Val::Option(inner)) => match (inner, option.ty()) {
            (None, _) => Value::Null,
            (Some(v), inner @ Type::Option(_)) => {
                Value::Object(Map::from_iter([("some".to_string(), to_json(&inner, v))]))
            }
            (Some(v), inner) => to_json(&inner, v),
        },
        (Type::Result(result), Val::Result(outcome)) => {
            let (case, ty, payload) = match outcome {
                Ok(v) => ("ok", result.ok(), v),
                Err(v) => ("err", result.err(), v),
            };
            let payload = match (ty, payload) {
                (Some(ty), Some(v)) => to_json(&ty, v),
                _ => Value::Null,
            };
            Value::Object(Map::from_iter([(case.to_string(), payload)]))
        }
        // Types `from_json` refuses never reach a result the host converts (the call is
        // refused at load); anything else is a mismatch between value and type.
        _ => Value::Null,
    }
}

fn float_json(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}
