//! Which installed plugin a name means, the same for every front end (`airlock plugins
//! enable`, JSON-RPC `plugin/enable`, the HTTP API): an installed plugin of that name, else
//! the first folder of that name on the plugin search path ([`crate::discovery`]), which
//! is installed on the way.

use std::path::PathBuf;

use super::{Registry, RegistryError};
use crate::discovery::{default_search_path, discover};

impl Registry {
    /// The installed name for `name`, installing it from the plugin search path
    /// (`$AIRLOCK_PLUGIN_PATH`, then the XDG and system folders) when it is not installed
    /// yet.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when neither has it; what installing the found folder
    /// fails with (its manifest).
    pub async fn resolve(&self, name: &str) -> Result<String, RegistryError> {
        self.resolve_on(name, &default_search_path()).await
    }

    /// [`Registry::resolve`] on an explicit search path.
    pub async fn resolve_on(
        &self,
        name: &str,
        search_path: &[PathBuf],
    ) -> Result<String, RegistryError> {
        if self.installed().await?.iter().any(|i| i.name == name) {
            return Ok(name.to_string());
        }
        let discovery = discover(search_path);
        match discovery.found.iter().find(|f| f.name == name) {
            Some(found) => self.install(&found.dir).await,
            None => Err(RegistryError::NotFound(name.to_string())),
        }
    }
}
