//! `airlock plugins install oci://…`: an artifact pulled into a content-addressed folder
//! (`STORE/NAME/DIGEST`). Everything is checked in a staging folder first — manifest size,
//! layer sizes and digests, the signature under `[trust]`, the component pin — and only then
//! moved into place, so a failure or a timeout leaves nothing behind.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use oci_client::RegistryOperation;
use oci_client::manifest::{OciDescriptor, OciImageManifest};

use super::{
    Auth, MANIFEST_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, OciError, OciOptions, OciRef,
    SCHEMA_MEDIA_TYPE, SIGNATURE_MEDIA_TYPE, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE,
    client_error, oci_digest, request_error,
};
use airlock::LoadError;
use airlock::digest::Sha256;
use airlock::folder::SOURCE_FILE;
use airlock::manifest::{self, Manifest};
use airlock::trust::{self, MAX_SIGNATURE_BYTES, SIGNATURE_FILE, SignatureInfo, TrustPolicy};

/// Largest config blob read, in bytes.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// What [`pull`] installed.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The folder, `STORE/NAME/HEX-DIGEST`, ready to install or load.
    pub dir: PathBuf,
    /// The reference as given (a tag or a digest).
    pub reference: OciRef,
    /// The OCI manifest digest the reference resolved to (`sha256:…`).
    pub digest: String,
    pub name: String,
    pub version: String,
    /// The verified signature, when the artifact carried one.
    pub signature: Option<SignatureInfo>,
}

/// Pulls the plugin at `source` into `store` under `trust` (see the [module docs](self)).
pub async fn pull(
    source: &OciRef,
    store: &Path,
    trust: &TrustPolicy,
    auth: &Auth,
    options: &OciOptions,
) -> Result<Pulled, OciError> {
    let what = format!("pulling {source}");
    tokio::time::timeout(
        options.timeout,
        pull_inner(source, store, trust, auth, options),
    )
    .await
    .map_err(|_| OciError::Timeout {
        what,
        budget: options.timeout,
    })?
}

async fn pull_inner(
    source: &OciRef,
    store: &Path,
    trust: &TrustPolicy,
    auth: &Auth,
    options: &OciOptions,
) -> Result<Pulled, OciError> {
    let client = options.client(source);
    let token = client
        .auth(
            &source.reference,
            &auth.to_registry_auth(),
            RegistryOperation::Pull,
        )
        .await
        .map_err(|e| client_error(source, e))?;
    let body = fetch_manifest(source, token.as_deref(), auth, options).await?;
    let digest = oci_digest(&body);
    if let Some(pinned) = source.digest().filter(|d| *d != digest) {
        return Err(OciError::DigestMismatch {
            what: format!("the OCI manifest of {source}"),
            expected: pinned.to_string(),
            actual: digest,
        });
    }
    let layers = Layers::of(source, &body, options)?;
    let staging = Staging::new(store)?;
    let max = options.max_layer_bytes;
    fetch_blob(&client, source, &layers.config, MAX_CONFIG_BYTES).await?;
    let manifest_bytes = fetch_blob(&client, source, &layers.manifest, max).await?;
    let manifest = write_manifest(&staging.dir, &manifest_bytes, source)?;
    let component = fetch_blob(&client, source, &layers.component, max).await?;
    write(&staging.dir.join(&manifest.plugin.component), &component)?;
    if let Some(signature) = &layers.signature {
        let bytes = fetch_blob(&client, source, signature, MAX_SIGNATURE_BYTES).await?;
        write(&staging.dir.join(SIGNATURE_FILE), &bytes)?;
    }
    if let (Some(schema), Some(file)) = (&layers.schema, &manifest.config.schema_file) {
        let bytes = fetch_blob(&client, source, schema, max).await?;
        write(&staging.dir.join(file), &bytes)?;
    }
    let signed = trust::Signed {
        plugin: &manifest.plugin.name,
        manifest_bytes: &manifest_bytes,
        pinned: manifest.plugin.sha256.as_ref(),
        component_digest: &Sha256::of(&component),
    };
    let signature = check_folder(&staging.dir, &signed, trust)?;
    let source_json = serde_json::json!({
        "reference": source.to_string(),
        "digest": digest,
        "resolved": source.at_digest(&digest).to_string(),
    });
    write(
        &staging.dir.join(SOURCE_FILE),
        source_json.to_string().as_bytes(),
    )?;
    let dir = staging.commit(&manifest.plugin.name, &digest)?;
    Ok(Pulled {
        dir,
        reference: source.clone(),
        digest,
        name: manifest.plugin.name.clone(),
        version: manifest.plugin.version.to_string(),
        signature,
    })
}

/// The signature under `trust`, then the component pin (a load would refuse an unpinned
/// or mismatched component; refusing now keeps it out of the store).
fn check_folder(
    dir: &Path,
    signed: &trust::Signed<'_>,
    trust: &TrustPolicy,
) -> Result<Option<SignatureInfo>, OciError> {
    let signature = trust::check(dir, signed, trust)?;
    let plugin = signed.plugin.to_string();
    let actual = signed.component_digest;
    match signed.pinned {
        None => Err(LoadError::Unpinned {
            plugin,
            actual: actual.to_string(),
        }
        .into()),
        Some(expected) if expected != actual => Err(LoadError::DigestMismatch {
            plugin,
            expected: expected.to_string(),
            actual: actual.to_string(),
        }
        .into()),
        Some(_) => Ok(signature),
    }
}

/// The OCI manifest's bytes, read up to the cap.
async fn fetch_manifest(
    source: &OciRef,
    token: Option<&str>,
    auth: &Auth,
    options: &OciOptions,
) -> Result<Vec<u8>, OciError> {
    let reference = &source.reference;
    let scheme = match options.is_plain_http(reference.registry()) {
        true => "http",
        false => "https",
    };
    let target = reference.digest().or(reference.tag()).unwrap_or("latest");
    let url = format!(
        "{scheme}://{}/v2/{}/manifests/{target}",
        reference.resolve_registry(),
        reference.repository()
    );
    let http = reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .build()
        .map_err(|e| OciError::registry(source, e))?;
    let mut request = http
        .get(&url)
        .header(reqwest::header::ACCEPT, OCI_MANIFEST_MEDIA_TYPE);
    request = match (token, auth) {
        (Some(token), _) => request.bearer_auth(token),
        (None, Auth::Bearer(token)) => request.bearer_auth(token),
        (None, Auth::Basic { username, password }) => request.basic_auth(username, Some(password)),
        (None, Auth::Anonymous) => request,
    };
    let response = request.send().await.map_err(|e| request_error(source, e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(match status.as_u16() {
            404 => OciError::registry(source, "no such plugin or tag (404)"),
            401 | 403 => OciError::access_denied(source, status),
            _ => OciError::registry(source, format!("the registry answered {status}")),
        });
    }
    let limit = options.max_manifest_bytes as u64;
    let what = format!("the OCI manifest of {source}");
    let announced = response.content_length();
    read_capped(
        Box::pin(response.bytes_stream()),
        announced,
        (limit, false),
        &what,
    )
    .await
    .map_err(|e| e.unwrap_or_else(|e| request_error(source, e)))
}

/// Reads `stream` to its end, or until `limit` bytes when `stop_at_limit` (a blob of known
/// size: its digest is then checked here, not by the client), refusing past `limit` bytes
/// (announced or actual).
async fn read_capped<S, E>(
    mut stream: S,
    announced: Option<u64>,
    (limit, stop_at_limit): (u64, bool),
    what: &str,
) -> Result<Vec<u8>, Result<OciError, E>>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
{
    let too_large = |size: u64| {
        Ok(OciError::TooLarge {
            what: what.to_string(),
            size,
            limit,
        })
    };
    if let Some(size) = announced.filter(|s| *s > limit) {
        return Err(too_large(size));
    }
    let mut bytes = Vec::new();
    while !(stop_at_limit && bytes.len() as u64 == limit) {
        let Some(chunk) = stream.next().await else {
            break;
        };
        let chunk = chunk.map_err(Err)?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large((bytes.len() + chunk.len()) as u64));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// One blob, read up to its announced size (itself at most `limit`) and checked against
/// its digest.
async fn fetch_blob(
    client: &oci_client::Client,
    source: &OciRef,
    descriptor: &OciDescriptor,
    limit: u64,
) -> Result<Vec<u8>, OciError> {
    let what = format!("layer {} ({})", descriptor.digest, descriptor.media_type);
    let size = u64::try_from(descriptor.size).unwrap_or(u64::MAX);
    if size > limit {
        return Err(OciError::TooLarge { what, size, limit });
    }
    let stream = client
        .pull_blob_stream(&source.reference, descriptor)
        .await
        .map_err(|e| client_error(source, e))?;
    let bytes = read_capped(stream.stream, stream.content_length, (size, true), &what)
        .await
        .map_err(|e| e.unwrap_or_else(|e: std::io::Error| OciError::registry(source, e)))?;
    let actual = oci_digest(&bytes);
    if actual != descriptor.digest || bytes.len() as u64 != size {
        return Err(OciError::DigestMismatch {
            what,
            expected: descriptor.digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// The artifact's parts, by media type.
struct Layers {
    config: OciDescriptor,
    component: OciDescriptor,
    manifest: OciDescriptor,
    signature: Option<OciDescriptor>,
    schema: Option<OciDescriptor>,
}

impl Layers {
    /// Parses and checks the OCI manifest: the wasm convention, one component, one
    /// `airlock.toml`, at most one signature and one schema, nothing else.
    fn of(source: &OciRef, body: &[u8], options: &OciOptions) -> Result<Layers, OciError> {
        let malformed = |reason: String| OciError::Malformed {
            reference: source.to_string(),
            reason,
        };
        let manifest: OciImageManifest = serde_json::from_slice(body)
            .map_err(|e| malformed(format!("its OCI manifest does not parse: {e}")))?;
        if let Some(kind) = manifest
            .media_type
            .as_deref()
            .filter(|k| *k != OCI_MANIFEST_MEDIA_TYPE)
        {
            return Err(malformed(format!(
                "manifest media type `{kind}`, expected `{OCI_MANIFEST_MEDIA_TYPE}`"
            )));
        }
        if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
            return Err(malformed(format!(
                "config media type `{}`, expected `{WASM_CONFIG_MEDIA_TYPE}`",
                manifest.config.media_type
            )));
        }
        if manifest.layers.len() > options.max_layers {
            return Err(malformed(format!(
                "{} layers, more than the {} allowed",
                manifest.layers.len(),
                options.max_layers
            )));
        }
        let of_type = |kind: &str| -> Vec<OciDescriptor> {
            manifest
                .layers
                .iter()
                .filter(|l| l.media_type == kind)
                .cloned()
                .collect()
        };
        let known = [
            WASM_LAYER_MEDIA_TYPE,
            MANIFEST_MEDIA_TYPE,
            SIGNATURE_MEDIA_TYPE,
            SCHEMA_MEDIA_TYPE,
        ];
        if let Some(other) = manifest
            .layers
            .iter()
            .find(|l| !known.contains(&l.media_type.as_str()))
        {
            return Err(malformed(format!(
                "unexpected layer type `{}`",
                other.media_type
            )));
        }
        let one = |kind: &str| -> Result<OciDescriptor, OciError> {
            match of_type(kind).as_slice() {
                [only] => Ok(only.clone()),
                found => Err(malformed(format!(
                    "{} layers of type `{kind}` ({}), expected one; was it pushed with \
                     `airlock push`?",
                    found.len(),
                    layer_role(kind)
                ))),
            }
        };
        let at_most_one = |kind: &str| -> Result<Option<OciDescriptor>, OciError> {
            match of_type(kind).as_slice() {
                [] => Ok(None),
                [only] => Ok(Some(only.clone())),
                found => Err(malformed(format!(
                    "{} layers of type `{kind}`, expected at most one",
                    found.len()
                ))),
            }
        };
        Ok(Layers {
            config: manifest.config.clone(),
            component: one(WASM_LAYER_MEDIA_TYPE)?,
            manifest: one(MANIFEST_MEDIA_TYPE)?,
            signature: at_most_one(SIGNATURE_MEDIA_TYPE)?,
            schema: at_most_one(SCHEMA_MEDIA_TYPE)?,
        })
    }
}

/// What a layer of media type `kind` holds, for errors.
fn layer_role(kind: &str) -> &'static str {
    match kind {
        WASM_LAYER_MEDIA_TYPE => "the component",
        MANIFEST_MEDIA_TYPE => "the plugin's airlock.toml",
        SIGNATURE_MEDIA_TYPE => "the signature",
        _ => "the config schema",
    }
}

/// Writes and parses `airlock.toml`; the plugin name must be usable as a folder name.
fn write_manifest(dir: &Path, bytes: &[u8], source: &OciRef) -> Result<Manifest, OciError> {
    let path = dir.join(manifest::FILE_NAME);
    let text = std::str::from_utf8(bytes).map_err(|e| OciError::Malformed {
        reference: source.to_string(),
        reason: format!("its airlock.toml is not UTF-8: {e}"),
    })?;
    let manifest = Manifest::parse(text, &path)?;
    let name = &manifest.plugin.name;
    let usable = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !usable {
        return Err(OciError::Malformed {
            reference: source.to_string(),
            reason: format!("plugin name `{name}` is not a usable folder name"),
        });
    }
    write(&path, bytes)?;
    Ok(manifest)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    let io = |e: std::io::Error| OciError::Io(format!("{}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}

/// A staging folder inside the store, removed on drop unless committed.
struct Staging {
    dir: PathBuf,
    store: PathBuf,
    committed: bool,
}

impl Staging {
    fn new(store: &Path) -> Result<Staging, OciError> {
        let io = |e: std::io::Error| OciError::Io(format!("plugin store {}: {e}", store.display()));
        std::fs::create_dir_all(store).map_err(io)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = store.join(format!(".staging-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).map_err(io)?;
        Ok(Staging {
            dir,
            store: store.to_path_buf(),
            committed: false,
        })
    }

    /// Moves the staged folder to `STORE/NAME/HEX` (replacing an earlier pull of the same
    /// digest) and returns that path.
    fn commit(mut self, name: &str, digest: &str) -> Result<PathBuf, OciError> {
        let hex = digest.trim_start_matches("sha256:");
        let target = self.store.join(name).join(hex);
        let io = |e: std::io::Error| OciError::Io(format!("{}: {e}", target.display()));
        std::fs::create_dir_all(self.store.join(name)).map_err(io)?;
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(io)?;
        }
        std::fs::rename(&self.dir, &target).map_err(io)?;
        self.committed = true;
        Ok(target)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
