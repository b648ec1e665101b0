//! Keeping the cache within its size budget: least recently used entries go first,
//! leftovers (orphaned seals, abandoned writes) are removed, and the directory is listed by
//! the cache's own file names only.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::{ARTIFACT_EXT, ArtifactCache, CacheError, CacheStats, Key, SEAL_EXT, TEMP_PREFIX};

impl ArtifactCache {
    /// Removes the least recently used entries, never `keep` (just written), until the
    /// cache's files fit its budget. Unlinking is safe for entries still mapped by a
    /// plugin: the mapping keeps the file's bytes alive.
    pub(super) fn evict(&self, keep: &Key) {
        let Ok(files) = self.files() else { return };
        let files = self.remove_leftovers(files);
        // Unfinished writes (another process's, under way) are not ours to remove and do
        // not count against the budget.
        let mut total: u64 = files
            .iter()
            .filter(|f| f.kind != FileKind::Temp)
            .map(|f| f.len)
            .sum();
        let budget = self.max_bytes();
        if total <= budget {
            return;
        }
        // Entries by their artifact's modification time, oldest first; a seal goes with
        // its artifact.
        let mut entries: Vec<(std::time::SystemTime, Key, u64)> = files
            .iter()
            .filter(|f| f.kind == FileKind::Artifact)
            .filter_map(|f| {
                let stem = f.path.file_stem()?.to_str()?.to_string();
                let modified = fs::symlink_metadata(&f.path).ok()?.modified().ok()?;
                let seal_len =
                    fs::symlink_metadata(self.seal_path(&Key(stem.clone()))).map_or(0, |m| m.len());
                Some((modified, Key(stem), f.len + seal_len))
            })
            .filter(|(_, key, _)| key != keep)
            .collect();
        entries.sort_by_key(|(modified, ..)| *modified);
        for (_, key, bytes) in entries {
            if total <= budget {
                break;
            }
            self.discard(&key);
            total = total.saturating_sub(bytes);
            self.inner.evictions.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("evicted compiled-artifact cache entry {}", key.0);
        }
    }

    /// Removes what no entry uses: seals whose artifact is gone (a write that failed
    /// midway, an eviction by another process) and unfinished writes old enough that their
    /// writer must have died. Returns the files that remain.
    fn remove_leftovers(&self, files: Vec<CacheFile>) -> Vec<CacheFile> {
        const ABANDONED: std::time::Duration = std::time::Duration::from_secs(3600);
        let leftover = |file: &CacheFile| match file.kind {
            FileKind::Seal => !file.path.with_extension(ARTIFACT_EXT).exists(),
            FileKind::Temp => fs::symlink_metadata(&file.path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > ABANDONED)),
            FileKind::Artifact => false,
        };
        files
            .into_iter()
            .filter(|file| !(leftover(file) && fs::remove_file(&file.path).is_ok()))
            .collect()
    }

    /// The cache's own files in the directory (by name; anything else is left alone).
    pub(super) fn files(&self) -> Result<Vec<CacheFile>, CacheError> {
        let read_error = |source| CacheError::Read {
            dir: self.dir().to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in fs::read_dir(self.dir()).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let name = entry.file_name();
            let Some(kind) = name.to_str().and_then(FileKind::of) else {
                continue;
            };
            // Does not follow symlinks: counts and removes the link itself.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                continue;
            }
            files.push(CacheFile {
                path: entry.path(),
                kind,
                len: meta.len(),
            });
        }
        Ok(files)
    }
}

/// What a cache file is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileKind {
    Artifact,
    Seal,
    Temp,
}

impl FileKind {
    fn of(name: &str) -> Option<FileKind> {
        if name.starts_with(TEMP_PREFIX) {
            return Some(FileKind::Temp);
        }
        match Path::new(name).extension()?.to_str()? {
            ARTIFACT_EXT => Some(FileKind::Artifact),
            SEAL_EXT => Some(FileKind::Seal),
            _ => None,
        }
    }
}

/// One of the cache's own files in its directory.
pub(super) struct CacheFile {
    pub(super) path: PathBuf,
    pub(super) kind: FileKind,
    pub(super) len: u64,
}

impl CacheStats {
    pub(super) fn add(&mut self, file: &CacheFile) {
        self.bytes += file.len;
        if file.kind == FileKind::Artifact {
            self.entries += 1;
        }
    }
}
