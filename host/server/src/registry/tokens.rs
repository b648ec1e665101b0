//! API tokens: bearer secrets for the admin HTTP API, each bound to one tenant and one role.
//! Only a SHA-256 of each secret is stored; the secret itself is shown once, at creation.
//!
//! A serving registry (one that [follows](Registry::follow) the database) remembers the
//! tokens it has looked up ([`KnownTokens`]) and forgets them all whenever the database
//! reports any change, its own writes included. So a revocation on any host takes effect on
//! the next request everywhere, and known tokens keep working while the database is out of
//! reach (a PostgreSQL restart), when nothing can be revoked anyway.

use std::collections::HashMap;

use serde::Serialize;

use super::store::TokenRow;
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

/// A token as `token list` shows it: never the secret, only an id derived from its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The first 16 hex digits of the secret's SHA-256: enough to name it for revocation,
    /// useless for authenticating.
    pub id: String,
    pub tenant: String,
    pub role: String,
    pub label: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

/// The token holders a following registry has looked up, by hash; at most
/// [`KnownTokens::MAX`] (then it starts over, so made-up secrets cannot grow it). Unknown
/// secrets are not remembered: they always ask the database.
#[derive(Default)]
pub(super) struct KnownTokens {
    holders: HashMap<String, TokenHolder>,
    /// Moves at each [`KnownTokens::forget`], so a lookup that raced a change is not kept.
    epoch: u64,
}

impl KnownTokens {
    const MAX: usize = 4096;

    /// Forgets every token: the database changed.
    pub(super) fn forget(&mut self) {
        self.holders.clear();
        self.epoch += 1;
    }
}

/// An id as errors show it: at most an id's length, so a hash never appears whole.
fn shown(id: &str) -> String {
    id.chars().take(ID_LEN).collect()
}

impl From<TokenRow> for TokenInfo {
    fn from(row: TokenRow) -> Self {
        TokenInfo {
            id: row.hash[..ID_LEN.min(row.hash.len())].to_string(),
            tenant: row.tenant,
            role: row.role,
            label: row.label,
            created_at: row.created_at,
        }
    }
}

/// Hex digits of the hash shown as a token's id, and the fewest accepted to revoke one.
const ID_LEN: usize = 16;
const MIN_ID_LEN: usize = 8;

/// The prefix every secret starts with, so a leaked one is recognisable.
const PREFIX: &str = "alk_";

impl Registry {
    /// Creates a token for `tenant` with `role`; returns the secret (stored only hashed).
    pub async fn create_token(
        &self,
        tenant: &str,
        role: Role,
        label: &str,
    ) -> Result<String, RegistryError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| RegistryError::Random(e.to_string()))?;
        let secret = format!("{PREFIX}{}", airlock::digest::hex(&bytes));
        self.store
            .add_token(
                &airlock::digest::Sha256::of(secret.as_bytes()).to_string(),
                tenant,
                role.as_str(),
                label,
            )
            .await?;
        self.forget_tokens();
        Ok(secret)
    }

    /// The tokens of `tenant` (all tenants when `None`), oldest first.
    pub async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenInfo>, RegistryError> {
        let rows = self.store.tokens(tenant).await?;
        Ok(rows.into_iter().map(TokenInfo::from).collect())
    }

    /// Revokes the one token whose id starts with `id` (at least 8 hex digits, as `tokens`
    /// shows them). Takes effect on this process's next request, and on every process
    /// following the database as soon as it hears the change ([`Registry::follow`]).
    /// The secret itself is accepted too (and never echoed back).
    pub async fn revoke_token(&self, id: &str) -> Result<TokenInfo, RegistryError> {
        let id = id.trim();
        let id = match id.starts_with(PREFIX) {
            true => airlock::digest::Sha256::of(id.as_bytes()).to_string(),
            false => id.to_ascii_lowercase(),
        };
        if id.len() < MIN_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RegistryError::NoSuchToken(shown(&id)));
        }
        let mut matching: Vec<TokenRow> = self
            .store
            .tokens(None)
            .await?
            .into_iter()
            .filter(|row| row.hash.starts_with(&id))
            .collect();
        match matching.len() {
            0 => Err(RegistryError::NoSuchToken(shown(&id))),
            1 => {
                let row = matching.remove(0);
                self.store.remove_token(&row.hash).await?;
                self.forget_tokens();
                Ok(TokenInfo::from(row))
            }
            count => Err(RegistryError::AmbiguousToken {
                prefix: shown(&id),
                count,
            }),
        }
    }

    /// Who `secret` speaks for, if it is a token of this registry: from the tokens this
    /// process knows when it follows the database, else from the database.
    pub async fn token_holder(&self, secret: &str) -> Result<Option<TokenHolder>, RegistryError> {
        if !secret.starts_with(PREFIX) {
            return Ok(None);
        }
        let hash = airlock::digest::Sha256::of(secret.as_bytes()).to_string();
        // Read under the lock, which is released before the database is asked.
        let remembered = self.known_tokens().as_ref().map(|known| {
            let holder = known.holders.get(&hash).cloned();
            (holder, known.epoch)
        });
        let epoch = match remembered {
            None => return self.look_up_token(&hash).await,
            Some((Some(holder), _)) => return Ok(Some(holder)),
            Some((None, epoch)) => epoch,
        };
        let holder = self.look_up_token(&hash).await?;
        if let (Some(holder), Some(known)) = (&holder, self.known_tokens().as_mut())
            && known.epoch == epoch
        {
            if known.holders.len() >= KnownTokens::MAX {
                known.holders.clear();
            }
            known.holders.insert(hash, holder.clone());
        }
        Ok(holder)
    }

    async fn look_up_token(&self, hash: &str) -> Result<Option<TokenHolder>, RegistryError> {
        let found = self.store.token(hash).await?;
        Ok(found.and_then(|(tenant, role)| {
            Some(TokenHolder {
                tenant,
                role: role.parse().ok()?,
            })
        }))
    }

    /// Forgets the tokens this process knows (the database changed); a no-op when it does
    /// not follow the database.
    pub(super) fn forget_tokens(&self) {
        if let Some(known) = self.known_tokens().as_mut() {
            known.forget();
        }
    }

    /// Starts remembering looked-up tokens: from now on every database change is heard.
    pub(super) fn remember_tokens(&self) {
        self.known_tokens().get_or_insert_with(KnownTokens::default);
    }

    fn known_tokens(&self) -> std::sync::MutexGuard<'_, Option<KnownTokens>> {
        self.known_tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}
