//! Outbound HTTP: requests to granted URLs only. Covers `wasi:http/outgoing-handler` and
//! `wasi:http/types`.
//!
//! A manifest asks with `[capabilities] http = [...]` and a policy allows with
//! `[plugins.NAME] http = [...]`, in one grammar ([`pattern`]: a URL pattern
//! `scheme://host[:port][/path-prefix]`, optionally with methods); the grant is requested ∩
//! allowed. A component importing `wasi:http` without a grant loads (a hook or tool may
//! only make requests on some paths) and every request it makes is denied with
//! `wasi:http`'s `HTTP-request-denied`, the log naming the grant that is missing.
//!
//! Enforcement happens host side before any byte leaves ([`send`]): the grant, then the
//! policy's `[network]` blocklist on every address the host resolved (an IP-literal URL
//! too), a connection to a checked address, no redirects, no proxy, timeouts within the
//! call's deadline, bodies capped by `[limits] http-body`, and at most
//! [`send::MAX_IN_FLIGHT`] requests open per instance. TLS is rustls with the bundled web
//! PKI roots, plus the policy's `[http] ca` bundle when it names one.

pub mod pattern;
pub mod send;

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use serde::{Deserialize, Serialize};
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::http as wasi_http;
use wasmtime_wasi_http::{WasiHttp, WasiHttpCtx, WasiHttpCtxView};

use self::pattern::HttpRule;
use super::network::Blocklist;
use super::{Capability, Missing, Prepare, Scope};
use crate::store::InstanceState;

pub const NAME: &str = "http";
pub const IMPORTS: &[&str] = &["wasi:http/outgoing-handler", "wasi:http/types"];

/// The http capability (see the module docs).
pub struct Http;

/// Granted entries, the blocklist that applies whatever they say, and the extra CA bundle.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HttpGrant {
    pub entries: Vec<HttpRule>,
    #[serde(skip)]
    pub blocklist: Blocklist,
    #[serde(skip)]
    pub ca: Option<PathBuf>,
}

/// A policy's `[http]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// A PEM file of CA certificates trusted besides the web PKI roots (for private
    /// endpoints); relative to the policy file. Read and checked when the policy is parsed.
    pub ca: Option<PathBuf>,
}

impl HttpSettings {
    /// Anchors `ca` at `base_dir` and checks that it holds at least one PEM certificate.
    pub fn resolve(mut self, base_dir: &Path) -> Result<HttpSettings, String> {
        if let Some(ca) = &self.ca {
            let path = base_dir.join(ca);
            client_config(Some(&path)).map_err(|why| format!("[http] ca: {why}"))?;
            self.ca = Some(path);
        }
        Ok(self)
    }
}

/// One instance's `wasi:http` state: the context and the hooks that send its requests.
pub struct HttpInstance {
    ctx: WasiHttpCtx,
    hooks: send::Hooks,
}

impl Capability for Http {
    const NAME: &'static str = NAME;
    const IMPORTS: &'static [&'static str] = IMPORTS;
    type Request = Vec<HttpRule>;
    type Allow = Vec<HttpRule>;
    type Grant = HttpGrant;
    type Instance = HttpInstance;

    fn grant(
        requests: &Vec<HttpRule>,
        allows: &Vec<HttpRule>,
        scope: &Scope<'_>,
    ) -> (HttpGrant, Vec<Missing>) {
        let covered = |request: &HttpRule| allows.iter().any(|a| a.covers(request));
        let (entries, missing) = super::intersect(NAME, requests, covered, |request| {
            super::policy_line(scope.plugin, NAME, &request.to_toml())
        });
        let grant = HttpGrant {
            entries,
            blocklist: scope.blocklist.clone(),
            ca: scope.policy_http.ca.clone(),
        };
        (grant, missing)
    }

    fn link(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
        wasi_http::outgoing_handler::add_to_linker::<_, WasiHttp>(linker, view)?;
        let options = wasmtime_wasi_http::p2::bindings::LinkOptions::default();
        wasi_http::types::add_to_linker::<_, WasiHttp>(linker, &options.into(), view)
    }

    fn prepare(grant: &HttpGrant, instance: &mut Prepare<'_>) -> wasmtime::Result<HttpInstance> {
        let tls = client_config(grant.ca.as_deref()).map_err(wasmtime::Error::msg)?;
        let hooks = send::Hooks {
            log: instance.log.clone(),
            rules: Arc::from(grant.entries.as_slice()),
            blocklist: Arc::new(grant.blocklist.clone()),
            tls,
            body_cap: instance.limits.http_body_bytes as u64,
            in_flight: Arc::new(tokio::sync::Semaphore::new(send::MAX_IN_FLIGHT)),
            deadline: std::time::Instant::now(),
        };
        Ok(HttpInstance {
            ctx: WasiHttpCtx::new(),
            hooks,
        })
    }

    /// The effective column lists the granted entries (the blocklist is the policy's own
    /// `[network]` section, the CA its `[http]` section).
    fn audit(
        requests: &Vec<HttpRule>,
        allows: &Vec<HttpRule>,
        grant: Option<&HttpGrant>,
    ) -> Option<super::AuditRow> {
        Some(super::AuditRow::new(
            requests,
            allows,
            grant.map(|g| &g.entries),
        ))
    }
}

/// The `wasi:http` view of an instance, with the running call's deadline handed to the
/// hooks (so every request's timeouts fit in what is left of it).
fn view(state: &mut InstanceState) -> WasiHttpCtxView<'_> {
    let http = &mut state.capabilities.http;
    http.hooks.deadline = state.deadline;
    WasiHttpCtxView {
        ctx: &mut http.ctx,
        hooks: &mut http.hooks,
        table: &mut state.table,
    }
}

/// The rustls client configuration for a CA bundle (`None`: the web PKI roots alone),
/// built once per bundle and shared by every instance using it.
fn client_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    type Built = Vec<(Option<PathBuf>, Arc<rustls::ClientConfig>)>;
    static BUILT: LazyLock<Mutex<Built>> = LazyLock::new(Default::default);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, config)) = built.iter().find(|(path, _)| path.as_deref() == ca) {
        return Ok(config.clone());
    }
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca {
        for cert in read_pem(path)? {
            roots.add(cert).map_err(|e| {
                format!(
                    "{}: a certificate is not usable as a CA: {e}",
                    path.display()
                )
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let config = Arc::new(config);
    built.push((ca.map(Path::to_path_buf), config.clone()));
    Ok(config)
}

fn read_pem(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown} is not a PEM certificate bundle: {e}"))?;
    match certs.is_empty() {
        true => Err(format!("{shown} holds no PEM certificate")),
        false => Ok(certs),
    }
}
