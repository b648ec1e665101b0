//! A plugin folder — `airlock.toml` plus its component — checked against the operator's
//! policy: admission. Loading and auditing walk the same steps, once each (manifest →
//! host range → `[config]` schema and the configuration → grant → limits and the pool fit →
//! digest → signature and pins → compile → import audit and world), so what `airlock
//! audit` reports is exactly what a load does. A [`Review`] with no errors becomes an
//! [`Admitted`] plugin, which starting takes as it is and recomputes nothing.

use std::path::{Path, PathBuf};

use crate::digest::Sha256;
use serde::Serialize;
use wasmtime::component::Component;

use crate::capabilities::audit::ImportUse;
use crate::capabilities::{Allowed, Dirs, Grant, Requested};
use crate::component::Inspected;
use crate::limits::LimitTable;
use crate::manifest::{self, Manifest, ManifestError};
use crate::plugin::Candidate;
use crate::policy::Policy;
use crate::schema::ArgumentSchema;
use crate::{Limits, LoadError, Runtime, World};

/// Everything known about a plugin folder before it runs, and every reason it would be
/// refused. Built by [`review`].
pub struct Review {
    pub dir: PathBuf,
    pub manifest: Option<Manifest>,
    /// SHA-256 of the component file, when it could be read.
    pub digest: Option<Sha256>,
    /// True when the digest matches the manifest's `sha256`.
    pub digest_verified: bool,
    /// The folder's signature (`airlock.toml.minisig`), when it has one: signer's key id,
    /// trusted comment, and whether it verified under the policy's `[trust]`.
    pub signature: Option<crate::trust::SignatureInfo>,
    /// Where the folder came from, when it was installed from a registry
    /// (`source.json`: `{"reference": "oci://…", "digest": "sha256:…"}`).
    pub source: Option<serde_json::Value>,
    pub world: Option<World>,
    /// Whether the component exports Airlock's `lifecycle` (every Airlock world does; a
    /// custom world's may): its `init` runs at load and may refuse the configuration.
    pub lifecycle: bool,
    /// Each contract the manifest declares, with what keeps the component from
    /// implementing it (empty when it does); empty when the component was not compiled.
    pub contracts: Vec<ContractCheck>,
    pub imports: Vec<ImportUse>,
    pub allowed: Allowed,
    pub grant: Option<Grant>,
    pub caps: LimitTable,
    pub limits: Option<Limits>,
    /// The JSON Schema the plugin's configuration must satisfy (`[config]`).
    pub config_schema: Option<serde_json::Value>,
    /// The configuration `init` would get: the one reviewed, with the schema's defaults
    /// filled in (`None` when it violates the schema).
    pub config: Option<serde_json::Value>,
    /// Why the plugin would be refused; empty when it loads.
    pub errors: Vec<LoadError>,
    inspected: Option<Inspected>,
}

/// One declared contract checked against the component (see [`crate::contract`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContractCheck {
    /// `pkg:name/iface@1.0.0`
    pub name: String,
    /// Missing exports and changed types, each named; empty when it is implemented.
    pub problems: Vec<String>,
}

impl Review {
    pub fn loads(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Resolves `path` (a folder or its `airlock.toml`) to the folder.
pub fn plugin_dir(path: &Path) -> PathBuf {
    match path.file_name().is_some_and(|n| n == manifest::FILE_NAME) {
        true => path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        false => path.to_path_buf(),
    }
}

/// Reviews the plugin folder at `path` under `policy` with the configuration a load without
/// one gets (`{}`, defaults filled in), collecting every reason for refusal.
pub async fn review(runtime: &Runtime, path: &Path, policy: &Policy) -> Review {
    review_config(runtime, path, policy, &serde_json::json!({})).await
}

/// [`review`] with the configuration `config` (a JSON object, checked against the
/// manifest's `[config]` schema as a load checks it).
pub async fn review_config(
    runtime: &Runtime,
    path: &Path,
    policy: &Policy,
    config: &serde_json::Value,
) -> Review {
    let dir = plugin_dir(path);
    let mut review = Review {
        dir: dir.clone(),
        manifest: None,
        digest: None,
        digest_verified: false,
        signature: None,
        source: read_source(&dir),
        world: None,
        lifecycle: false,
        contracts: Vec::new(),
        imports: Vec::new(),
        allowed: Allowed::default(),
        grant: None,
        caps: policy.caps.clone(),
        limits: None,
        config_schema: None,
        config: None,
        errors: Vec::new(),
        inspected: None,
    };
    let (manifest, manifest_bytes) = match read_manifest(&dir) {
        Ok(read) => read,
        Err(e) => {
            review.errors.push(LoadError::Manifest(e));
            return review;
        }
    };
    let name = manifest.plugin.name.clone();
    if let Err(e) = check_manifest_host(&manifest) {
        review.errors.push(e);
    }
    match config_schema(&dir, &manifest) {
        Ok(schema) => {
            match check_config(&name, schema.as_ref(), config) {
                Ok(config) => review.config = Some(config),
                Err(e) => review.errors.push(e),
            }
            review.config_schema = schema;
        }
        Err(e) => review.errors.push(LoadError::Manifest(e)),
    }
    review.allowed = policy.allowed(&name);
    // A manifest may ask for less than the ceiling, never more: the ceiling is the policy's
    // cap where it sets one, the runtime's default otherwise.
    let ceiling = policy.caps.over(runtime.default_limits());
    let limits = manifest.limits.over(&ceiling).min(&ceiling);
    let component_path = dir.join(&manifest.plugin.component);
    let what = component_path.display().to_string();
    let folder = dir.display().to_string();
    if let Err(e) = crate::plugin::check_pool(runtime.instance_pool(), &folder, &limits) {
        review.errors.push(e);
    }
    review.limits = Some(limits);
    review.manifest = Some(manifest);
    let file = match crate::runtime::read_component_digested(&component_path).await {
        Ok(file) => file,
        Err(e) => {
            review.errors.push(e);
            return review;
        }
    };
    let digest = file.digest;
    review.digest = Some(digest);
    // The signature first: its refusal is the most precise reason there is.
    let signature_ok = check_signature(&mut review, &name, &manifest_bytes, &digest, policy);
    let integrity_ok = check_integrity(&mut review, &name, &digest) && signature_ok;
    let requested = review
        .manifest
        .as_ref()
        .map(|m| m.capabilities.clone())
        .unwrap_or_default();
    compute_grant(&mut review, &name, &requested, policy);
    if !integrity_ok {
        // Never compile a component whose bytes are not the ones the manifest pins, nor
        // one whose signature the policy refuses.
        return review;
    }
    match runtime.compile_file(file, &what).await {
        Ok(component) => {
            inspect_component(&mut review, runtime, component, &what);
            check_contracts(&mut review, runtime, policy);
        }
        Err(e) => review.errors.push(e),
    }
    review
}

/// The manifest, parsed from the very bytes the signature check verifies.
fn read_manifest(dir: &Path) -> Result<(Manifest, Vec<u8>), ManifestError> {
    let path = dir.join(manifest::FILE_NAME);
    let error = |message: String| ManifestError {
        path: path.clone(),
        message,
    };
    let bytes = std::fs::read(&path).map_err(|e| error(format!("cannot read: {e}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| error(format!("not UTF-8: {e}")))?;
    Ok((Manifest::parse(text, &path)?, bytes))
}

/// The `[trust]` check; records what fails. True when the bytes may be compiled.
fn check_signature(
    review: &mut Review,
    name: &str,
    manifest_bytes: &[u8],
    digest: &Sha256,
    policy: &Policy,
) -> bool {
    let signed = crate::trust::Signed {
        plugin: name,
        manifest_bytes,
        pinned: review
            .manifest
            .as_ref()
            .and_then(|m| m.plugin.sha256.as_ref()),
        component_digest: digest,
    };
    match crate::trust::check(&review.dir, &signed, &policy.trust) {
        Ok(info) => {
            review.signature = info;
            true
        }
        Err(e) => {
            review.signature = crate::trust::unverified_info(&review.dir);
            review.errors.push(LoadError::Trust(e));
            false
        }
    }
}

/// The folder's `source.json`, written when it was installed from a registry (at most
/// 64 KiB; anything else is ignored: it only informs).
fn read_source(dir: &Path) -> Option<serde_json::Value> {
    let path = dir.join(SOURCE_FILE);
    let meta = std::fs::metadata(&path).ok()?;
    if meta.len() > 64 * 1024 {
        return None;
    }
    serde_json::from_slice(&std::fs::read(&path).ok()?).ok()
}

/// The file recording where an installed folder came from (see [`Review::source`]).
pub const SOURCE_FILE: &str = "source.json";

/// The `[config]` schema, inline or from its file, checked to be a usable JSON Schema.
fn config_schema(
    dir: &Path,
    manifest: &Manifest,
) -> Result<Option<serde_json::Value>, ManifestError> {
    let path = dir.join(manifest::FILE_NAME);
    let error = |message: String| ManifestError {
        path: path.clone(),
        message,
    };
    let schema = match (&manifest.config.schema, &manifest.config.schema_file) {
        (Some(inline), _) => inline.clone(),
        (None, Some(file)) => {
            let text = read_schema_file(&dir.join(file))
                .map_err(|e| error(format!("[config] schema-file `{}`: {e}", file.display())))?;
            serde_json::from_str(&text).map_err(|e| {
                error(format!(
                    "[config] schema-file `{}` is not JSON: {e}",
                    file.display()
                ))
            })?
        }
        (None, None) => return Ok(None),
    };
    ArgumentSchema::compile(&schema)
        .map_err(|e| error(format!("[config] schema is not a usable JSON Schema: {e}")))?;
    Ok(Some(schema))
}

/// The text of a schema file, refused unread when it is over the schema size cap.
fn read_schema_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let cap = crate::schema::bounds::SCHEMA_BYTES;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(cap as u64 + 1).read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    match text.len() > cap {
        true => Err(format!("it is over the cap of {cap} bytes per schema")),
        false => Ok(text),
    }
}

/// The configuration of the plugin folder `dir` checked against its `[config]` schema,
/// defaults filled in, without loading the plugin.
pub fn checked_config(
    dir: &Path,
    config: &serde_json::Value,
) -> Result<serde_json::Value, LoadError> {
    let manifest = Manifest::from_dir(dir)?;
    let schema = config_schema(dir, &manifest)?;
    check_config(&manifest.plugin.name, schema.as_ref(), config)
}

/// The manifest's `host-versions` range, when it gives one, must admit this host.
fn check_manifest_host(manifest: &Manifest) -> Result<(), LoadError> {
    let Some(required) = &manifest.plugin.host_versions else {
        return Ok(());
    };
    let host = semver::Version::parse(crate::HOST_VERSION).expect("the crate version is semver");
    match required.matches(&host) {
        true => Ok(()),
        false => Err(LoadError::IncompatibleHost {
            plugin: manifest.plugin.name.clone(),
            required: required.to_string(),
            host: crate::HOST_VERSION.to_string(),
        }),
    }
}

/// `config` with the `[config]` schema's defaults filled in, checked against the schema;
/// the error lists every violation.
pub(crate) fn check_config(
    plugin: &str,
    schema: Option<&serde_json::Value>,
    config: &serde_json::Value,
) -> Result<serde_json::Value, LoadError> {
    let mut config = config.clone();
    let Some(schema) = schema else {
        return Ok(config);
    };
    crate::schema::fill_defaults(schema, &mut config);
    let problems = ArgumentSchema::compile(schema)
        .map(|s| s.problems(&config))
        .unwrap_or_default();
    match problems.is_empty() {
        true => Ok(config),
        false => Err(LoadError::BadConfig {
            plugin: plugin.to_string(),
            problems,
        }),
    }
}

/// Manifest pin and policy pin; records what fails. True when the bytes may be compiled.
fn check_integrity(review: &mut Review, name: &str, digest: &Sha256) -> bool {
    let expected = review.manifest.as_ref().and_then(|m| m.plugin.sha256);
    let mut ok = true;
    match expected {
        None => {
            review.errors.push(LoadError::Unpinned {
                plugin: name.to_string(),
                actual: digest.to_string(),
            });
            ok = false;
        }
        Some(expected) if expected != *digest => {
            review.errors.push(LoadError::DigestMismatch {
                plugin: name.to_string(),
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
            ok = false;
        }
        Some(_) => review.digest_verified = true,
    }
    if let Some(pinned) = review.allowed.sha256
        && pinned != *digest
    {
        review.errors.push(LoadError::PolicyPin {
            plugin: name.to_string(),
            pinned: pinned.to_string(),
            actual: digest.to_string(),
        });
        ok = false;
    }
    ok
}

fn compute_grant(review: &mut Review, name: &str, requested: &Requested, policy: &Policy) {
    let dirs = Dirs {
        plugin: &review.dir,
        policy: &policy.base_dir,
    };
    match Grant::compute(name, requested, &review.allowed, policy, dirs) {
        Ok(grant) => review.grant = Some(grant),
        Err(missing) => review.errors.push(LoadError::Denied {
            plugin: name.to_string(),
            missing,
            pin: review
                .digest
                .filter(|_| review.allowed.sha256.is_none())
                .map(|digest| format!("sha256 = \"{digest}\"")),
        }),
    }
}

fn inspect_component(review: &mut Review, runtime: &Runtime, component: Component, what: &str) {
    let contracts = review
        .manifest
        .as_ref()
        .is_some_and(|m| !m.plugin.contract.is_empty());
    let (imports, inspected) =
        crate::component::inspect(runtime.engine(), component, what, contracts);
    review.imports = imports;
    match inspected {
        Ok(inspected) => {
            review.world = Some(inspected.world);
            review.lifecycle = inspected.lifecycle;
            review.inspected = Some(inspected);
        }
        Err(errors) => review.errors.extend(errors),
    }
}

/// Checks the inspected component against every contract its manifest declares.
fn check_contracts(review: &mut Review, runtime: &Runtime, policy: &Policy) {
    let (Some(manifest), Some(inspected)) = (&review.manifest, &review.inspected) else {
        return;
    };
    for contract in &manifest.plugin.contract {
        let problems = policy
            .contracts
            .check(contract, runtime.engine(), &inspected.component);
        if !problems.is_empty() {
            review.errors.push(LoadError::Contract {
                plugin: manifest.plugin.name.clone(),
                contract: contract.clone(),
                problems: problems.clone(),
            });
        }
        review.contracts.push(ContractCheck {
            name: contract.clone(),
            problems,
        });
    }
}

/// A plugin folder that passed review: its manifest, and everything starting it needs
/// (compiled and inspected component, grant, limits, checked configuration), each computed
/// once. [`Runtime::start`] takes it as it is.
pub struct Admitted {
    pub manifest: Manifest,
    pub(crate) candidate: Candidate,
}

impl Admitted {
    /// The plugin's name, from its manifest.
    pub fn name(&self) -> &str {
        &self.manifest.plugin.name
    }
}

impl Review {
    /// Admits the reviewed plugin, or refuses it with the first reason found.
    pub fn admit(mut self) -> Result<Admitted, LoadError> {
        if !self.errors.is_empty() {
            return Err(self.errors.remove(0));
        }
        let missing = || LoadError::Engine("review finished without a component".into());
        let manifest = self.manifest.ok_or_else(missing)?;
        let inspected = self.inspected.ok_or_else(missing)?;
        let what = self.dir.display().to_string();
        // A custom world's manifest says who it is (a `lifecycle` it exports is not asked).
        let metadata = (inspected.world == World::Custom).then(|| crate::types::Metadata {
            name: manifest.plugin.name.clone(),
            version: manifest.plugin.version.clone(),
            author: manifest.plugin.author.clone(),
            description: manifest.plugin.description.clone(),
            license: manifest.plugin.license.clone(),
            permissions: Vec::new(),
            host_versions: manifest
                .plugin
                .host_versions
                .clone()
                .unwrap_or(semver::VersionReq::STAR),
        });
        let candidate = Candidate {
            metadata,
            contracts: manifest.plugin.contract.clone(),
            keys: manifest.plugin.keys.clone(),
            digest: self.digest,
            inspected,
            what,
            grant: self.grant.ok_or_else(missing)?,
            limits: self.limits.ok_or_else(missing)?,
            config: self.config.ok_or_else(missing)?,
            expected_name: Some(manifest.plugin.name.clone()),
            host_range_checked: manifest.plugin.host_versions.is_some(),
        };
        Ok(Admitted {
            manifest,
            candidate,
        })
    }
}

/// What a reviewer must look at twice: file grants that expose the host, and a grant the
/// policy does not pin to this component's digest.
fn warnings(review: &Review) -> Vec<String> {
    let mut warnings = unsafe_grants(review);
    let granted = review.grant.as_ref().is_some_and(|g| *g != Grant::none());
    if let (true, None, Some(digest)) = (granted, review.allowed.sha256, review.digest) {
        let name = review
            .manifest
            .as_ref()
            .map_or("?", |m| m.plugin.name.as_str());
        warnings.push(format!(
            "UNPINNED: the policy grants `{name}` by name only, so any folder claiming that \
             name gets the same grants; pin this component: `{}`",
            crate::capabilities::policy_setting(name, "sha256", &format!("\"{digest}\""))
        ));
    }
    warnings
}

/// The effective file grants that expose the host, as audit warnings.
fn unsafe_grants(review: &Review) -> Vec<String> {
    let name = review
        .manifest
        .as_ref()
        .map_or("?", |m| m.plugin.name.as_str());
    let files = review.grant.iter().flat_map(|g| &g.files);
    files
        .filter_map(|f| {
            let why = f.exposes_host.as_ref()?;
            Some(format!(
                "UNSAFE: files grant {} → {} exposes the host ({why}); allowed only by `{}`",
                f.host.display(),
                f.guest,
                crate::capabilities::files::unsafe_line(name)
            ))
        })
        .collect()
}

/// A reviewer's report as stable JSON (`airlock audit --json`).
#[derive(Serialize)]
pub struct AuditReport {
    pub dir: PathBuf,
    pub plugin: Option<serde_json::Value>,
    pub sha256: serde_json::Value,
    /// `{"signed": bool, "key_id", "trusted_comment", "verified", "trusted_by"}`.
    pub signature: serde_json::Value,
    /// Where the folder was installed from (`null` for a local folder).
    pub source: serde_json::Value,
    pub world: Option<World>,
    /// The contracts the manifest declares, each with its problems (empty: implemented).
    pub contracts: Vec<ContractCheck>,
    /// The routing keys the manifest declares (`[plugin] keys`).
    pub keys: Vec<String>,
    pub imports: Vec<ImportUse>,
    pub capabilities: serde_json::Value,
    pub limits: serde_json::Value,
    /// `{"schema": <the [config] JSON Schema or null>, "effective": <the configuration
    /// `init` would get, defaults filled in, or null when it violates the schema>}`.
    pub config: serde_json::Value,
    /// Grants a reviewer must look at twice: each names what it exposes and the policy line
    /// that allowed it (e.g. a file grant of `/proc` under `unsafe-host-paths = true`).
    pub warnings: Vec<String>,
    pub verdict: serde_json::Value,
}

impl From<&Review> for AuditReport {
    fn from(r: &Review) -> Self {
        use serde_json::json;
        let m = r.manifest.as_ref();
        let nothing = Requested::default();
        let requested = m.map_or(&nothing, |m| &m.capabilities);
        let capabilities = crate::capabilities::audit_rows(requested, &r.allowed, r.grant.as_ref());
        let limits = m.map(|m| &m.limits);
        AuditReport {
            dir: r.dir.clone(),
            plugin: m.map(|m| json!({
                "name": m.plugin.name, "version": m.plugin.version.to_string(), "author": m.plugin.author,
                "description": m.plugin.description, "license": m.plugin.license,
                "component": m.plugin.component, "isolation": m.plugin.isolation,
            })),
            sha256: json!({"expected": m.and_then(|m| m.plugin.sha256), "actual": r.digest, "verified": r.digest_verified}),
            signature: match &r.signature {
                Some(info) => json!({"signed": true, "key_id": info.key_id, "trusted_comment": info.trusted_comment, "verified": info.verified, "trusted_by": info.trusted_by}),
                None => json!({"signed": false, "verified": false}),
            },
            source: r.source.clone().unwrap_or(json!(null)),
            world: r.world,
            contracts: r.contracts.clone(),
            keys: m.map(|m| m.plugin.keys.clone()).unwrap_or_default(),
            imports: r.imports.clone(),
            capabilities: serde_json::Value::Object(capabilities),
            limits: json!({
                "requested": limits.map(|l| json!({"fuel": l.fuel, "deadline_ms": l.deadline.map(|d| d.as_millis() as u64), "memory": l.memory, "output": l.output, "http_body": l.http_body})),
                "caps": {"fuel": r.caps.fuel, "deadline_ms": r.caps.deadline.map(|d| d.as_millis() as u64), "memory": r.caps.memory, "output": r.caps.output, "http_body": r.caps.http_body},
                "effective": r.limits.as_ref().map(|l| json!({"fuel": l.fuel, "deadline_ms": l.deadline.as_millis() as u64, "memory": l.memory_bytes, "output": l.output_bytes, "http_body": l.http_body_bytes})),
            }),
            config: json!({"schema": r.config_schema, "effective": r.config}),
            warnings: warnings(r),
            verdict: json!({
                "loads": r.loads(),
                "reasons": r.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            }),
        }
    }
}
