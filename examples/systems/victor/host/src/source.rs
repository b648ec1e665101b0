//! What a workflow URI addresses: `SCHEME://PATH` names the file PATH in the workflows
//! folder the host owns, and the scheme picks the compiler. The host reads the file (the
//! plugins have no filesystem grant) and hands its text to the plugin: a path never leaves
//! the folder (no `..`, no absolute path, no symlink pointing out), and a source is at most
//! [`MAX_SOURCE_BYTES`].

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::VictorError;

/// Largest workflow source read, in bytes (1 MiB).
pub const MAX_SOURCE_BYTES: u64 = 1 << 20;

/// Splits `SCHEME://PATH`. The scheme is what manifests declare as a routing key (letters,
/// digits, `+ - .`); the path is not empty.
pub fn split_uri(uri: &str) -> Result<(&str, &str), VictorError> {
    let bad = |problem: &str| VictorError::BadUri {
        uri: airlock::text::escape(uri).into_owned(),
        problem: problem.into(),
    };
    let (scheme, path) = uri
        .split_once("://")
        .ok_or_else(|| bad("expected SCHEME://PATH, e.g. json://support.json"))?;
    let valid_scheme = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return Err(bad(
            "the scheme must be letters, digits, `+`, `-` or `.` (json, yaml…)",
        ));
    }
    if path.is_empty() {
        return Err(bad("no path after `://`"));
    }
    Ok((scheme, path))
}

/// The text of `path` inside `root` (a canonical folder).
pub fn read_in(root: &Path, path: &str) -> Result<String, VictorError> {
    let fail = |problem: String| VictorError::Source {
        path: airlock::text::escape(path).into_owned(),
        problem,
    };
    let relative = Path::new(path);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(fail(format!(
            "give a path relative to the workflows folder {}, without `..`",
            root.display()
        )));
    }
    let full: PathBuf = root
        .join(relative)
        .canonicalize()
        .map_err(|e| fail(format!("not found in {}: {e}", root.display())))?;
    if !full.starts_with(root) {
        return Err(fail(format!(
            "leads out of the workflows folder {} (a symlink?)",
            root.display()
        )));
    }
    let file = std::fs::File::open(&full).map_err(|e| fail(e.to_string()))?;
    if !file.metadata().map_err(|e| fail(e.to_string()))?.is_file() {
        return Err(fail("is not a file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(fail(format!(
            "is larger than {MAX_SOURCE_BYTES} bytes, the most a workflow source may be"
        )));
    }
    String::from_utf8(bytes).map_err(|_| fail("is not UTF-8 text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_is_a_scheme_and_a_path() {
        assert_eq!(split_uri("json://a/b.json").unwrap(), ("json", "a/b.json"));
        for bad in ["a/b.json", "://x", "js on://x", "json://"] {
            assert!(
                matches!(split_uri(bad), Err(VictorError::BadUri { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths_stay_in_the_folder() {
        let root = std::env::temp_dir().canonicalize().unwrap();
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../x"] {
            let err = read_in(&root, bad).unwrap_err();
            assert!(err.to_string().contains("without `..`"), "{bad}: {err}");
        }
    }
}
