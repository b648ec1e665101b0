//! The Model Context Protocol over the registry: one tenant's enabled tools as MCP tools
//! (`plugin.tool`, with the tool's JSON Schema as `inputSchema`). Transport-independent:
//! stdio and streamable HTTP both hand requests here.
//!
//! Both protocol generations are served. `2025-11-25` (and the earlier versions clients
//! still negotiate) uses `initialize` / `notifications/initialized` / `ping`. The stateless
//! `2026-07-28` carries its version and client capabilities in every request's `_meta`;
//! `server/discover` tells clients what is served, and its results carry `resultType` and
//! cache hints. A request is handled in the generation its `_meta` names.
//!
//! Tool failures — limits, traps, plugin errors, bad arguments — are results with
//! `isError: true` and a readable message, never protocol errors; an unknown tool is
//! `-32602`.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::jsonrpc::{self, INVALID_PARAMS, Request, RpcError};
use super::lines::Handler;
use super::progress::McpProgress;
use crate::registry::Registry;
use airlock::CallContext;

/// The stateless generation.
pub const MODERN: &str = "2026-07-28";
/// Handshake generations, newest first; `initialize` for anything else gets the first.
pub const LEGACY: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// Why a batch is refused: MCP removed JSON-RPC batching in 2025-06-18, and every version
/// this server negotiates by default is newer. Both transports refuse them alike.
pub const NO_BATCHES: &str =
    "invalid request: batches are not part of MCP; send one message at a time";

/// The request's version is not one this server speaks (2026-07-28 code).
pub const UNSUPPORTED_VERSION: i64 = -32022;
/// A transport header disagrees with the request body (2026-07-28 code).
pub const HEADER_MISMATCH: i64 = -32020;

/// Every version this server answers in.
pub fn supported_versions() -> Vec<&'static str> {
    std::iter::once(MODERN)
        .chain(LEGACY.iter().copied())
        .collect()
}

/// An MCP server for one tenant of a registry.
#[derive(Clone)]
pub struct McpServer {
    registry: Arc<Registry>,
    tenant: String,
    /// Requests in flight, cancellable by `notifications/cancelled` (see [`Self::in_flight`]).
    in_flight: super::InFlight,
}

impl McpServer {
    pub fn new(registry: Arc<Registry>, tenant: impl Into<String>) -> Self {
        McpServer {
            registry,
            tenant: tenant.into(),
            in_flight: super::InFlight::default(),
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The requests in flight that a client may cancel: by id on stdio, by session and id
    /// over HTTP.
    pub fn in_flight(&self) -> &super::InFlight {
        &self.in_flight
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    fn server_info(&self) -> Value {
        json!({"name": "airlock", "title": "Airlock plugins", "version": airlock::HOST_VERSION})
    }

    /// The tools as MCP lists them.
    pub fn tools(&self) -> Vec<Value> {
        self.registry
            .catalog(&self.tenant)
            .entries()
            .into_iter()
            .map(|entry| {
                json!({
                    "name": entry.name,
                    "description": entry.definition.description,
                    "inputSchema": entry.definition.input_schema,
                })
            })
            .collect()
    }

    /// Answers one request; `Ok(None)` for notifications.
    pub async fn respond(&self, request: &Request) -> Result<Option<Value>, RpcError> {
        self.respond_in(request, "").await
    }

    /// [`McpServer::respond`] for a request of the MCP session `session` (the HTTP
    /// transport's `Mcp-Session-Id`): its tool calls run in that session, so the resource
    /// handles they make belong to it ([`McpServer::end_session`]).
    pub async fn respond_in(
        &self,
        request: &Request,
        session: &str,
    ) -> Result<Option<Value>, RpcError> {
        check_id(request)?;
        let modern = modern_version(&request.params)?;
        if request.is_notification() {
            // initialized, cancelled, progress…: nothing to do or to answer.
            return Ok(None);
        }
        let result = match (request.method.as_str(), modern) {
            ("initialize", false) => self.initialize(&request.params),
            ("ping", false) => json!({}),
            ("server/discover", _) => self.discover(),
            ("tools/list", _) => self.list(&request.params, modern)?,
            ("tools/call", _) => self.call(&request.params, session).await?,
            (method, _) => return Err(RpcError::method_not_found(method)),
        };
        Ok(Some(match modern {
            true => complete(result, self.server_info()),
            false => result,
        }))
    }

    fn initialize(&self, params: &Value) -> Value {
        let asked = params["protocolVersion"].as_str().unwrap_or_default();
        let version = LEGACY
            .iter()
            .find(|v| **v == asked)
            .copied()
            .unwrap_or(LEGACY[0]);
        json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": self.server_info(),
            "instructions": format!("Tools of the Airlock plugins enabled for tenant `{}`, named plugin.tool.", self.tenant),
        })
    }

    fn discover(&self) -> Value {
        json!({
            "supportedVersions": supported_versions(),
            "capabilities": {"tools": {"listChanged": true}},
            "ttlMs": 0,
            "cacheScope": "private",
        })
    }

    fn list(&self, params: &Value, modern: bool) -> Result<Value, RpcError> {
        if params.get("cursor").is_some_and(|c| !c.is_null()) {
            // One page holds everything, so no cursor was ever handed out.
            return Err(RpcError::invalid_params("invalid cursor"));
        }
        Ok(match modern {
            // Tools change on reload and differ per tenant: cache hints say so.
            true => json!({"tools": self.tools(), "ttlMs": 0, "cacheScope": "private"}),
            false => json!({"tools": self.tools()}),
        })
    }

    /// The MCP session `session` ended: what it holds in the tenant's plugins (resource
    /// handles) is dropped.
    pub async fn end_session(&self, session: &str) {
        self.registry.end_session(&self.tenant, session).await;
    }

    async fn call(&self, params: &Value, session: &str) -> Result<Value, RpcError> {
        let Some(name) = params["name"].as_str() else {
            return Err(RpcError::invalid_params("tools/call needs a string `name`"));
        };
        let arguments = match &params["arguments"] {
            Value::Null => json!({}),
            Value::Object(_) => params["arguments"].clone(),
            _ => return Err(RpcError::invalid_params("`arguments` must be an object")),
        };
        // Look the tool up on its plugin (building the whole catalog per call is hot-path
        // waste), through the tenant's filter: a hidden tool answers as an unknown one.
        let known = name.split_once('.').is_some_and(|(plugin, tool)| {
            self.registry.offering(&self.tenant, plugin, tool).is_some()
        });
        if !known {
            return Err(RpcError::invalid_params(format!("Unknown tool: {name}")));
        }
        let context = CallContext::for_tenant(self.tenant.clone()).with_session(session);
        Ok(
            match self.registry.call_tool(name, &arguments, &context).await {
                Ok(value) => {
                    // A string result is the text itself, not its JSON quoting.
                    let text = match &value {
                        Value::String(text) => text.clone(),
                        other => serde_json::to_string(other).expect("a JSON value serialises"),
                    };
                    let mut result =
                        json!({"content": [{"type": "text", "text": text}], "isError": false});
                    if value.is_object() {
                        result["structuredContent"] = value;
                    }
                    result
                }
                Err(error) => json!({
                    "content": [{"type": "text", "text": format!("[{}] {error}", error.kind())}],
                    "isError": true,
                }),
            },
        )
    }
}

/// MCP request ids are strings or integers, never `null` (unlike plain JSON-RPC).
pub fn check_id(request: &Request) -> Result<(), RpcError> {
    match &request.id {
        Some(Value::Null) => Err(RpcError::new(
            jsonrpc::INVALID_REQUEST,
            "invalid request: an MCP request id must be a string or an integer, not null",
        )),
        _ => Ok(()),
    }
}

/// True when the request is in the stateless generation; its `_meta` must then name a
/// supported version and carry the client's capabilities.
fn modern_version(params: &Value) -> Result<bool, RpcError> {
    let meta = &params["_meta"];
    let Some(version) = meta.get(META_VERSION) else {
        return Ok(false);
    };
    let Some(version) = version.as_str().filter(|v| *v == MODERN) else {
        return Err(
            RpcError::new(UNSUPPORTED_VERSION, "Unsupported protocol version")
                .with_data(json!({"supported": supported_versions(), "requested": version})),
        );
    };
    if !meta.get(META_CAPABILITIES).is_some_and(Value::is_object) {
        return Err(RpcError::new(
            INVALID_PARAMS,
            format!("`_meta` must carry `{META_CAPABILITIES}` in protocol {version}"),
        ));
    }
    Ok(true)
}

/// A stateless-generation result: marked complete, naming the server.
fn complete(mut result: Value, server_info: Value) -> Value {
    if let Value::Object(object) = &mut result {
        object.insert("resultType".into(), json!("complete"));
        let meta = object
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        meta[META_SERVER_INFO] = server_info;
    }
    result
}

impl Handler for McpServer {
    async fn handle(&self, request: Request, outbox: &super::lines::Outbox) -> Option<Value> {
        if request.method == "notifications/cancelled" {
            self.in_flight.cancel(&request.params["requestId"]);
            // Sent as a request by mistake: answered, so the client does not wait.
            return request.id.map(|id| jsonrpc::response(id, Ok(json!({}))));
        }
        let id = request.id.clone()?;
        // Boxed: the call's future is large, and is moved into whichever wrapper runs it.
        let respond = Box::pin(self.respond(&request));
        // `notifications/progress` for the client's token (if any), while the call runs.
        let forward = McpProgress::of_request(&request.params).map(|mut progress| {
            move |event| {
                if let Some(notification) = progress.notification(event) {
                    let _ = outbox.send(notification);
                }
            }
        });
        let respond = super::progress::forwarding(respond, forward);
        let (outcome, cancelled) = self.in_flight.run(&id, respond).await;
        // MCP: a request the client cancelled gets no response.
        if cancelled {
            return None;
        }
        let outcome = match outcome {
            Ok(Some(result)) => Ok(result),
            Ok(None) => return None,
            Err(error) => Err(error),
        };
        Some(jsonrpc::response(id, outcome))
    }

    fn refuses_batches(&self) -> Option<&'static str> {
        Some(NO_BATCHES)
    }
}
