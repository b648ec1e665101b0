//! The admin and tool API, `/api/v1/…`. Every route but the OpenAPI document needs a
//! bearer token (`airlock token create`); the token decides the tenant. Admin routes need
//! the admin role; callers reach only their own tenant's tools and hooks. A request may
//! name a tenant with `?tenant=`; naming any other than the token's is refused.
//!
//! | | no token | caller | admin |
//! |---|---|---|---|
//! | `GET /plugins`, `POST /plugins/{name}/enable|disable|reset`, `GET|PUT /plugins/{name}/config`, `GET|PUT /plugins/{name}/tools`, `GET /plugins/{name}/health` | 401 | 403 | ✓ |
//! | `GET /tools`, `POST /tools/{plugin.tool}/call`, `POST /hooks/{kind}` | 401 | ✓ | ✓ |
//! | `GET /plugins/{name}/audit` (the reviewer's report), `GET /plugins/{name}/logs` (server-sent events; [`super::logs`]) | 401 | 403 | ✓ |
//! | `GET /metrics` (the token's tenant's plugins, Prometheus text; [`super::metrics`]) | 401 | 403 | ✓ |
//!
//! A successful `POST /tools/{plugin.tool}/call` answers `{"result": …, "usage":
//! {"duration_ms": 1.2, "fuel": 5130}}` (`fuel` is `null` when no guest code ran); a failed
//! one carries the same `usage` in its error's `details`. The console ([`super::console`])
//! is served beside the API, at `/`.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, JsonQuery, MAX_BODY, bearer_token, read_json};
use crate::registry::{Role, TokenHolder};
use crate::serve::Service;

#[derive(Clone)]
pub(super) struct Api {
    pub(super) service: Service,
    max_body: usize,
    /// Log tails being watched (`GET …/logs`); each holds a connection open.
    pub(super) log_streams: std::sync::Arc<super::logs::Streams>,
}

/// The admin and tool API over `service`'s registry, bodies capped at `max_body` bytes.
pub fn router(service: Service, max_body: usize) -> Router {
    let api = Api {
        service,
        max_body,
        log_streams: std::sync::Arc::default(),
    };
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/plugins", get(list_plugins))
        .route("/api/v1/plugins/{name}/enable", post(enable))
        .route("/api/v1/plugins/{name}/disable", post(disable))
        .route(
            "/api/v1/plugins/{name}/config",
            get(get_config).put(put_config),
        )
        .route(
            "/api/v1/plugins/{name}/tools",
            get(get_tools).put(put_tools),
        )
        .route("/api/v1/plugins/{name}/health", get(health))
        .route("/api/v1/plugins/{name}/audit", get(audit))
        .route("/api/v1/plugins/{name}/logs", get(super::logs::stream))
        .route("/api/v1/plugins/{name}/reset", post(reset))
        .route("/api/v1/tools", get(list_tools))
        .route("/api/v1/tools/{tool}/call", post(call_tool))
        .route("/api/v1/hooks/{kind}", post(dispatch))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(api)
        // The API only: the console's files are public, and a link from another site to
        // the console must open it.
        .layer(axum::middleware::from_fn(super::same_origin))
        .merge(super::console::router())
}

/// [`router`] with the default body cap.
pub fn default_router(service: Service) -> Router {
    router(service, MAX_BODY)
}

#[derive(Deserialize)]
pub(super) struct TenantQuery {
    pub(super) tenant: Option<String>,
}

/// Checks the bearer token: 401 without a valid one, 403 for the wrong role or tenant.
pub(super) async fn authorize(
    api: &Api,
    headers: &HeaderMap,
    query: &TenantQuery,
    admin_only: bool,
) -> Result<TokenHolder, ApiError> {
    let unauthorized = |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why);
    let secret = bearer_token(headers)
        .ok_or_else(|| unauthorized("a bearer token is required (Authorization: Bearer …)"))?;
    let holder = api
        .service
        .registry()
        .token_holder(secret.trim())
        .await
        // The database is out of reach (restarting): a load balancer may retry elsewhere.
        // The details (which name the database) go to the log, not to the client.
        .map_err(|e| {
            tracing::warn!("a token could not be checked: {e}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry",
                "the registry database is unavailable; retry shortly",
            )
        })?
        .ok_or_else(|| unauthorized("the token is not valid"))?;
    if admin_only && holder.role != Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this endpoint needs an admin token",
        ));
    }
    if let Some(tenant) = query.tenant.as_deref().filter(|t| *t != holder.tenant) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the token is for tenant `{}`, not `{tenant}`",
                holder.tenant
            ),
        ));
    }
    Ok(holder)
}

async fn run(api: &Api, method: &str, params: Value) -> Result<axum::Json<Value>, ApiError> {
    api.service
        .call(method, params)
        .await
        .map(axum::Json)
        .map_err(ApiError::from_rpc)
}

/// An admin method about one plugin of the token's tenant.
async fn on_plugin(
    api: &Api,
    headers: &HeaderMap,
    query: &TenantQuery,
    method: &str,
    plugin: String,
) -> Result<axum::Json<Value>, ApiError> {
    let holder = authorize(api, headers, query, true).await?;
    run(
        api,
        method,
        json!({"plugin": plugin, "tenant": holder.tenant}),
    )
    .await
}

/// Refuses a body with keys other than `keys`: the natural mistake is to send the tool's
/// arguments (or the hook's payload) at the top level, which would otherwise reach the
/// plugin as an empty object and fail with a misleading "required property" error.
fn expect_shape(body: &Value, keys: &[&str], wrapper: &str, shape: &str) -> Result<(), ApiError> {
    let unexpected: Vec<&str> = body
        .as_object()
        .map(|o| {
            o.keys()
                .map(String::as_str)
                .filter(|k| !keys.contains(k))
                .collect()
        })
        .unwrap_or_default();
    if unexpected.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad-request",
        format!(
            "the body must be {shape}; it has {}: put the values the plugin gets inside \
             `{wrapper}`",
            unexpected
                .iter()
                .take(5)
                .map(|k| format!("`{}`", airlock::text::escape(k)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// A field of the request body, or its default.
fn field(body: &Value, name: &str, default: Value) -> Value {
    body.get(name).cloned().unwrap_or(default)
}

async fn openapi() -> axum::Json<Value> {
    axum::Json(super::openapi::document())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such endpoint")
}

async fn list_plugins(
    State(api): State<Api>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let holder = authorize(&api, &headers, &query, true).await?;
    run(&api, "plugin/list", json!({"tenant": holder.tenant})).await
}

async fn enable(
    State(api): State<Api>,
    Path(name): Path<String>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, ApiError> {
    let holder = authorize(&api, &headers, &query, true).await?;
    let body = read_json(body, api.max_body).await?;
    let mut params = json!({"plugin": name, "tenant": holder.tenant});
    // Without one, enabling again keeps the stored configuration.
    if let Some(config) = body.get("config") {
        params["config"] = config.clone();
    }
    run(&api, "plugin/enable", params).await
}

async fn disable(
    State(api): State<Api>,
    Path(name): Path<String>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    on_plugin(&api, &headers, &query, "plugin/disable", name).await
}

async fn reset(
    State(api): State<Api>,
    Path(name): Path<String>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    on_plugin(&api, &headers, &query, "plugin/reset", name).await
}

async fn get_config(
    State(api): State<Api>,
    Path(name): Path<String>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    on_plugin(&api, &headers, &query, "plugin/config/get", name).await
}

async fn put_config(
    State(api): State<Api>,
    Path(name): Path<String>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, ApiError> {
    let holder = authorize(&api, &headers, &query, true).await?;
    let config = read_json(body, api.max_body).await?;
    let params = json!({"plugin": name, "tenant": holder.tenant, "config": config});
    run(&api, "plugin/config/set", params).await
}

async fn get_tools(
    State(api): State<Api>,
    Path(name): Path<String>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    on_plugin(&api, &headers, &query, "plugin/tools/get", name).await
}

/// `PUT …/tools` with `{"allow": […], "deny": […]}`: the tenant's view of the tools.
async fn put_tools(
    State(api): State<Api>,
    Path(name): Path<String>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, ApiError> {
    let holder = authorize(&api, &headers, &query, true).await?;
    let body = read_json(body, api.max_body).await?;
    let shaped = body
        .as_object()
        .is_some_and(|o| o.keys().all(|k| k == "allow" || k == "deny"));
    if !shaped {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            r#"the body must be {"allow": ["add", "sub*"], "deny": ["rm*"]} (both optional)"#,
        ));
    }
    let params = json!({
        "plugin": name,
        "tenant": holder.tenant,
        "allow": field(&body, "allow", json!([])),
        "deny": field(&body, "deny", json!([])),
    });
    run(&api, "plugin/tools/set", params).await
}

async fn health(
    State(api): State<Api>,
    Path(name): Path<String>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    on_plugin(&api, &headers, &query, "plugin/health", name).await
}

async fn audit(
    State(api): State<Api>,
    Path(name): Path<String>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    on_plugin(&api, &headers, &query, "plugin/audit", name).await
}

async fn metrics(
    State(api): State<Api>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let holder = authorize(&api, &headers, &query, true).await?;
    let text = super::metrics::render(api.service.registry(), &holder.tenant);
    let content_type = [(
        axum::http::header::CONTENT_TYPE,
        super::metrics::CONTENT_TYPE,
    )];
    Ok(axum::response::IntoResponse::into_response((
        content_type,
        text,
    )))
}

async fn list_tools(
    State(api): State<Api>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let holder = authorize(&api, &headers, &query, false).await?;
    run(&api, "tool/list", json!({"tenant": holder.tenant})).await
}

async fn call_tool(
    State(api): State<Api>,
    Path(tool): Path<String>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, ApiError> {
    let holder = authorize(&api, &headers, &query, false).await?;
    let body = read_json(body, api.max_body).await?;
    expect_shape(
        &body,
        &["arguments", "session"],
        "arguments",
        r#"{"arguments": {…}, "session": "…"}"#,
    )?;
    let mut params = json!({
        "tool": tool,
        "tenant": holder.tenant,
        "arguments": field(&body, "arguments", json!({})),
    });
    if let Some(session) = body.get("session") {
        params["session"] = session.clone();
    }
    // Timed and metered here, where the console's method invoker reads it: the time the
    // call took in the host (queueing for an instance included) and the fuel it burnt.
    let started = std::time::Instant::now();
    let (outcome, fuel) = airlock::plugin::metered(run(&api, "tool/call", params)).await;
    let usage = json!({"duration_ms": started.elapsed().as_secs_f64() * 1e3, "fuel": fuel});
    match outcome {
        Ok(result) => Ok(axum::Json(json!({"result": result.0, "usage": usage}))),
        Err(mut error) => {
            if let Some(details) = error.details.as_mut().and_then(Value::as_object_mut) {
                details.insert("usage".into(), usage);
            }
            Err(error)
        }
    }
}

async fn dispatch(
    State(api): State<Api>,
    Path(kind): Path<String>,
    JsonQuery(query): JsonQuery<TenantQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, ApiError> {
    let holder = authorize(&api, &headers, &query, false).await?;
    let body = read_json(body, api.max_body).await?;
    expect_shape(
        &body,
        &["payload", "session"],
        "payload",
        r#"{"payload": {…}, "session": "…"}"#,
    )?;
    let mut params = json!({
        "kind": kind,
        "tenant": holder.tenant,
        "payload": field(&body, "payload", json!({})),
    });
    if let Some(session) = body.get("session") {
        params["session"] = session.clone();
    }
    run(&api, "hook/dispatch", params).await
}
