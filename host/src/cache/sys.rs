//! The platform side of the cache: private directories and files, ownership, file
//! identity. Only Unix has a cache.

pub(super) use imp::*;

/// Unix: modes, owners, `O_NOFOLLOW`, (device, inode).
#[cfg(unix)]
mod imp {
    use std::fs::{self, DirBuilder, File, OpenOptions};
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    use std::path::Path;

    use crate::cache::CacheError;

    /// (device, inode): which file a path named.
    pub(in crate::cache) type Identity = (u64, u64);

    pub(in crate::cache) fn create_private_dir(dir: &Path) -> io::Result<()> {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }

    pub(in crate::cache) fn check_private_dir(dir: &Path) -> Result<(), CacheError> {
        let meta = fs::metadata(dir).map_err(|source| CacheError::Read {
            dir: dir.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(CacheError::NotADirectory {
                dir: dir.to_path_buf(),
            });
        }
        judge(dir, meta.uid(), meta.mode(), current_uid())
    }

    /// A directory is private when this user owns it and nobody else may write it.
    pub(in crate::cache) fn judge(
        dir: &Path,
        owner: u32,
        mode: u32,
        uid: u32,
    ) -> Result<(), CacheError> {
        if owner != uid {
            return Err(CacheError::NotOwned {
                dir: dir.to_path_buf(),
                owner,
                uid,
            });
        }
        if mode & 0o022 != 0 {
            return Err(CacheError::Insecure {
                dir: dir.to_path_buf(),
                mode: mode & 0o7777,
            });
        }
        Ok(())
    }

    fn current_uid() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    pub(in crate::cache) fn create_private_file(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
    }

    pub(in crate::cache) fn open_no_follow(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    }

    pub(in crate::cache) fn identity(meta: &fs::Metadata) -> Identity {
        (meta.dev(), meta.ino())
    }

    pub(in crate::cache) fn identity_at(path: &Path) -> io::Result<Identity> {
        fs::symlink_metadata(path).map(|meta| identity(&meta))
    }
}

/// Elsewhere the cache is never opened (no ownership check is possible), so the file
/// helpers are never reached.
#[cfg(not(unix))]
mod imp {
    use std::fs::{self, File};
    use std::io;
    use std::path::Path;

    use crate::cache::CacheError;

    pub(in crate::cache) type Identity = ();

    pub(in crate::cache) fn create_private_dir(_dir: &Path) -> io::Result<()> {
        Ok(())
    }

    pub(in crate::cache) fn check_private_dir(_dir: &Path) -> Result<(), CacheError> {
        Err(CacheError::Unsupported)
    }

    pub(in crate::cache) fn create_private_file(path: &Path) -> io::Result<File> {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    }

    pub(in crate::cache) fn open_no_follow(path: &Path) -> io::Result<File> {
        File::open(path)
    }

    pub(in crate::cache) fn identity(_meta: &fs::Metadata) -> Identity {}

    pub(in crate::cache) fn identity_at(_path: &Path) -> io::Result<Identity> {
        Ok(())
    }
}
