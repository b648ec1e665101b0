//! `victor-host`: Victor's workflow compilers (a Python workflow tool's plugins registered
//! for URI schemes) served by Airlock plugins. [`Compilers`] resolves `json://…` /
//! `yaml://…` to the plugin a tenant has enabled for that scheme (the registry's routing:
//! contract [`CONTRACT`], routing key = the scheme), calls its `compile`, and caches the
//! compiled workflow under the plugin's `cache-key` ([`cache`]).
//!
//! ```no_run
//! # async fn run(registry: std::sync::Arc<airlock_server::registry::Registry>) -> Result<(), victor_host::VictorError> {
//! let compilers = victor_host::Compilers::new(registry, "acme").workflows_dir("workflows/")?;
//! let compiled = compilers.compile("yaml://support.yaml", None, true).await?;
//! println!("{} starts at {}", compiled.workflow.name, compiled.workflow.entry);
//! # Ok(()) }
//! ```
//!
//! A URI names a file in the workflows folder the host owns ([`source`]): the host reads it
//! and the plugin compiles text. So the plugins need no filesystem grant at all, the host
//! alone decides which files are reachable, and the cache key covers the content (an
//! edited file is a miss). Sources that are not files (a database row, a request body) go
//! through [`Compilers::compile_source`] with the scheme named.

pub mod cache;
pub mod source;
pub mod workflow;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use airlock::{CallContext, CallError, Plugin};
use airlock_server::registry::Registry;
use serde_json::{Value, json};

pub use cache::{CacheLimits, CacheStats};
pub use workflow::{CompiledWorkflow, Edge, Metadata, Node, NodeKind};

use cache::{Cache, CacheKey};

/// The contract every workflow-compiler plugin implements (`examples/systems/victor/wit`).
pub const CONTRACT: &str = "victor:workflow/compiler@0.1.0";

/// Why a workflow did not compile. Text that came from a plugin is escaped
/// ([`airlock::text::escape`]) before it is kept here.
#[derive(Debug, thiserror::Error)]
pub enum VictorError {
    #[error("`{uri}` is not a workflow URI: {problem}")]
    BadUri { uri: String, problem: String },

    #[error(
        "no enabled plugin serves `{scheme}://` ({CONTRACT}) for this tenant; schemes served: {}",
        if served.is_empty() { "none (enable a plugin whose manifest declares the contract and the scheme in `keys`)".to_string() } else { served.join(", ") }
    )]
    UnknownScheme { scheme: String, served: Vec<String> },

    #[error("workflow source `{path}` {problem}")]
    Source { path: String, problem: String },

    #[error("the workflows folder {path} cannot be used: {problem}")]
    WorkflowsDir { path: PathBuf, problem: String },

    /// The plugin's own `compile-error`: `code` 400 syntax, 404 no such workflow, 422 not a
    /// valid workflow; `line` and `column` are 1-based.
    #[error("{scheme}:// ({plugin}) error {code}{}: {message}", at(*line, *column))]
    Compile {
        scheme: String,
        plugin: String,
        code: u32,
        message: String,
        line: Option<u32>,
        column: Option<u32>,
    },

    /// The call itself failed: a trap, a limit, a busy pool, a bad answer.
    #[error("{scheme}:// ({plugin}): {source}")]
    Call {
        scheme: String,
        plugin: String,
        source: Box<CallError>,
    },
}

fn at(line: Option<u32>, column: Option<u32>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

/// A compiled workflow and where it came from.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub workflow: Arc<CompiledWorkflow>,
    /// The plugin that compiled it.
    pub plugin: String,
    /// True when it came from the cache (the plugin's `compile` did not run).
    pub cache_hit: bool,
}

/// Compiles workflow sources for one tenant through the plugins enabled for it.
pub struct Compilers {
    registry: Arc<Registry>,
    tenant: String,
    workflows: Option<PathBuf>,
    cache: Mutex<Cache>,
}

impl Compilers {
    /// Compilers for `tenant`'s enabled plugins, with the default cache limits and no
    /// workflows folder (only [`Compilers::compile_source`] until one is set).
    pub fn new(registry: Arc<Registry>, tenant: impl Into<String>) -> Compilers {
        Compilers {
            registry,
            tenant: tenant.into(),
            workflows: None,
            cache: Mutex::new(Cache::new(CacheLimits::default())),
        }
    }

    /// The folder `SCHEME://PATH` URIs are resolved in.
    ///
    /// # Errors
    /// [`VictorError::WorkflowsDir`] when it does not exist or is not a folder.
    pub fn workflows_dir(mut self, dir: impl Into<PathBuf>) -> Result<Compilers, VictorError> {
        let path = dir.into();
        let fail = |problem: String| VictorError::WorkflowsDir {
            path: path.clone(),
            problem,
        };
        let canonical = path.canonicalize().map_err(|e| fail(e.to_string()))?;
        if !canonical.is_dir() {
            return Err(fail("not a folder".into()));
        }
        self.workflows = Some(canonical);
        Ok(self)
    }

    /// Replaces the cache by an empty one with `limits`.
    pub fn cache_limits(self, limits: CacheLimits) -> Compilers {
        Compilers {
            cache: Mutex::new(Cache::new(limits)),
            ..self
        }
    }

    /// The cache's hits, misses, evictions and size.
    pub fn stats(&self) -> CacheStats {
        self.cache().stats()
    }

    /// The schemes the tenant's enabled compilers serve, sorted.
    pub fn schemes(&self) -> Vec<String> {
        let mut schemes: Vec<String> = self
            .registry
            .providers(&self.tenant, CONTRACT, None)
            .iter()
            .flat_map(|p| p.keys().to_vec())
            .collect();
        schemes.sort();
        schemes.dedup();
        schemes
    }

    /// Compiles workflow `workflow_name` (the only one when `None`) of the file `uri`
    /// (`SCHEME://PATH`) names in the workflows folder.
    ///
    /// # Errors
    /// A bad URI, a path outside the folder or unreadable, a scheme no enabled plugin
    /// serves, the plugin's [`VictorError::Compile`], or a failed call.
    pub async fn compile(
        &self,
        uri: &str,
        workflow_name: Option<&str>,
        validate: bool,
    ) -> Result<Compiled, VictorError> {
        let (scheme, path) = source::split_uri(uri)?;
        let root = self.workflows.as_ref().ok_or_else(|| VictorError::Source {
            path: airlock::text::escape(path).into_owned(),
            problem: "cannot be read: no workflows folder is set (Compilers::workflows_dir)".into(),
        })?;
        // Route first: an unknown scheme is reported as such, whatever the path.
        self.provider(scheme)?;
        let text = source::read_in(root, path)?;
        self.compile_source(scheme, &text, workflow_name, validate)
            .await
    }

    /// Compiles `source` (the text itself) with the plugin serving `scheme`. Asks the
    /// plugin for its `cache-key` first; a cached workflow under it (same plugin version and
    /// component digest, workflow name and `validate`) is returned without calling
    /// `compile`. Two concurrent
    /// compiles of a source not yet cached both call `compile` (no lock is held across the
    /// call, so one slow plugin never holds up the others).
    ///
    /// # Errors
    /// As [`Compilers::compile`], but for reading a file.
    pub async fn compile_source(
        &self,
        scheme: &str,
        source: &str,
        workflow_name: Option<&str>,
        validate: bool,
    ) -> Result<Compiled, VictorError> {
        let plugin = self.provider(scheme)?;
        let call = Call {
            plugin: &plugin,
            scheme,
            tenant: &self.tenant,
        };
        let source_key = call.run("cache-key", json!({ "source": source })).await?;
        let key = CacheKey {
            plugin: plugin.name().to_string(),
            version: plugin.metadata().version.to_string(),
            component: plugin.digest(),
            source_key: airlock::digest::Sha256::of(source_key.to_string().as_bytes()),
            workflow_name: workflow_name.map(str::to_string),
            validate,
        };
        let cached = self.cache().get(&key);
        if let Some(workflow) = cached {
            return Ok(Compiled {
                workflow,
                plugin: plugin.name().to_string(),
                cache_hit: true,
            });
        }
        let arguments =
            json!({ "source": source, "workflow-name": workflow_name, "validate": validate });
        let answer = call.run("compile", arguments).await?;
        let bytes = answer.to_string().len();
        let workflow: CompiledWorkflow =
            serde_json::from_value(answer).map_err(|e| call.protocol(e.to_string()))?;
        let workflow = Arc::new(workflow);
        self.cache().insert(key, workflow.clone(), bytes);
        Ok(Compiled {
            workflow,
            plugin: plugin.name().to_string(),
            cache_hit: false,
        })
    }

    /// The plugin's `validate-source`: true when `source` parses as `scheme`'s format.
    ///
    /// # Errors
    /// An unknown scheme or a failed call.
    pub async fn validate_source(&self, scheme: &str, source: &str) -> Result<bool, VictorError> {
        let plugin = self.provider(scheme)?;
        let call = Call {
            plugin: &plugin,
            scheme,
            tenant: &self.tenant,
        };
        let answer = call
            .run("validate-source", json!({ "source": source }))
            .await?;
        answer
            .as_bool()
            .ok_or_else(|| call.protocol(format!("expected a bool, got {answer}")))
    }

    /// The enabled plugin serving `scheme`; when several do, the first by name.
    fn provider(&self, scheme: &str) -> Result<Plugin, VictorError> {
        self.registry
            .providers(&self.tenant, CONTRACT, Some(scheme))
            .into_iter()
            .next()
            .ok_or_else(|| VictorError::UnknownScheme {
                scheme: scheme.to_string(),
                served: self.schemes(),
            })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One call of a compiler plugin's export, its failures in [`VictorError`] terms.
struct Call<'a> {
    plugin: &'a Plugin,
    scheme: &'a str,
    tenant: &'a str,
}

impl Call<'_> {
    /// Calls export `function` (a tool named by function, as Airlock lists a custom
    /// world's exports); a `compile-error` becomes [`VictorError::Compile`].
    async fn run(&self, function: &str, arguments: Value) -> Result<Value, VictorError> {
        let context = CallContext::for_tenant(self.tenant);
        match self.plugin.call_tool(function, &arguments, &context).await {
            Ok(answer) => Ok(answer),
            Err(CallError::Plugin {
                code,
                message,
                details,
                ..
            }) => {
                let field = |name: &str| {
                    details
                        .as_ref()
                        .and_then(|d| d[name].as_u64())
                        .and_then(|n| u32::try_from(n).ok())
                };
                Err(VictorError::Compile {
                    scheme: self.scheme.to_string(),
                    plugin: self.plugin.name().to_string(),
                    code,
                    message: airlock::text::escape(&message).into_owned(),
                    line: field("line"),
                    column: field("column"),
                })
            }
            Err(source) => Err(VictorError::Call {
                scheme: self.scheme.to_string(),
                plugin: self.plugin.name().to_string(),
                source: Box::new(source),
            }),
        }
    }

    /// An answer that does not have the contract's shape.
    fn protocol(&self, problem: String) -> VictorError {
        VictorError::Call {
            scheme: self.scheme.to_string(),
            plugin: self.plugin.name().to_string(),
            source: Box::new(CallError::Protocol {
                plugin: self.plugin.name().to_string(),
                reason: format!("its answer does not match {CONTRACT}: {problem}"),
            }),
        }
    }
}
