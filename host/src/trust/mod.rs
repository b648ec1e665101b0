//! Signed plugins: the operator's `[trust]` policy and the signature check every folder load
//! makes before anything is compiled.
//!
//! A plugin folder is signed by a [minisign](https://jedisct1.github.io/minisign/) signature
//! of its manifest, `airlock.toml.minisig` beside `airlock.toml`. The manifest pins the
//! component's sha256, so one signature covers both: an edited manifest breaks the
//! signature, a swapped component breaks the signed pin. Signatures are made by
//! `airlock sign` or by the standard `minisign` tool (`minisign -Sm airlock.toml`), and
//! verified with `minisign-verify`.
//!
//! ```toml
//! [trust]
//! keys = ["RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"]  # minisign public keys
//! key-files = ["keys/release.pub"]   # minisign .pub files, relative to the policy file
//! require-signature = true           # every plugin must be signed by a trusted key
//!
//! [trust.plugins.calculator]
//! require-signature = true           # just this plugin (when the global switch is off)
//! signers = ["E7620F1842B4E81F"]     # only these keys (ids or public keys) may sign it
//! ```

mod keys;
#[cfg(feature = "sign")]
pub mod sign;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use keys::{TrustedKey, key_id_of_signature};

/// The file name of a plugin folder's signature, beside its manifest.
pub const SIGNATURE_FILE: &str = "airlock.toml.minisig";

/// Largest signature file read, in bytes: a minisign signature is four short lines.
pub const MAX_SIGNATURE_BYTES: u64 = 16 * 1024;

/// The `[trust]` section of a policy, resolved: keys parsed, key files read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustPolicy {
    /// Keys whose signatures are accepted.
    pub keys: Vec<TrustedKey>,
    /// Every plugin must be signed by one of [`TrustPolicy::keys`].
    pub require_signature: bool,
    /// Per-plugin rules, by plugin name.
    pub plugins: BTreeMap<String, PluginTrust>,
}

/// `[trust.plugins.NAME]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginTrust {
    /// Overrides the global `require-signature` for this plugin.
    pub require_signature: Option<bool>,
    /// Key ids (16 hex digits, as minisign prints them) or public keys allowed to sign
    /// this plugin; unset means any trusted key.
    pub signers: Option<Vec<String>>,
}

/// `[trust]` as written in the policy file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct TrustSection {
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    key_files: Vec<std::path::PathBuf>,
    #[serde(default)]
    require_signature: bool,
    #[serde(default)]
    plugins: BTreeMap<String, PluginTrust>,
}

impl TrustSection {
    /// Parses the keys and reads the key files (relative to `base_dir`); the error names
    /// the entry.
    pub(crate) fn resolve(self, base_dir: &Path) -> Result<TrustPolicy, String> {
        let mut keys = Vec::new();
        for (i, text) in self.keys.iter().enumerate() {
            let source = format!("[trust] keys[{i}]");
            keys.push(TrustedKey::from_base64(text.trim(), &source)?);
        }
        for file in &self.key_files {
            let path = base_dir.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("[trust] key-files `{}`: {e}", path.display()))?;
            keys.push(TrustedKey::from_pub_file(
                &text,
                &path.display().to_string(),
            )?);
        }
        Ok(TrustPolicy {
            keys,
            require_signature: self.require_signature,
            plugins: self.plugins,
        })
    }
}

impl TrustPolicy {
    /// Trusts `key` (a minisign public key in base64, `RW…`) (builder style).
    pub fn trust(mut self, key: &str) -> Result<Self, String> {
        let source = format!("[trust] keys[{}]", self.keys.len());
        self.keys
            .push(TrustedKey::from_base64(key.trim(), &source)?);
        Ok(self)
    }

    /// Requires every plugin to be signed (builder style).
    pub fn require_signature(mut self) -> Self {
        self.require_signature = true;
        self
    }

    /// Whether `plugin` must be signed, and the policy line that says so.
    fn required(&self, plugin: &str) -> (bool, String) {
        match self.plugins.get(plugin).and_then(|p| p.require_signature) {
            Some(required) => (
                required,
                format!(
                    "[trust.plugins.{}] require-signature = {required}",
                    crate::capabilities::toml_key(plugin)
                ),
            ),
            None => (
                self.require_signature,
                format!("[trust] require-signature = {}", self.require_signature),
            ),
        }
    }

    /// The trusted key with id `id`.
    fn key(&self, id: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// True when `key` may sign `plugin` under `[trust.plugins.NAME] signers`.
    fn may_sign(&self, plugin: &str, key: &TrustedKey) -> bool {
        match self.plugins.get(plugin).and_then(|p| p.signers.as_ref()) {
            None => true,
            Some(signers) => signers
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&key.id) || s.trim() == key.base64),
        }
    }
}

/// What the signature check found, for `airlock audit`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignatureInfo {
    /// The signing key's id (16 hex digits), when the signature could be read.
    pub key_id: Option<String>,
    /// The signature's trusted comment (signed along with the manifest).
    pub trusted_comment: Option<String>,
    /// True when the signature verified under a trusted key and the component matches the
    /// signed pin.
    pub verified: bool,
    /// Where the trusted key came from (`[trust] keys[0]`, a key file).
    pub trusted_by: Option<String>,
}

/// Why the signature check refused a plugin. Each names what would make it pass.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(
        "plugin `{plugin}` is not signed, but `{rule}` requires a signature: sign its \
         manifest (`airlock sign DIR --key KEY` or `minisign -Sm airlock.toml`) with a key \
         listed in [trust] keys"
    )]
    Unsigned { plugin: String, rule: String },

    #[error(
        "plugin `{plugin}` is signed by key {key_id}, which the policy does not trust; add \
         its public key to [trust] keys (or key-files) if you trust it"
    )]
    UnknownKey { plugin: String, key_id: String },

    #[error(
        "plugin `{plugin}` is signed by trusted key {key_id}, but \
         [trust.plugins.{plugin}] signers does not list it"
    )]
    SignerNotAllowed { plugin: String, key_id: String },

    #[error("plugin `{plugin}` has a bad signature ({file}): {reason}; refused")]
    BadSignature {
        plugin: String,
        file: String,
        reason: String,
    },

    #[error(
        "plugin `{plugin}`: the manifest was edited after it was signed (the signature by \
         key {key_id} is genuine but covers another airlock.toml); refused — sign it again \
         after review"
    )]
    ManifestChanged { plugin: String, key_id: String },

    #[error(
        "plugin `{plugin}`: the component was swapped after signing: the signed manifest \
         pins sha256 {signed}, but the component is {actual}; refused"
    )]
    ComponentSwapped {
        plugin: String,
        signed: String,
        actual: String,
    },
}

impl TrustError {
    /// A short stable name for the kind of refusal, e.g. `unsigned`.
    pub fn kind(&self) -> &'static str {
        match self {
            TrustError::Unsigned { .. } => "unsigned",
            TrustError::UnknownKey { .. } => "unknown-key",
            TrustError::SignerNotAllowed { .. } => "signer-not-allowed",
            TrustError::BadSignature { .. } => "bad-signature",
            TrustError::ManifestChanged { .. } => "manifest-changed",
            TrustError::ComponentSwapped { .. } => "component-swapped",
        }
    }
}

/// A folder's manifest as signed: its exact bytes and what they pin.
pub struct Signed<'a> {
    pub plugin: &'a str,
    /// The bytes of `airlock.toml`, exactly as on disk.
    pub manifest_bytes: &'a [u8],
    /// The manifest's `sha256` pin.
    pub pinned: Option<&'a crate::digest::Sha256>,
    /// The component's actual digest.
    pub component_digest: &'a crate::digest::Sha256,
}

/// Checks the signature of the plugin folder `dir` under `policy`. `Ok(None)`: unsigned,
/// and the policy does not require a signature. `Ok(Some(info))`: signed, and
/// `info.verified` when by a trusted key over this manifest and component.
///
/// Where a signature is not required, one by a key the policy does not know is reported
/// unverified and the plugin loads as an unsigned one would (signing a plugin must not make
/// it unloadable on hosts that do not check signatures); but a malformed signature, or one
/// by a trusted key that does not verify, is always refused: that is evidence of tampering.
pub fn check(
    dir: &Path,
    signed: &Signed<'_>,
    policy: &TrustPolicy,
) -> Result<Option<SignatureInfo>, TrustError> {
    let plugin = signed.plugin.to_string();
    let path = dir.join(SIGNATURE_FILE);
    let (required, rule) = policy.required(&plugin);
    let Some(text) = read_signature(&path).map_err(|reason| TrustError::BadSignature {
        plugin: plugin.clone(),
        file: path.display().to_string(),
        reason,
    })?
    else {
        return match required {
            true => Err(TrustError::Unsigned { plugin, rule }),
            false => Ok(None),
        };
    };
    verify_text(&text, &path.display().to_string(), signed, policy, required).map(Some)
}

/// Verifies the signature `text` (a `.minisig` file's content; `file` names it in errors);
/// `required`: whether the policy requires this plugin to be signed (see [`check`]).
pub fn verify_text(
    text: &str,
    file: &str,
    signed: &Signed<'_>,
    policy: &TrustPolicy,
    required: bool,
) -> Result<SignatureInfo, TrustError> {
    let plugin = signed.plugin.to_string();
    let bad = |reason: String| TrustError::BadSignature {
        plugin: plugin.clone(),
        file: file.to_string(),
        reason,
    };
    let signature = minisign_verify::Signature::decode(text)
        .map_err(|e| bad(format!("not a minisign signature ({e})")))?;
    let key_id = key_id_of_signature(text).ok_or_else(|| bad("no key id".into()))?;
    let Some(key) = policy.key(&key_id) else {
        return match required {
            true => Err(TrustError::UnknownKey { plugin, key_id }),
            false => Ok(SignatureInfo {
                key_id: Some(key_id),
                trusted_comment: Some(signature.trusted_comment().to_string()),
                verified: false,
                trusted_by: None,
            }),
        };
    };
    if !policy.may_sign(&plugin, key) {
        return Err(TrustError::SignerNotAllowed { plugin, key_id });
    }
    if let Err(e) = key.public.verify(signed.manifest_bytes, &signature, false) {
        // Tell a genuine signature over other bytes from a forged or damaged one.
        return Err(match key.signs_comment(text) {
            true => TrustError::ManifestChanged { plugin, key_id },
            false => bad(format!("it does not verify with key {key_id} ({e})")),
        });
    }
    match signed.pinned {
        Some(pin) if pin == signed.component_digest => Ok(SignatureInfo {
            key_id: Some(key_id),
            trusted_comment: Some(signature.trusted_comment().to_string()),
            verified: true,
            trusted_by: Some(key.source.clone()),
        }),
        pin => Err(TrustError::ComponentSwapped {
            plugin,
            signed: pin.map_or_else(
                || "(nothing: the signed manifest has no sha256)".into(),
                |p| p.to_string(),
            ),
            actual: signed.component_digest.to_string(),
        }),
    }
}

/// The signature file's text, `None` when there is none; bounded by
/// [`MAX_SIGNATURE_BYTES`].
fn read_signature(path: &Path) -> Result<Option<String>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    if meta.len() > MAX_SIGNATURE_BYTES {
        return Err(format!(
            "{} bytes, over the limit of {MAX_SIGNATURE_BYTES}",
            meta.len()
        ));
    }
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(|e| format!("cannot read: {e}"))
}

/// What `airlock audit` shows when the check refused: the key id and comment as written
/// (unverified).
pub fn unverified_info(dir: &Path) -> Option<SignatureInfo> {
    let text = read_signature(&dir.join(SIGNATURE_FILE)).ok()??;
    let signature = minisign_verify::Signature::decode(&text).ok();
    Some(SignatureInfo {
        key_id: key_id_of_signature(&text),
        trusted_comment: signature.map(|s| s.trusted_comment().to_string()),
        verified: false,
        trusted_by: None,
    })
}
