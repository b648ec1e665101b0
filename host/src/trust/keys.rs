//! Minisign public keys as the policy lists them, and the few bytes of a signature that
//! say which key made it.
//!
//! Formats (from minisign): a public key is base64 of `"Ed" ‖ key id (8) ‖ Ed25519 key (32)`;
//! a signature file is four lines: untrusted comment, base64 of
//! `"ED" ‖ key id (8) ‖ signature (64)`, `trusted comment: …`, base64 of the global signature
//! (over signature ‖ trusted comment). Key ids are shown as minisign shows them: the 8 bytes
//! read as a little-endian integer, in 16 upper-case hex digits.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};

/// A public key the policy trusts.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedKey {
    /// Key id, 16 upper-case hex digits (as `minisign` prints it).
    pub id: String,
    /// The key as written: base64, `RW…`.
    pub base64: String,
    /// Where the policy lists it (`[trust] keys[0]`, a key file's path).
    pub source: String,
    pub(crate) public: minisign_verify::PublicKey,
    ed25519: [u8; 32],
}

impl TrustedKey {
    /// Parses a base64 minisign public key; `source` names it in errors.
    pub fn from_base64(text: &str, source: &str) -> Result<TrustedKey, String> {
        let error = |why: &str| format!("{source}: `{text}` is not a minisign public key ({why})");
        let public =
            minisign_verify::PublicKey::from_base64(text).map_err(|e| error(&e.to_string()))?;
        let bytes = STANDARD.decode(text).map_err(|e| error(&e.to_string()))?;
        let (id, key) = (&bytes[2..10], &bytes[10..42]);
        Ok(TrustedKey {
            id: key_id_hex(id),
            base64: text.to_string(),
            source: source.to_string(),
            public,
            ed25519: key.try_into().expect("minisign-verify checked the length"),
        })
    }

    /// Parses a minisign `.pub` file (an untrusted comment line, then the key).
    pub fn from_pub_file(text: &str, source: &str) -> Result<TrustedKey, String> {
        let key = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or_else(|| format!("{source}: no public key in the file"))?;
        TrustedKey::from_base64(key, source)
    }

    /// True when the global signature of the signature file `text` (over the signature
    /// and its trusted comment) is this key's: the file is genuine, whatever it signed.
    pub(crate) fn signs_comment(&self, text: &str) -> bool {
        let lines: Vec<&str> = text.lines().collect();
        let (Some(sig_line), Some(comment), Some(global)) =
            (lines.get(1), lines.get(2), lines.get(3))
        else {
            return false;
        };
        let (Ok(sig), Ok(global)) = (
            STANDARD.decode(sig_line.trim()),
            STANDARD.decode(global.trim()),
        ) else {
            return false;
        };
        let Some(comment) = comment.strip_prefix("trusted comment: ") else {
            return false;
        };
        let (Ok(global), Ok(key)) = (
            Signature::from_slice(&global),
            VerifyingKey::from_bytes(&self.ed25519),
        ) else {
            return false;
        };
        if sig.len() != 74 {
            return false;
        }
        let mut message = sig[10..74].to_vec();
        message.extend_from_slice(comment.as_bytes());
        key.verify_strict(&message, &global).is_ok()
    }
}

/// The key id of the signature file `text`, when its second line decodes.
pub fn key_id_of_signature(text: &str) -> Option<String> {
    let line = text.lines().nth(1)?;
    let bytes = STANDARD.decode(line.trim()).ok()?;
    (bytes.len() == 74).then(|| key_id_hex(&bytes[2..10]))
}

/// Minisign's rendering of a key id: little-endian u64, 16 upper-case hex digits.
pub(crate) fn key_id_hex(id: &[u8]) -> String {
    let mut le = [0u8; 8];
    le.copy_from_slice(&id[..8]);
    format!("{:016X}", u64::from_le_bytes(le))
}
