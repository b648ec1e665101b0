//! Registry credentials: anonymous, basic, or a bearer token, from the environment or the
//! standard `~/.docker/config.json`. They go to the registry (basic, or exchanged for a
//! bearer token when it asks) and nowhere else: `Debug` redacts them, nothing logs them.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oci_client::secrets::RegistryAuth;

/// Credentials for one registry.
#[derive(Clone, Default, PartialEq)]
pub enum Auth {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// A token sent as `Authorization: Bearer …` as it is.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Anonymous => f.write_str("Anonymous"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Auth {
    /// Credentials for `registry` (`host[:port]`), first found of:
    /// `$AIRLOCK_REGISTRY_TOKEN` (bearer); `$AIRLOCK_REGISTRY_USERNAME` +
    /// `$AIRLOCK_REGISTRY_PASSWORD` (basic); the `auths` entry for `registry` in
    /// `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`); else anonymous.
    pub fn for_registry(registry: &str) -> Auth {
        Auth::from_lookup(registry, |key| std::env::var(key).ok())
    }

    /// [`Auth::for_registry`] reading variables through `lookup`.
    pub fn from_lookup(registry: &str, lookup: impl Fn(&str) -> Option<String>) -> Auth {
        let set = |key: &str| lookup(key).filter(|v| !v.is_empty());
        if let Some(token) = set("AIRLOCK_REGISTRY_TOKEN") {
            return Auth::Bearer(token);
        }
        if let (Some(username), Some(password)) = (
            set("AIRLOCK_REGISTRY_USERNAME"),
            set("AIRLOCK_REGISTRY_PASSWORD"),
        ) {
            return Auth::Basic { username, password };
        }
        let config = set("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| set("HOME").map(|h| PathBuf::from(h).join(".docker")))
            .map(|d| d.join("config.json"));
        config
            .and_then(|path| from_docker_config(&path, registry))
            .unwrap_or_default()
    }

    pub(crate) fn to_registry_auth(&self) -> RegistryAuth {
        match self {
            Auth::Anonymous => RegistryAuth::Anonymous,
            Auth::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Auth::Bearer(token) => RegistryAuth::Bearer(token.clone()),
        }
    }
}

/// The `auths` entry for `registry` in a docker `config.json`: `auth` (base64 of
/// `user:password`) or `username` + `password`, or `registrytoken` (bearer). Credential
/// helpers (`credsStore`) are not run.
fn from_docker_config(path: &Path, registry: &str) -> Option<Auth> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > 1 << 20 {
        return None;
    }
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let auths = config.get("auths")?.as_object()?;
    let entry = auths.iter().find_map(|(key, value)| {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        (host == registry).then_some(value)
    })?;
    if let Some(token) = entry.get("registrytoken").and_then(|v| v.as_str()) {
        return Some(Auth::Bearer(token.to_string()));
    }
    if let Some(encoded) = entry.get("auth").and_then(|v| v.as_str()) {
        let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
        let (username, password) = decoded.split_once(':')?;
        return Some(Auth::Basic {
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    let field = |name: &str| entry.get(name).and_then(|v| v.as_str()).map(String::from);
    Some(Auth::Basic {
        username: field("username")?,
        password: field("password")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_environment_then_the_docker_config() {
        let dir = std::env::temp_dir().join(format!("airlock-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let encoded = STANDARD.encode("alice:s3cret");
        std::fs::write(
            dir.join("config.json"),
            format!(r#"{{"auths": {{"https://reg.example:5000": {{"auth": "{encoded}"}}}}}}"#),
        )
        .unwrap();
        let docker = dir.display().to_string();
        let env = |pairs: Vec<(&'static str, String)>| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.clone())
            }
        };
        let auth = Auth::from_lookup(
            "reg.example:5000",
            env(vec![("DOCKER_CONFIG", docker.clone())]),
        );
        assert_eq!(
            auth,
            Auth::Basic {
                username: "alice".into(),
                password: "s3cret".into()
            }
        );
        assert!(!format!("{auth:?}").contains("s3cret"));
        let other = Auth::from_lookup(
            "other.example",
            env(vec![("DOCKER_CONFIG", docker.clone())]),
        );
        assert_eq!(other, Auth::Anonymous);
        let token = Auth::from_lookup(
            "reg.example:5000",
            env(vec![
                ("DOCKER_CONFIG", docker),
                ("AIRLOCK_REGISTRY_TOKEN", "tok".into()),
            ]),
        );
        assert_eq!(token, Auth::Bearer("tok".into()));
        assert_eq!(format!("{token:?}"), "Bearer(<redacted>)");
        let _ = std::fs::remove_dir_all(dir);
    }
}
