//! Dependencies between plugins of one tenant: what a plugin needs enabled (and at which
//! versions) before it may be, and who needs it before it may go.

use super::{Registry, RegistryError};

impl Registry {
    /// Each dependency `name` declared must be enabled for `tenant` at a matching version.
    pub(super) async fn check_dependencies(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<(), RegistryError> {
        for (dependency, required) in self.store.dependencies(name).await? {
            let found = self.store.enabled_version(tenant, &dependency).await?;
            let matches = found
                .as_deref()
                .is_some_and(|v| version_matches(v, &required));
            if !matches {
                return Err(RegistryError::MissingDependency {
                    tenant: tenant.into(),
                    plugin: name.into(),
                    dependency,
                    required,
                    found,
                });
            }
        }
        Ok(())
    }

    /// Every plugin enabled for `tenant` that depends on `name` must accept `version`.
    pub(super) async fn check_dependents(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
    ) -> Result<(), RegistryError> {
        for dependent in self.store.dependents(tenant, name).await? {
            let required = self
                .store
                .dependencies(&dependent)
                .await?
                .into_iter()
                .find(|(d, _)| d == name);
            if let Some((_, required)) = required.filter(|(_, r)| !version_matches(version, r)) {
                return Err(RegistryError::BreaksDependent {
                    tenant: tenant.into(),
                    plugin: name.into(),
                    version: version.into(),
                    dependent,
                    required,
                });
            }
        }
        Ok(())
    }
}

fn version_matches(version: &str, requirement: &str) -> bool {
    match (
        semver::Version::parse(version),
        semver::VersionReq::parse(requirement),
    ) {
        (Ok(v), Ok(r)) => r.matches(&v),
        _ => false,
    }
}
