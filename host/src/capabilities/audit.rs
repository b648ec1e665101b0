//! The import audit: every import of a component is mapped to the capability that covers it.
//! An import no capability covers is refused by name — the runtime never links something a
//! reviewer cannot see.
//!
//! Note: every Rust `wasm32-wasip2` binary imports `wasi:cli/environment` and often
//! `wasi:filesystem/*` even when unused; those are linked, but give nothing unless granted.

use serde::Serialize;

/// Always available to every plugin: its contract, the host's logging and the session
/// context of its own calls (see [`super::base`]).
pub const CORE: &str = super::base::NAME;

/// Every capability with the import prefixes it covers (from the one list in
/// [`super`]).
pub const CAPABILITIES: &[(&str, &[&str])] = super::LIST;

/// One import and the capability that covers it (`None`: nothing does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportUse {
    pub import: String,
    pub capability: Option<&'static str>,
}

/// The capability covering `import` (e.g. `wasi:filesystem/types@0.2.6` → files).
pub fn capability_of(import: &str) -> Option<&'static str> {
    let name = import.split('@').next().unwrap_or(import);
    CAPABILITIES
        .iter()
        .find(|(_, prefixes)| {
            prefixes
                .iter()
                .any(|p| name == p.trim_end_matches('/') || name.starts_with(p))
        })
        .map(|(capability, _)| *capability)
}

pub fn audit<'a>(imports: impl IntoIterator<Item = &'a String>) -> Vec<ImportUse> {
    imports
        .into_iter()
        .map(|import| ImportUse {
            import: import.clone(),
            capability: capability_of(import),
        })
        .collect()
}

/// Refuses the component at `what` when some import has no capability, naming them all.
pub(crate) fn refuse_unknown(what: &str, uses: &[ImportUse]) -> Result<(), crate::LoadError> {
    let unknown: Vec<String> = uses
        .iter()
        .filter(|u| u.capability.is_none())
        .map(|u| u.import.clone())
        .collect();
    match unknown.is_empty() {
        true => Ok(()),
        false => Err(crate::LoadError::UnknownImports {
            what: what.to_string(),
            imports: unknown,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_imports_to_capabilities() {
        assert_eq!(
            capability_of("wasi:filesystem/preopens@0.2.6"),
            Some("files")
        );
        assert_eq!(capability_of("wasi:sockets/tcp@0.2.0"), Some("network"));
        assert_eq!(capability_of("wasi:cli/environment@0.2.6"), Some("env"));
        assert_eq!(capability_of("wasi:cli/stderr@0.2.6"), Some("stdio"));
        assert_eq!(capability_of("wasi:io/streams@0.2.6"), Some("stdio"));
        assert_eq!(capability_of("airlock:plugin/host@0.1.0"), Some("core"));
        assert_eq!(capability_of("airlock:plugin/exec@0.1.0"), Some("exec"));
        assert_eq!(
            capability_of("wasi:http/outgoing-handler@0.2.6"),
            Some("http")
        );
        assert_eq!(capability_of("wasi:http/types@0.2.0"), Some("http"));
        assert_eq!(capability_of("wasi:http/incoming-handler@0.2.6"), None);
        assert_eq!(capability_of("evil:backdoor/open"), None);
    }
}
