//! One cache entry: its seal, the checks an artifact must pass before wasmtime maps it, the
//! `unsafe` deserialize, and the writing and removal of entries — together, because the
//! SAFETY argument of the deserialize rests on all of them (entries are only written by
//! `store`, renamed into place complete, and removed by unlinking, in a directory only
//! this user can write).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::{ArtifactCache, Key, MAX_SEAL_LEN, SEAL_MAGIC, sys};
use crate::digest::Sha256;

/// What the seal of an entry records about its artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seal {
    sha256: String,
    len: u64,
}

impl Seal {
    fn of(artifact: &[u8]) -> Seal {
        Seal {
            sha256: Sha256::of(artifact).to_string(),
            len: artifact.len() as u64,
        }
    }

    fn render(&self, key: &Key) -> String {
        format!("{SEAL_MAGIC} {} {} {}\n", key.0, self.sha256, self.len)
    }

    /// Parses a seal, which must name `key`: a seal copied from another entry is foreign.
    fn parse(text: &str, key: &Key) -> Result<Seal, Reject> {
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        let [magic, sealed_key, sha256, len] = words[..] else {
            return Err(Reject::BadSeal);
        };
        if magic != SEAL_MAGIC
            || sha256.len() != 64
            || !sha256.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Reject::BadSeal);
        }
        if sealed_key != key.0 {
            return Err(Reject::WrongKey);
        }
        let len = len.parse().map_err(|_| Reject::BadSeal)?;
        Ok(Seal {
            sha256: sha256.to_ascii_lowercase(),
            len,
        })
    }
}

/// Why an entry was not trusted (it is then discarded).
#[derive(Debug, thiserror::Error)]
enum Reject {
    #[error("its seal cannot be read: {0}")]
    NoSeal(io::Error),
    #[error("its seal is malformed")]
    BadSeal,
    #[error("its seal belongs to another entry")]
    WrongKey,
    #[error("the artifact cannot be read: {0}")]
    Io(#[from] io::Error),
    #[error("the artifact is not a regular file")]
    NotAFile,
    #[error("the artifact is {actual} bytes, its seal says {sealed}")]
    Size { actual: u64, sealed: u64 },
    #[error("the artifact's sha256 is {actual}, its seal says {sealed}")]
    Digest { actual: String, sealed: String },
    #[error("wasmtime refused the artifact: {0}")]
    Deserialize(String),
}

/// Why an entry could not be written (the plugin loads anyway).
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("serializing the component failed: {0}")]
    Serialize(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl ArtifactCache {
    /// The compiled component for `key`, if the cache holds a sound entry for it. A bad
    /// entry is logged and discarded; the caller compiles again.
    pub(crate) fn load(&self, engine: &Engine, key: &Key) -> Option<Component> {
        if let Err(e) = sys::check_private_dir(self.dir()) {
            tracing::warn!("compiled-artifact cache not used: {e}");
            return None;
        }
        match self.try_load(engine, key) {
            Ok(Some(component)) => {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                Some(component)
            }
            Ok(None) => {
                self.inner.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(reject) => {
                self.inner.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "discarding compiled-artifact cache entry {}: {reject}; compiling again",
                    self.artifact_path(key).display()
                );
                self.discard(key);
                None
            }
        }
    }

    /// Writes `component` as the entry for `key`. A failure is logged: the plugin is loaded
    /// anyway, only the next load compiles again.
    pub(crate) fn store(&self, key: &Key, component: &Component) {
        if let Err(e) = sys::check_private_dir(self.dir()) {
            tracing::warn!("compiled-artifact cache not written: {e}");
            return;
        }
        match self.try_store(key, component) {
            Ok(()) => {
                self.inner.writes.fetch_add(1, Ordering::Relaxed);
                self.evict(key);
            }
            Err(e) => {
                tracing::warn!(
                    "cannot write compiled-artifact cache entry {}: {e}",
                    self.artifact_path(key).display()
                );
                // A full disk is when room matters most: drop the half-written entry and
                // make room for the next one.
                self.discard(key);
                self.evict(key);
            }
        }
    }

    /// `Ok(None)` when there is no entry; `Err` when there is one we must not trust.
    fn try_load(&self, engine: &Engine, key: &Key) -> Result<Option<Component>, Reject> {
        let path = self.artifact_path(key);
        let file = match sys::open_no_follow(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Reject::Io(e)),
        };
        let seal = self.read_seal(key)?;
        let sealed: Option<Sha256> = seal.sha256.parse().ok();
        let meta = file.metadata().map_err(Reject::Io)?;
        // Hashed in this process already, and unchanged since (same inode, size and change
        // time): the seal check holds as it did then.
        let identity = match crate::digest::known(&meta) {
            Some(digest) if Some(digest) == sealed && meta.len() == seal.len => {
                sys::identity(&meta)
            }
            _ => verify(&file, &seal)?,
        };
        // SAFETY: `deserialize_file` requires (1) the bytes to be an unmodified artifact of
        // `Component::serialize` from this wasmtime, and (2) the file not to change while
        // the component lives (it is mapped, not copied).
        // (1) The file we just hashed, opened without following symlinks, has exactly the
        // length and SHA-256 its seal records, and the seal names this entry's key. Seals
        // and artifacts are only written by `store`, from `Component::serialize` output, in
        // a directory this user owns and nobody else can write (checked above): a
        // corrupted, truncated or foreign file fails here and is discarded unread. Right
        // after mapping we check that the path still names the very file we hashed, so a
        // concurrent replacement cannot slip in unchecked bytes. Wasmtime also refuses
        // artifacts of another version or configuration by their header. (The digest
        // protects against corruption and foreign files, not against code running as this
        // user, which could patch this binary anyway.)
        // (2) This module never writes into an existing file: entries are written under a
        // temporary name and renamed into place, and removed by unlinking, so the bytes of
        // a mapped file never change.
        let component = unsafe { Component::deserialize_file(engine, &path) }
            .map_err(|e| Reject::Deserialize(format!("{e:#}")))?;
        if sys::identity_at(&path).ok() != Some(identity) {
            // Replaced by another process between our check and the mapping: what was
            // mapped is unchecked. Not an error of the entry; just compile.
            return Ok(None);
        }
        // A hit makes the entry the most recently used one (eviction goes by this time).
        // Only the time changes, never the bytes.
        let _ = file.set_modified(std::time::SystemTime::now());
        // That changed the change time: remember the verified digest under the new stamp.
        if let (Some(digest), Ok(meta)) = (sealed, file.metadata()) {
            crate::digest::remember(&meta, digest);
        }
        drop(file);
        Ok(Some(component))
    }

    fn read_seal(&self, key: &Key) -> Result<Seal, Reject> {
        let file = sys::open_no_follow(&self.seal_path(key)).map_err(Reject::NoSeal)?;
        let mut text = String::new();
        file.take(MAX_SEAL_LEN)
            .read_to_string(&mut text)
            .map_err(|_| Reject::BadSeal)?;
        Seal::parse(&text, key)
    }

    fn try_store(&self, key: &Key, component: &Component) -> Result<(), WriteError> {
        let artifact = component
            .serialize()
            .map_err(|e| WriteError::Serialize(format!("{e:#}")))?;
        let seal = Seal::of(&artifact);
        // Seal first: a reader that sees the seal without the artifact finds no entry (a
        // miss); the artifact, renamed last, completes the entry.
        self.write_atomically(&self.seal_path(key), seal.render(key).as_bytes())?;
        self.write_atomically(&self.artifact_path(key), &artifact)?;
        Ok(())
    }

    /// Writes a new private file under a unique temporary name, then renames it to `dest`:
    /// readers see the old file or the complete new one, never a partial one, even with
    /// several processes writing the same entry. No fsync: an entry torn by a crash fails
    /// its digest check and is rebuilt.
    fn write_atomically(&self, dest: &Path, bytes: &[u8]) -> io::Result<()> {
        let temp = self.temp_path();
        let written = sys::create_private_file(&temp)
            .and_then(|mut file| file.write_all(bytes))
            .and_then(|()| fs::rename(&temp, dest));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }

    /// Unlinks both files of an entry (never truncates: a plugin may still map it).
    pub(super) fn discard(&self, key: &Key) {
        for path in [self.artifact_path(key), self.seal_path(key)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
            }
        }
    }
}

/// Checks the open artifact against its seal; returns the file's identity.
fn verify(file: &File, seal: &Seal) -> Result<sys::Identity, Reject> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Reject::NotAFile);
    }
    if meta.len() != seal.len {
        return Err(Reject::Size {
            actual: meta.len(),
            sealed: seal.len,
        });
    }
    let mut hasher = Sha256::hasher();
    io::copy(&mut file.take(seal.len), &mut hasher)?;
    let actual = hasher.digest().to_string();
    if actual != seal.sha256 {
        return Err(Reject::Digest {
            actual,
            sealed: seal.sha256.clone(),
        });
    }
    Ok(sys::identity(&meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_names_its_entry() {
        let key = Key("a-b".into());
        let seal = Seal::of(b"artifact");
        assert_eq!(Seal::parse(&seal.render(&key), &key).expect("parses"), seal);
        let other = Key("c-d".into());
        assert!(matches!(
            Seal::parse(&seal.render(&key), &other),
            Err(Reject::WrongKey)
        ));
        for bad in ["", "garbage", "airlock-artifact-v1 a-b zz 8", "v0 a-b 00 8"] {
            assert!(Seal::parse(bad, &key).is_err(), "{bad:?}");
        }
    }
}
