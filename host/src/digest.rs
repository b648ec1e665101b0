//! SHA-256 digests: the one place Airlock hashes and hex-encodes. Component pins (a
//! manifest's `sha256`, a policy's `[plugins.NAME] sha256`), artifact-cache keys and seals,
//! OCI digests (`sha256:…`) and token hashes are all [`Sha256`] values or [`hex`] text.
//!
//! A leaf module: it uses nothing else from the crate, so every layer (manifest, policy,
//! cache, registry) can depend on it without an import cycle.
//!
//! Hashing is the largest cost of loading a big component from the artifact cache (an
//! 18 MB Python component and its 43 MB compiled artifact), so this module also remembers,
//! per process, the digests of files it hashed ([`of_file`], [`known`], [`remember`]).

use std::collections::HashMap;
use std::fmt;
use std::fs::Metadata;
use std::str::FromStr;
use std::sync::{LazyLock, Mutex};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// A SHA-256 digest (32 bytes). Its text form is 64 lowercase hexadecimal digits; parsing
/// also accepts upper case, so a pin copied from any tool works.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

/// A text that is not a SHA-256 digest. The text is quoted shortened (at most 80
/// characters): it may come from a plugin's manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a SHA-256 digest: {reason}")]
pub struct DigestError {
    pub text: String,
    pub reason: &'static str,
}

impl DigestError {
    fn new(text: &str, reason: &'static str) -> DigestError {
        let text = match text.char_indices().nth(80) {
            Some((end, _)) => format!("{}…", &text[..end]),
            None => text.to_string(),
        };
        DigestError { text, reason }
    }
}

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256 {
        Sha256(sha2::Sha256::digest(bytes).into())
    }

    /// An incremental hasher, for data read in pieces.
    pub fn hasher() -> Hasher {
        Hasher(sha2::Sha256::new())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `sha256:HEX`, the form of OCI descriptors and manifest references
    /// (OCI image spec, `descriptor.md`, "Digests").
    pub fn oci(&self) -> String {
        format!("sha256:{self}")
    }

    /// Parses the OCI form, `sha256:HEX`.
    ///
    /// # Errors
    /// [`DigestError`] without the `sha256:` prefix or with a bad hex part.
    pub fn from_oci(text: &str) -> Result<Sha256, DigestError> {
        match text.strip_prefix("sha256:") {
            Some(hex) => hex
                .parse()
                .map_err(|e: DigestError| DigestError::new(text, e.reason)),
            None => Err(DigestError::new(
                text,
                "an OCI digest starts with `sha256:`",
            )),
        }
    }
}

impl FromStr for Sha256 {
    type Err = DigestError;

    /// Parses 64 hexadecimal digits, either case.
    fn from_str(text: &str) -> Result<Sha256, DigestError> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(DigestError::new(text, "it must be 64 hexadecimal digits"));
        }
        let mut digest = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let nibble = |b: u8| (b as char).to_digit(16);
            match (nibble(pair[0]), nibble(pair[1])) {
                (Some(high), Some(low)) => digest[i] = (high * 16 + low) as u8,
                _ => return Err(DigestError::new(text, "it must be 64 hexadecimal digits")),
            }
        }
        Ok(Sha256(digest))
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

impl Serialize for Sha256 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Sha256, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental SHA-256: feed it with [`Hasher::update`], `io::Write` (e.g. `io::copy`), or
/// `std::hash::Hash` (a stable digest of a `Hash` value, unlike `DefaultHasher`).
#[derive(Clone)]
pub struct Hasher(sha2::Sha256);

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything fed so far.
    pub fn digest(self) -> Sha256 {
        Sha256(self.0.finalize().into())
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::hash::Hasher for Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The first 8 bytes of the digest so far; use [`Hasher::digest`] for all 32.
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }
}

/// `bytes` as lowercase hexadecimal, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(DIGITS[usize::from(b >> 4)] as char);
        text.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    text
}

/// What identifies a file's content without reading it: device, inode, size and change
/// time. Every write, truncation, rename or metadata change sets the change time (ctime) to
/// now, and no one can set it back, so a file with the same stamp still holds the bytes it
/// was hashed with. `None` where the platform has no ctime: nothing is remembered there.
type Stamp = (u64, u64, u64, i64, i64);

#[cfg(unix)]
fn stamp(meta: &Metadata) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    Some((
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.ctime(),
        meta.ctime_nsec(),
    ))
}

#[cfg(not(unix))]
fn stamp(_meta: &Metadata) -> Option<Stamp> {
    None
}

/// Most file digests remembered; past it the memo starts afresh (a cost, never an error).
const MEMO_ENTRIES: usize = 4096;

static MEMO: LazyLock<Mutex<HashMap<Stamp, Sha256>>> = LazyLock::new(Mutex::default);

/// The digest this process computed for the file `meta` describes, if its stamp (device,
/// inode, size, change time) is unchanged since.
pub fn known(meta: &Metadata) -> Option<Sha256> {
    let stamp = stamp(meta)?;
    MEMO.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&stamp)
        .copied()
}

/// Remembers that the file `meta` describes has `digest`. Call it only with a digest of the
/// bytes the file holds under that stamp (hashed, or checked against a seal).
pub fn remember(meta: &Metadata, digest: Sha256) {
    let Some(stamp) = stamp(meta) else {
        return;
    };
    let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    if memo.len() >= MEMO_ENTRIES {
        memo.clear();
    }
    memo.insert(stamp, digest);
}

/// The digest of `bytes`, read from a file whose metadata was `before` the read and is
/// `after` it: taken from the memo when the file is unchanged since it was last hashed,
/// else computed (and remembered when the file did not change during the read).
pub fn of_file(bytes: &[u8], before: &Metadata, after: &Metadata) -> Sha256 {
    let steady = stamp(before).is_some()
        && stamp(before) == stamp(after)
        && before.len() == bytes.len() as u64;
    if steady && let Some(digest) = known(before) {
        return digest;
    }
    let digest = Sha256::of(bytes);
    if steady {
        remember(before, digest);
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digests_print_parse_and_round_trip_in_both_forms() {
        let empty = Sha256::of(b"");
        assert_eq!(empty.to_string(), EMPTY);
        assert_eq!(EMPTY.to_uppercase().parse::<Sha256>().unwrap(), empty);
        assert_eq!(Sha256::from_oci(&empty.oci()).unwrap(), empty);
        let mut hasher = Sha256::hasher();
        std::io::Write::write_all(&mut hasher, b"").unwrap();
        assert_eq!(hasher.digest(), empty);
        let json = serde_json::to_string(&empty).unwrap();
        assert_eq!(serde_json::from_str::<Sha256>(&json).unwrap(), empty);
        assert_eq!(hex(&[0x00, 0x7f, 0xff]), "007fff");
    }

    /// A file is hashed again exactly when it changed: the memo is keyed by its stamp.
    #[cfg(unix)]
    #[test]
    fn a_file_digest_is_remembered_until_the_file_changes() {
        let path = std::env::temp_dir().join(format!("airlock-digest-{}", std::process::id()));
        std::fs::write(&path, b"first").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(known(&meta), None);
        assert_eq!(of_file(b"first", &meta, &meta), Sha256::of(b"first"));
        assert_eq!(known(&meta), Some(Sha256::of(b"first")));
        // Same size, new bytes: the change time moves, so the memo no longer answers.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"again").unwrap();
        let changed = std::fs::metadata(&path).unwrap();
        assert_eq!(known(&changed), None);
        assert_eq!(of_file(b"again", &changed, &changed), Sha256::of(b"again"));
        // A file that changed during the read is hashed, never remembered.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"third").unwrap();
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(of_file(b"third", &changed, &after), Sha256::of(b"third"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn malformed_digests_are_refused_with_the_rule() {
        for bad in [
            "",
            "abc",
            &EMPTY[1..],
            &format!("{}g", &EMPTY[1..]),
            "é".repeat(32).as_str(),
        ] {
            let err = bad.parse::<Sha256>().unwrap_err();
            assert!(err.to_string().contains("64 hexadecimal digits"), "{err}");
        }
        assert!(Sha256::from_oci(EMPTY).is_err());
        let long = "x".repeat(10_000);
        assert!(long.parse::<Sha256>().unwrap_err().to_string().len() < 200);
    }
}
