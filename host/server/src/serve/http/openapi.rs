//! The OpenAPI 3.1 document of the admin and tool API, served at `/api/v1/openapi.json`.

use serde_json::{Value, json};

/// `GET /metrics`: an admin operation whose success is Prometheus text, not JSON.
fn metrics_operation() -> Value {
    let mut op = operation(
        "The tenant's plugins' usage in the Prometheus text format (version 0.0.4)",
        "admin",
        None,
        &[],
    );
    op["responses"]["200"] = json!({
        "description": "Counters, gauges and a latency histogram per plugin",
        "content": {"text/plain": {"schema": {"type": "string"}}}
    });
    op
}

/// `GET /api/v1/plugins/{name}/logs`: server-sent events, not JSON.
fn logs_operation() -> Value {
    let mut op = operation(
        "Follow a plugin's log records: the kept ones, then new ones (server-sent events: `log` events with {time_ms, level, source, text}, `skipped` events with {skipped})",
        "admin",
        None,
        &["name"],
    );
    op["parameters"]
        .as_array_mut()
        .expect("a list")
        .push(json!({
            "name": "follow", "in": "query", "required": false,
            "description": "false: send the kept records, then end.",
            "schema": {"type": "boolean", "default": true}
        }));
    op["responses"]["200"] = json!({
        "description": "An event stream",
        "content": {"text/event-stream": {"schema": {"type": "string"}}}
    });
    op["responses"]["503"] = json!({"$ref": "#/components/responses/Error"});
    op
}

/// `POST /api/v1/tools/{tool}/call`: the result with the call's time and fuel.
fn call_operation(body: Value) -> Value {
    let mut op = operation("Call a tool", "caller or admin", Some(body), &["tool"]);
    op["responses"]["200"]["content"]["application/json"]["schema"] = json!({
        "type": "object",
        "required": ["result", "usage"],
        "properties": {
            "result": {},
            "usage": {
                "type": "object",
                "required": ["duration_ms", "fuel"],
                "properties": {
                    "duration_ms": {"type": "number", "description": "Milliseconds in the host, waiting for an instance included"},
                    "fuel": {"type": ["integer", "null"], "description": "Fuel the guest burnt; null when no guest code ran"}
                }
            }
        }
    });
    op
}

fn operation(summary: &str, role: &str, body: Option<Value>, params: &[&str]) -> Value {
    let mut parameters: Vec<Value> = params
        .iter()
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    parameters.push(json!({
        "name": "tenant", "in": "query", "required": false,
        "description": "Must be the token's tenant when given.",
        "schema": {"type": "string"}
    }));
    let mut op = json!({
        "summary": summary,
        "description": format!("Needs a token with the {role} role."),
        "security": [{"bearer": []}],
        "parameters": parameters,
        "responses": {
            "200": {"description": "Done", "content": {"application/json": {"schema": {}}}},
            "400": {"$ref": "#/components/responses/Error"},
            "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
            "404": {"$ref": "#/components/responses/Error"},
            "409": {"$ref": "#/components/responses/Error"},
            "413": {"$ref": "#/components/responses/Error"},
            "422": {"$ref": "#/components/responses/Error"}
        }
    });
    if let Some(schema) = body {
        op["requestBody"] =
            json!({"required": false, "content": {"application/json": {"schema": schema}}});
    }
    op
}

pub(super) fn document() -> Value {
    let object = json!({"type": "object"});
    let call_body = json!({"type": "object", "properties": {
        "arguments": {"type": "object"}, "session": {"type": "string"}}});
    let hook_body = json!({"type": "object", "properties": {
        "payload": {}, "session": {"type": "string"}}});
    let patterns = json!({"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 128}, "maxItems": 256});
    let tools_body = json!({"type": "object", "properties": {"allow": patterns, "deny": patterns}, "additionalProperties": false});
    let enable_body = json!({"type": "object", "properties": {"config": {"type": "object"}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Airlock admin and tool API",
            "version": airlock::HOST_VERSION,
            "description": "Plugins, tools and hooks of one tenant; the bearer token decides the tenant."
        },
        "paths": {
            "/api/v1/plugins": {"get": operation("Installed plugins and the tenant's registrations", "admin", None, &[])},
            "/api/v1/plugins/{name}/enable": {"post": operation("Enable a plugin for the tenant", "admin", Some(enable_body), &["name"])},
            "/api/v1/plugins/{name}/disable": {"post": operation("Disable a plugin for the tenant", "admin", None, &["name"])},
            "/api/v1/plugins/{name}/config": {
                "get": operation("The tenant's configuration of a plugin", "admin", None, &["name"]),
                "put": operation("Replace the tenant's configuration of a plugin", "admin", Some(object), &["name"])
            },
            "/api/v1/plugins/{name}/tools": {
                "get": operation("Which of the plugin's tools the tenant sees and may call", "admin", None, &["name"]),
                "put": operation("Restrict the tenant's view of the plugin's tools (allow and deny patterns, `*` matches any run)", "admin", Some(tools_body), &["name"])
            },
            "/api/v1/plugins/{name}/health": {"get": operation("Poll a plugin's health", "admin", None, &["name"])},
            "/api/v1/plugins/{name}/audit": {"get": operation("What a reviewer sees of the plugin as the tenant runs it: requested, allowed and effective capabilities and limits, its configuration schema, signature and verdict (`airlock audit --json`)", "admin", None, &["name"])},
            "/api/v1/plugins/{name}/logs": {"get": logs_operation()},
            "/api/v1/plugins/{name}/reset": {"post": operation("Restart a plugin for the tenant with its stored configuration, clearing a failing mark", "admin", None, &["name"])},
            "/api/v1/tools": {"get": operation("The tenant's tools, namespaced plugin.tool", "caller or admin", None, &[])},
            "/api/v1/tools/{tool}/call": {"post": call_operation(call_body)},
            "/api/v1/hooks/{kind}": {"post": operation("Dispatch a hook event through the tenant's plugins", "caller or admin", Some(hook_body), &["kind"])},
            "/metrics": {"get": metrics_operation()},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {
                "description": "A failure, in one stable shape",
                "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "details": {}
                        }
                    }}
                }}}
            }}
        }
    })
}
