//! `airlock push`: a plugin folder published as an OCI artifact (see the [module
//! docs](super)).

use std::path::Path;

use oci_client::RegistryOperation;
use serde_json::json;

use super::{
    Auth, MANIFEST_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, OciError, OciOptions, OciRef,
    SCHEMA_MEDIA_TYPE, SIGNATURE_MEDIA_TYPE, TITLE_ANNOTATION, WASM_CONFIG_MEDIA_TYPE,
    WASM_LAYER_MEDIA_TYPE, client_error, oci_digest,
};
use airlock::digest::Sha256;
use airlock::folder::plugin_dir;
use airlock::manifest::{self, Manifest};
use airlock::trust::{MAX_SIGNATURE_BYTES, SIGNATURE_FILE};
use airlock::{LoadError, Runtime};

/// What [`push`] published.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The reference pushed to, as given.
    pub reference: OciRef,
    /// The OCI manifest's digest (`sha256:…`): `reference` pinned to exactly this upload is
    /// `reference.at_digest(&digest)`.
    pub digest: String,
    /// True when the folder's signature went along.
    pub signed: bool,
}

/// One blob to upload, with the file name it had in the folder.
struct Layer {
    media_type: &'static str,
    title: String,
    bytes: Vec<u8>,
}

/// Publishes the plugin folder at `path` to `target`. The folder must pin its component
/// (`sha256` matching the bytes); its signature and `[config] schema-file` go along when
/// it has them. `runtime` checks that the component is one (and lists its imports and
/// exports for the config blob, as `wkg` does).
pub async fn push(
    runtime: &Runtime,
    path: &Path,
    target: &OciRef,
    auth: &Auth,
    options: &OciOptions,
) -> Result<Pushed, OciError> {
    let what = format!("pushing to {target}");
    tokio::time::timeout(
        options.timeout,
        push_inner(runtime, path, target, auth, options),
    )
    .await
    .map_err(|_| OciError::Timeout {
        what,
        budget: options.timeout,
    })?
}

async fn push_inner(
    runtime: &Runtime,
    path: &Path,
    target: &OciRef,
    auth: &Auth,
    options: &OciOptions,
) -> Result<Pushed, OciError> {
    let dir = plugin_dir(path);
    let (manifest, layers) = read_folder(&dir)?;
    let signed = layers.iter().any(|l| l.media_type == SIGNATURE_MEDIA_TYPE);
    // `read_folder` checked that the manifest's pin is the component's digest.
    let pin = manifest.plugin.sha256;
    let component = runtime
        .compile(layers[0].bytes.clone(), pin, &dir.display().to_string())
        .await?;
    let config = config_blob(runtime, &component, &manifest, &layers);
    let client = options.client(target);
    let registry_auth = auth.to_registry_auth();
    client
        .auth(&target.reference, &registry_auth, RegistryOperation::Push)
        .await
        .map_err(|e| client_error(target, e))?;
    for bytes in layers.iter().map(|l| &l.bytes).chain([&config]) {
        client
            .push_blob(&target.reference, bytes.clone(), &oci_digest(bytes))
            .await
            .map_err(|e| client_error(target, e))?;
    }
    let body = serde_json::to_vec(&oci_manifest(&manifest, &layers, &config))
        .expect("a JSON value serialises");
    client
        .push_manifest_raw(
            &target.reference,
            body.clone(),
            reqwest::header::HeaderValue::from_static(OCI_MANIFEST_MEDIA_TYPE),
        )
        .await
        .map_err(|e| client_error(target, e))?;
    Ok(Pushed {
        reference: target.clone(),
        digest: oci_digest(&body),
        signed,
    })
}

/// The folder's files as layers, component first; refuses an unpinned or mismatched pin.
fn read_folder(dir: &Path) -> Result<(Manifest, Vec<Layer>), OciError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| OciError::Io(format!("{}: {e}", path.display())))
    };
    let manifest_path = dir.join(manifest::FILE_NAME);
    let manifest_bytes = read(&manifest_path)?;
    let manifest = Manifest::parse(&String::from_utf8_lossy(&manifest_bytes), &manifest_path)?;
    let name = manifest.plugin.name.clone();
    let component = read(&dir.join(&manifest.plugin.component))?;
    let actual = Sha256::of(&component);
    match &manifest.plugin.sha256 {
        None => {
            return Err(LoadError::Unpinned {
                plugin: name,
                actual: actual.to_string(),
            }
            .into());
        }
        Some(expected) if *expected != actual => {
            return Err(LoadError::DigestMismatch {
                plugin: name,
                expected: expected.to_string(),
                actual: actual.to_string(),
            }
            .into());
        }
        Some(_) => {}
    }
    let title = |p: &Path| p.display().to_string();
    let mut layers = vec![
        Layer {
            media_type: WASM_LAYER_MEDIA_TYPE,
            title: title(&manifest.plugin.component),
            bytes: component,
        },
        Layer {
            media_type: MANIFEST_MEDIA_TYPE,
            title: manifest::FILE_NAME.into(),
            bytes: manifest_bytes,
        },
    ];
    let signature = dir.join(SIGNATURE_FILE);
    if signature.is_file() {
        let bytes = read(&signature)?;
        if bytes.len() as u64 > MAX_SIGNATURE_BYTES {
            return Err(OciError::TooLarge {
                what: signature.display().to_string(),
                size: bytes.len() as u64,
                limit: MAX_SIGNATURE_BYTES,
            });
        }
        layers.push(Layer {
            media_type: SIGNATURE_MEDIA_TYPE,
            title: SIGNATURE_FILE.into(),
            bytes,
        });
    }
    if let Some(schema) = &manifest.config.schema_file {
        layers.push(Layer {
            media_type: SCHEMA_MEDIA_TYPE,
            title: title(schema),
            bytes: read(&dir.join(schema))?,
        });
    }
    Ok((manifest, layers))
}

/// The config blob in the wasm-component convention (`oci-wasm`'s `WasmConfig`).
fn config_blob(
    runtime: &Runtime,
    component: &wasmtime::component::Component,
    manifest: &Manifest,
    layers: &[Layer],
) -> Vec<u8> {
    let engine = runtime.engine();
    let exports = airlock::component::export_names(engine, component);
    // What it implements: an `airlock:plugin` version, or the host contracts it declares.
    let target = match airlock::component::airlock_package(&exports) {
        Some(package) => json!(package),
        None => json!(manifest.plugin.contract),
    };
    let config = json!({
        "created": rfc3339_now(),
        "author": Some(&manifest.plugin.author).filter(|a| !a.is_empty()),
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": layers.iter().map(|l| oci_digest(&l.bytes)).collect::<Vec<_>>(),
        "component": {
            "exports": exports,
            "imports": airlock::component::import_names(engine, component),
            "target": target,
        },
    });
    serde_json::to_vec(&config).expect("a JSON value serialises")
}

/// The OCI image manifest for `layers` and `config`.
fn oci_manifest(manifest: &Manifest, layers: &[Layer], config: &[u8]) -> serde_json::Value {
    let plugin = &manifest.plugin;
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": WASM_CONFIG_MEDIA_TYPE,
            "digest": oci_digest(config),
            "size": config.len(),
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type,
            "digest": oci_digest(&l.bytes),
            "size": l.bytes.len(),
            "annotations": {TITLE_ANNOTATION: l.title},
        })).collect::<Vec<_>>(),
        "annotations": {
            TITLE_ANNOTATION: plugin.name,
            "org.opencontainers.image.version": plugin.version.to_string(),
            "org.opencontainers.image.description": plugin.description,
        },
    })
}

/// Now in RFC 3339 (UTC, whole seconds), without a date-time crate.
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_rfc3339() {
        let now = super::rfc3339_now();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
    }
}
