//! Plugins in OCI registries (feature `oci`): [`push`] publishes a plugin folder as an OCI
//! artifact, [`pull`] fetches one into a content-addressed folder, checked before anything
//! is written in place.
//!
//! The artifact follows the wasm-component convention of `wkg` / `oci-wasm`: an OCI image
//! manifest whose config is `application/vnd.wasm.config.v0+json` and whose first layer is
//! the component, `application/wasm`. Airlock adds the plugin's `airlock.toml`
//! ([`MANIFEST_MEDIA_TYPE`]), its signature when it has one ([`SIGNATURE_MEDIA_TYPE`]) and
//! its `[config] schema-file` when it names one ([`SCHEMA_MEDIA_TYPE`]) as further layers,
//! each titled with its file name (`org.opencontainers.image.title`).
//!
//! Everything the registry sends is hostile input: the manifest is read up to
//! [`OciOptions::max_manifest_bytes`], each layer up to [`OciOptions::max_layer_bytes`],
//! the whole pull within [`OciOptions::timeout`]; every layer's sha256 is checked against
//! the manifest, and a reference by digest against the manifest itself.

mod auth;
mod pull;
mod push;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use oci_client::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};

pub use auth::Auth;
pub use pull::{Pulled, pull};
pub use push::{Pushed, push};

/// Media type of the OCI image manifest.
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of the config blob (the wasm-component convention).
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the component layer.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Media type of the `airlock.toml` layer.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.airlock.plugin.manifest.v1+toml";
/// Media type of the `airlock.toml.minisig` layer.
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.airlock.plugin.signature.v1+minisign";
/// Media type of the `[config] schema-file` layer.
pub const SCHEMA_MEDIA_TYPE: &str = "application/schema+json";
/// The annotation naming a layer's file.
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// A plugin's place in a registry: `oci://HOST[:PORT]/REPO:TAG` or `oci://HOST/REPO@sha256:…`.
#[derive(Debug, Clone, PartialEq)]
pub struct OciRef {
    pub(crate) reference: Reference,
}

impl FromStr for OciRef {
    type Err = OciError;

    fn from_str(text: &str) -> Result<OciRef, OciError> {
        let bad = |why: String| OciError::BadReference {
            reference: text.to_string(),
            reason: why,
        };
        let rest = text
            .strip_prefix("oci://")
            .ok_or_else(|| bad("it must start with `oci://`".into()))?;
        let host = rest.split_once('/').map(|(host, _)| host);
        if !host.is_some_and(|h| h.contains(['.', ':']) || h == "localhost") {
            return Err(bad(
                "name the registry host, e.g. oci://registry.example:5000/repo:tag".into(),
            ));
        }
        let reference: Reference = rest.parse().map_err(|e| bad(format!("{e}")))?;
        Ok(OciRef { reference })
    }
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}", self.reference.whole())
    }
}

impl OciRef {
    /// The registry host (and port).
    pub fn registry(&self) -> &str {
        self.reference.registry()
    }

    /// The same repository at `digest` (`sha256:…`).
    pub fn at_digest(&self, digest: &str) -> OciRef {
        OciRef {
            reference: Reference::with_digest(
                self.reference.registry().to_string(),
                self.reference.repository().to_string(),
                digest.to_string(),
            ),
        }
    }

    /// The digest the reference pins, if it is by digest.
    pub fn digest(&self) -> Option<&str> {
        self.reference.digest()
    }
}

/// Bounds and transport for one push or pull.
#[derive(Debug, Clone)]
pub struct OciOptions {
    /// Largest OCI manifest accepted, in bytes (default 256 KiB; a plugin's is about 1 KiB).
    pub max_manifest_bytes: usize,
    /// Largest layer accepted, in bytes (default 256 MiB).
    pub max_layer_bytes: u64,
    /// Most layers an artifact may have (default 8).
    pub max_layers: usize,
    /// The whole push or pull must finish within this (default 5 minutes).
    pub timeout: Duration,
    /// Connecting to the registry must take at most this (default 10 s).
    pub connect_timeout: Duration,
    /// Each read from the registry must make progress within this (default 30 s).
    pub read_timeout: Duration,
    /// Registries spoken to over plain HTTP. Loopback hosts always are (a local test or
    /// mirror registry); others only when listed (`$AIRLOCK_INSECURE_REGISTRIES`).
    pub plain_http: Vec<String>,
}

impl Default for OciOptions {
    fn default() -> Self {
        OciOptions {
            max_manifest_bytes: 256 * 1024,
            max_layer_bytes: 256 << 20,
            max_layers: 8,
            timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            plain_http: Vec::new(),
        }
    }
}

impl OciOptions {
    /// The defaults, with `$AIRLOCK_INSECURE_REGISTRIES` (comma-separated `host[:port]`)
    /// spoken to over plain HTTP.
    pub fn from_env() -> OciOptions {
        let plain_http = std::env::var("AIRLOCK_INSECURE_REGISTRIES")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        OciOptions {
            plain_http,
            ..OciOptions::default()
        }
    }

    /// True when `registry` is spoken to over plain HTTP.
    pub(crate) fn is_plain_http(&self, registry: &str) -> bool {
        self.plain_http.iter().any(|h| h == registry) || is_loopback(registry)
    }

    /// An OCI client for `reference`'s registry with these timeouts.
    pub(crate) fn client(&self, reference: &OciRef) -> oci_client::Client {
        install_crypto_provider();
        let registry = reference.registry().to_string();
        let protocol = match self.is_plain_http(&registry) {
            true => ClientProtocol::HttpsExcept(vec![registry]),
            false => ClientProtocol::Https,
        };
        oci_client::Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(self.connect_timeout),
            read_timeout: Some(self.read_timeout),
            ..ClientConfig::default()
        })
    }
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// rustls with the ring provider (no C toolchain, no OpenSSL); once per process.
fn install_crypto_provider() {
    // Already installed (by us or the embedder) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why a push or pull failed. Nothing is left half-installed: a failed pull removes what
/// it wrote.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("`{reference}` is not a usable OCI reference: {reason}")]
    BadReference { reference: String, reason: String },

    #[error("registry {reference}: {message}")]
    Registry { reference: String, message: String },

    /// The registry answered 401/403. `detail` is the registry's or client's wording, which
    /// never holds the credentials (they travel in headers only).
    #[error(
        "registry {reference} refused access ({detail}); give credentials for {registry}: \
         AIRLOCK_REGISTRY_USERNAME + AIRLOCK_REGISTRY_PASSWORD, AIRLOCK_REGISTRY_TOKEN, or an \
         `auths` entry in $DOCKER_CONFIG/config.json (default ~/.docker/config.json)"
    )]
    AccessDenied {
        reference: String,
        registry: String,
        detail: String,
    },

    #[error("{what} took longer than {budget:?}; gave up (nothing was installed)")]
    Timeout { what: String, budget: Duration },

    #[error("{what} is {size} bytes, over the limit of {limit}; refused")]
    TooLarge { what: String, size: u64, limit: u64 },

    #[error(
        "{what} does not match its digest: the registry manifest says {expected}, the bytes \
         are {actual} (altered in the registry or in transit); refused"
    )]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    #[error("{reference} is not an Airlock plugin artifact: {reason}")]
    Malformed { reference: String, reason: String },

    #[error("{0}")]
    Io(String),

    #[error(transparent)]
    Manifest(#[from] airlock::manifest::ManifestError),

    #[error(transparent)]
    Trust(#[from] airlock::trust::TrustError),

    #[error(transparent)]
    Load(#[from] airlock::LoadError),
}

impl OciError {
    pub(crate) fn registry(reference: &OciRef, error: impl fmt::Display) -> OciError {
        OciError::Registry {
            reference: reference.to_string(),
            message: error.to_string(),
        }
    }

    pub(crate) fn access_denied(reference: &OciRef, detail: impl fmt::Display) -> OciError {
        OciError::AccessDenied {
            reference: reference.to_string(),
            registry: reference.registry().to_string(),
            detail: detail.to_string().trim().to_string(),
        }
    }
}

/// An OCI client error, worded for the operator.
pub(crate) fn client_error(
    reference: &OciRef,
    error: oci_client::errors::OciDistributionError,
) -> OciError {
    use oci_client::errors::OciDistributionError as E;
    let denied = match &error {
        E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => true,
        E::ServerError { code, .. } => matches!(code, 401 | 403),
        E::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                oci_client::errors::OciErrorCode::Unauthorized
                    | oci_client::errors::OciErrorCode::Denied
            )
        }),
        _ => false,
    };
    match error {
        E::RequestError(e) => request_error(reference, e),
        other if denied => OciError::access_denied(reference, other),
        other => OciError::registry(reference, other),
    }
}

/// A transport error, worded for the operator, with its causes.
pub(crate) fn request_error(reference: &OciRef, error: reqwest::Error) -> OciError {
    let mut causes = String::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        causes.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    let message = if error.is_connect() {
        format!(
            "cannot connect to {} (is the registry running and reachable?){causes}",
            reference.registry()
        )
    } else if error.is_timeout() {
        format!("the registry did not answer in time{causes}")
    } else {
        format!("{error}{causes}")
    };
    OciError::registry(reference, message)
}

/// Hex sha256 with the `sha256:` prefix, as OCI digests are written.
pub(crate) fn oci_digest(bytes: &[u8]) -> String {
    airlock::digest::Sha256::of(bytes).oci()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_a_registry_and_loopback_is_plain_http() {
        let r: OciRef = "oci://127.0.0.1:5000/plugins/calc:1.0".parse().unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/plugins/calc:1.0");
        assert!(OciOptions::default().is_plain_http(r.registry()));
        assert!(!OciOptions::default().is_plain_http("registry.example:443"));
        let err = "127.0.0.1:5000/calc:1".parse::<OciRef>().unwrap_err();
        assert!(err.to_string().contains("oci://"), "{err}");
        let err = "oci://calc:1".parse::<OciRef>().unwrap_err();
        assert!(err.to_string().contains("registry host"), "{err}");
    }
}
