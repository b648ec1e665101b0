//! Caps on a tool's input schema, checked at load before the schema is compiled: a plugin
//! decides its schemas, and the cost of compiling and of every later validation grows with
//! them. A schema nested 40 levels deep, or whose `$ref`s fan out 2⁴⁰ ways, would make the
//! host work for minutes on every call; such a schema is refused, naming the cap it broke.
//!
//! What is measured:
//! - its size as JSON text ([`SCHEMA_BYTES`]);
//! - how deeply its JSON nests ([`SCHEMA_DEPTH`]);
//! - its *expanded* size: the number of JSON values once every `$ref` is replaced by what
//!   it points to ([`SCHEMA_EXPANDED_VALUES`]). This is what validation walks, so it bounds
//!   the validator's work per argument value, where the plain size does not.
//!
//! References must stay inside the schema (`#…`): remote and relative references, embedded
//! `$id`s (which move where references point), `$dynamicRef`/`$recursiveRef` and recursive
//! references are refused, so the expanded size is finite and computable.

use std::collections::HashMap;

use serde_json::Value;

/// Most bytes a tool's input schema may take as JSON text.
pub const SCHEMA_BYTES: usize = 64 << 10;
/// Deepest nesting of JSON arrays and objects in a tool's input schema.
pub const SCHEMA_DEPTH: usize = 32;
/// Most JSON values a tool's input schema may hold with every `$ref` expanded.
pub const SCHEMA_EXPANDED_VALUES: usize = 20_000;

/// Keywords that make references resolve somewhere this check cannot follow.
const UNFOLLOWABLE: [&str; 3] = ["$dynamicRef", "$recursiveRef", "$dynamicAnchor"];

/// Checks `schema` against the caps; its expanded size (JSON values, `$ref`s followed) when
/// it passes, else why not, naming the cap.
pub(crate) fn check(schema: &Value) -> Result<usize, String> {
    let bytes = serde_json::to_vec(schema)
        .expect("a JSON value serialises")
        .len();
    if bytes > SCHEMA_BYTES {
        return Err(format!(
            "it is {bytes} bytes of JSON, over the cap of {SCHEMA_BYTES} bytes per schema"
        ));
    }
    let depth = depth(schema);
    if depth > SCHEMA_DEPTH {
        return Err(format!(
            "it nests {depth} levels deep, over the cap of {SCHEMA_DEPTH} levels"
        ));
    }
    Expansion::new(schema).size()
}

/// How deeply `value` nests (a scalar is 0). Recursion is safe: the schema came from
/// parsing JSON text, which `serde_json` caps at 128 levels.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Counts a schema's values with every `$ref` expanded, remembering each reference's
/// expanded size (so shared definitions cost one walk) and which are being expanded (so a
/// cycle is caught instead of followed).
struct Expansion<'a> {
    root: &'a Value,
    /// Every `$anchor` of the schema, found in one walk.
    anchors: HashMap<&'a str, &'a Value>,
    sizes: HashMap<&'a str, usize>,
    open: Vec<&'a str>,
}

impl<'a> Expansion<'a> {
    fn new(root: &'a Value) -> Self {
        let mut anchors = HashMap::new();
        collect_anchors(root, &mut anchors);
        Expansion {
            root,
            anchors,
            sizes: HashMap::new(),
            open: Vec::new(),
        }
    }

    fn size(&mut self) -> Result<usize, String> {
        let size = self.count(self.root, true)?;
        match size > SCHEMA_EXPANDED_VALUES {
            true => Err(self.too_big()),
            false => Ok(size),
        }
    }

    fn too_big(&self) -> String {
        format!(
            "with its `$ref`s expanded it holds over {SCHEMA_EXPANDED_VALUES} JSON values \
             (the cap per schema); validating against it would cost too much"
        )
    }

    /// Values in `value` with references expanded; stops early, past the cap.
    fn count(&mut self, value: &'a Value, is_root: bool) -> Result<usize, String> {
        let children: Box<dyn Iterator<Item = &'a Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => {
                self.refuse_unfollowable(map, is_root)?;
                Box::new(map.values())
            }
            _ => return Ok(1),
        };
        let mut total = 1usize;
        if let Some(reference) = value.get("$ref") {
            total += self.reference(reference)?;
        }
        for child in children {
            total = total.saturating_add(self.count(child, false)?);
            if total > SCHEMA_EXPANDED_VALUES {
                return Err(self.too_big());
            }
        }
        Ok(total)
    }

    fn refuse_unfollowable(
        &self,
        map: &serde_json::Map<String, Value>,
        is_root: bool,
    ) -> Result<(), String> {
        if let Some(keyword) = UNFOLLOWABLE.iter().find(|k| map.contains_key(**k)) {
            return Err(format!(
                "it uses `{keyword}`, which is not supported; use plain `$ref`s to `#/$defs/…`"
            ));
        }
        if !is_root && map.get("$id").is_some_and(Value::is_string) {
            return Err(
                "it embeds `$id` in a subschema, which is not supported; give `$id` only at \
                 the top"
                    .into(),
            );
        }
        Ok(())
    }

    /// The expanded size of what `reference` points to.
    fn reference(&mut self, reference: &'a Value) -> Result<usize, String> {
        let Some(text) = reference.as_str() else {
            return Err("it has a `$ref` that is not a string".into());
        };
        if let Some(&size) = self.sizes.get(text) {
            return Ok(size);
        }
        if self.open.contains(&text) {
            return Err(format!(
                "its `$ref` `{}` refers to itself (recursive schemas are not supported)",
                text.escape_debug()
            ));
        }
        let target = self.resolve(text)?;
        self.open.push(text);
        let size = self.count(target, false);
        self.open.pop();
        let size = size?;
        self.sizes.insert(text, size);
        Ok(size)
    }

    /// The value a local reference points to: `#`, `#/json/pointer` or `#anchor`.
    fn resolve(&self, text: &str) -> Result<&'a Value, String> {
        let shown = text.escape_debug();
        let Some(fragment) = text.strip_prefix('#') else {
            return Err(format!(
                "its `$ref` `{shown}` points outside the schema; only references within it \
                 (`#/$defs/…`) are allowed"
            ));
        };
        let found = match fragment.starts_with('/') || fragment.is_empty() {
            true => self.root.pointer(&percent_decode(fragment)),
            false => self.anchors.get(fragment).copied(),
        };
        found.ok_or_else(|| format!("its `$ref` `{shown}` points to nothing in the schema"))
    }
}

/// `%XX` escapes decoded (JSON pointers in URI fragments may use them); anything else kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every subschema declaring `"$anchor": name`, by name (the first one wins).
fn collect_anchors<'a>(value: &'a Value, anchors: &mut HashMap<&'a str, &'a Value>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map.get("$anchor").and_then(Value::as_str) {
                anchors.entry(name).or_insert(value);
            }
            map.values().for_each(|v| collect_anchors(v, anchors));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_anchors(v, anchors)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `levels` definitions, each an `allOf` of two references to the one below: 2^levels
    /// values once expanded, from a few hundred bytes.
    pub(crate) fn fan_out(levels: usize) -> Value {
        let mut defs = serde_json::Map::new();
        defs.insert("d0".into(), json!({"type": "integer"}));
        for i in 1..=levels {
            let below = format!("#/$defs/d{}", i - 1);
            defs.insert(
                format!("d{i}"),
                json!({"allOf": [{"$ref": below}, {"$ref": below}]}),
            );
        }
        json!({"$defs": defs, "$ref": format!("#/$defs/d{levels}")})
    }

    fn nested(levels: usize) -> Value {
        (0..levels).fold(
            json!({"type": "string"}),
            |inner, _| json!({"allOf": [inner]}),
        )
    }

    #[test]
    fn an_ordinary_schema_passes_with_its_expanded_size() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"$ref": "#/$defs/n"}},
            "$defs": {"n": {"type": "number"}}
        });
        assert_eq!(check(&schema), Ok(14));
    }

    #[test]
    fn refuses_a_fan_out_of_references_naming_the_cap() {
        assert!(check(&fan_out(8)).is_ok());
        let why = check(&fan_out(40)).unwrap_err();
        assert!(why.contains(&SCHEMA_EXPANDED_VALUES.to_string()), "{why}");
    }

    #[test]
    fn refuses_deep_nesting_naming_the_cap() {
        assert!(check(&nested(10)).is_ok());
        let why = check(&nested(40)).unwrap_err();
        assert!(why.contains("over the cap of 32 levels"), "{why}");
    }

    #[test]
    fn refuses_a_big_schema_naming_the_cap() {
        let schema = json!({"description": "x".repeat(SCHEMA_BYTES)});
        let why = check(&schema).unwrap_err();
        assert!(why.contains("65536 bytes"), "{why}");
    }

    #[test]
    fn refuses_recursive_remote_and_dynamic_references() {
        let recursive =
            json!({"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"});
        assert!(check(&recursive).unwrap_err().contains("refers to itself"));
        let remote = json!({"$ref": "https://example.com/s.json"});
        assert!(check(&remote).unwrap_err().contains("outside the schema"));
        let relative = json!({"$ref": "other.json#/a"});
        assert!(check(&relative).unwrap_err().contains("outside the schema"));
        let dynamic = json!({"$dynamicRef": "#node"});
        assert!(check(&dynamic).unwrap_err().contains("$dynamicRef"));
        let embedded = json!({"properties": {"a": {"$id": "https://x/", "type": "string"}}});
        assert!(check(&embedded).unwrap_err().contains("$id"));
        let dangling = json!({"$ref": "#/$defs/missing"});
        assert!(check(&dangling).unwrap_err().contains("points to nothing"));
    }

    #[test]
    fn follows_anchors_and_escaped_pointers() {
        let schema = json!({
            "$defs": {"a b": {"$anchor": "spot", "type": "string"}},
            "properties": {"x": {"$ref": "#spot"}, "y": {"$ref": "#/$defs/a%20b"}}
        });
        assert!(check(&schema).is_ok());
    }
}
