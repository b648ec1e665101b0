//! Making minisign key pairs and signing plugin folders (feature `sign`), with the
//! `minisign` crate, so the keys and signatures are the standard tool's: a key pair from
//! `airlock keygen` works with `minisign -S`, and a key pair from `minisign -G` works with
//! `airlock sign`.

use std::path::{Path, PathBuf};

use minisign::{KeyPair, SecretKey, SecretKeyBox};

use crate::digest::Sha256;
use crate::folder::plugin_dir;
use crate::manifest::{self, Manifest};
use crate::trust::{SIGNATURE_FILE, TrustedKey};

/// A secret key, ready to sign (re-exported so callers need not depend on `minisign`).
pub type SecretKeyHandle = SecretKey;

/// Why a key pair could not be made or a folder signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{0}")]
    Io(String),
    #[error("minisign: {0}")]
    Minisign(String),
    #[error(
        "{manifest} does not pin its component (no `sha256`); review the component, run \
         `airlock pin {dir}`, then sign"
    )]
    Unpinned { manifest: String, dir: String },
    #[error(
        "{manifest} pins sha256 {pinned}, but the component is {actual}; review the new \
         component and run `airlock pin` before signing"
    )]
    PinMismatch {
        manifest: String,
        pinned: String,
        actual: String,
    },
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
}

fn minisign_error(e: minisign::PError) -> SignError {
    SignError::Minisign(e.to_string())
}

/// A new key pair, as the two files minisign writes.
pub struct NewKeyPair {
    /// The public key, `RW…` (what goes into `[trust] keys`).
    pub public: String,
    /// Key id, 16 hex digits.
    pub id: String,
    /// Content of the `.pub` file.
    pub public_file: String,
    /// Content of the secret key file (unencrypted: protect it with file permissions).
    pub secret_file: String,
}

/// Generates an unencrypted Ed25519 key pair in minisign's format.
pub fn generate() -> Result<NewKeyPair, SignError> {
    let KeyPair { pk, sk } = KeyPair::generate_unencrypted_keypair().map_err(minisign_error)?;
    let public = pk.to_base64();
    let id = TrustedKey::from_base64(&public, "new key")
        .map_err(SignError::Minisign)?
        .id;
    let public_file = format!("untrusted comment: minisign public key {id}\n{public}\n");
    let secret_file = sk
        .to_box(Some(&format!("airlock secret key {id}")))
        .map_err(minisign_error)?
        .to_string();
    Ok(NewKeyPair {
        public,
        id,
        public_file,
        secret_file,
    })
}

/// Reads a minisign secret key file; an encrypted one is opened with `password` (minisign
/// asks on the terminal when it is `None`).
pub fn read_secret_key(path: &Path, password: Option<String>) -> Result<SecretKey, SignError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SignError::Io(format!("secret key {}: {e}", path.display())))?;
    let key_box = || SecretKeyBox::from_string(&text).map_err(minisign_error);
    // minisign opens unencrypted (`-W`) and encrypted keys through different calls.
    match SecretKey::from_unencrypted_box(key_box()?) {
        Ok(key) => Ok(key),
        Err(_) => match unencrypted_without_checksum(&text) {
            Some(bytes) => SecretKey::from_bytes(&bytes).map_err(minisign_error),
            None => SecretKey::from_box(key_box()?, password).map_err(minisign_error),
        },
    }
}

/// The raw secret key when `text` holds an unencrypted key whose checksum field is all
/// zeros: the C minisign (0.11, `minisign -G -W`) writes no checksum for unencrypted keys,
/// which the minisign crate then calls corrupted. Layout (minisign's `SeckeyStruct`):
/// sig alg (2) ‖ kdf alg (2, zeros = unencrypted) ‖ chk alg (2) ‖ salt (32) ‖ ops (8) ‖
/// mem (8) ‖ key id (8) ‖ Ed25519 key (64) ‖ checksum (32).
fn unencrypted_without_checksum(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let encoded = text.lines().nth(1)?.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let unencrypted = bytes.len() == 158 && bytes[2..4] == [0, 0];
    (unencrypted && bytes[126..].iter().all(|b| *b == 0)).then_some(bytes)
}

/// What [`sign_folder`] wrote.
pub struct SignedFolder {
    pub signature_path: PathBuf,
    pub key_id: String,
    pub trusted_comment: String,
}

/// Signs the plugin folder at `path` (a folder or its `airlock.toml`): a minisign signature
/// of the manifest, whose `sha256` must pin the component as it is now, written to
/// `airlock.toml.minisig`. `comment` becomes the trusted comment (default: plugin name,
/// version and component digest).
pub fn sign_folder(
    path: &Path,
    key: &SecretKey,
    comment: Option<&str>,
) -> Result<SignedFolder, SignError> {
    let dir = plugin_dir(path);
    let manifest_path = dir.join(manifest::FILE_NAME);
    let bytes = std::fs::read(&manifest_path)
        .map_err(|e| SignError::Io(format!("{}: {e}", manifest_path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    let manifest = Manifest::parse(&text, &manifest_path)?;
    let component = dir.join(&manifest.plugin.component);
    let component_bytes = std::fs::read(&component)
        .map_err(|e| SignError::Io(format!("{}: {e}", component.display())))?;
    let actual = Sha256::of(&component_bytes);
    match &manifest.plugin.sha256 {
        None => {
            return Err(SignError::Unpinned {
                manifest: manifest_path.display().to_string(),
                dir: dir.display().to_string(),
            });
        }
        Some(pinned) if *pinned != actual => {
            return Err(SignError::PinMismatch {
                manifest: manifest_path.display().to_string(),
                pinned: pinned.to_string(),
                actual: actual.to_string(),
            });
        }
        Some(_) => {}
    }
    let comment = comment.map(str::to_string).unwrap_or_else(|| {
        format!(
            "{} {} component sha256:{actual}",
            manifest.plugin.name, manifest.plugin.version
        )
    });
    let signature = minisign::sign(None, key, &bytes[..], Some(&comment), None)
        .map_err(minisign_error)?
        .to_string();
    let signature_path = dir.join(SIGNATURE_FILE);
    std::fs::write(&signature_path, &signature)
        .map_err(|e| SignError::Io(format!("{}: {e}", signature_path.display())))?;
    Ok(SignedFolder {
        signature_path,
        key_id: crate::trust::key_id_of_signature(&signature).unwrap_or_default(),
        trusted_comment: comment,
    })
}
