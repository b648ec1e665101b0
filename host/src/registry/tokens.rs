//! API tokens: bearer secrets for the admin HTTP API, each bound to one tenant and one role.
//! Only a SHA-256 of each secret is stored; the secret itself is shown once, at creation.

use serde::Serialize;

use super::{Registry, RegistryError};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Manage the tenant's plugins (enable, disable, config, health) and call its tools.
    Admin,
    /// Call the tenant's tools and dispatch its hooks; nothing else.
    Caller,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Caller => "caller",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "caller" => Ok(Role::Caller),
            other => Err(format!("unknown role `{other}`; expected admin or caller")),
        }
    }
}

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenHolder {
    pub tenant: String,
    pub role: Role,
}

/// The prefix every secret starts with, so a leaked one is recognisable.
const PREFIX: &str = "alk_";

impl Registry {
    /// Creates a token for `tenant` with `role`; returns the secret (stored only hashed).
    pub fn create_token(
        &self,
        tenant: &str,
        role: Role,
        label: &str,
    ) -> Result<String, RegistryError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| RegistryError::Random(e.to_string()))?;
        let secret = format!(
            "{PREFIX}{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        self.db().add_token(
            &crate::folder::sha256_hex(secret.as_bytes()),
            tenant,
            role.as_str(),
            label,
        )?;
        Ok(secret)
    }

    /// Who `secret` speaks for, if it is a token of this registry.
    pub fn token_holder(&self, secret: &str) -> Result<Option<TokenHolder>, RegistryError> {
        if !secret.starts_with(PREFIX) {
            return Ok(None);
        }
        let found = self
            .db()
            .token(&crate::folder::sha256_hex(secret.as_bytes()))?;
        Ok(found.and_then(|(tenant, role)| {
            Some(TokenHolder {
                tenant,
                role: role.parse().ok()?,
            })
        }))
    }
}
