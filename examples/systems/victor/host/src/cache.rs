//! The bounded cache of compiled workflows. A plugin chooses both the key (its
//! `cache-key`) and the value (its compiled output), so both are bounded here: the key is
//! stored as a SHA-256 of the plugin's text, namespaced by the plugin's name and version,
//! the workflow asked for and the `validate` flag (which the plugin's key does not cover);
//! entries are counted and their size measured as the JSON text the plugin returned, and
//! the least recently used ones leave when either cap is reached.

use std::sync::Arc;

use airlock::digest::Sha256;
use hashlink::LruCache;

use crate::workflow::CompiledWorkflow;

/// How much the cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Most compiled workflows kept (0 turns the cache off).
    pub max_entries: usize,
    /// Most bytes kept, counted as the JSON text of each compiled workflow; a workflow
    /// larger than this is returned but not kept.
    pub max_bytes: usize,
}

impl Default for CacheLimits {
    /// 256 workflows, 16 MiB.
    fn default() -> Self {
        CacheLimits {
            max_entries: 256,
            max_bytes: 16 << 20,
        }
    }
}

/// What the cache did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Compiles answered from the cache (no `compile` call).
    pub hits: u64,
    /// Compiles that called the plugin's `compile`.
    pub misses: u64,
    /// Workflows dropped to stay within the limits.
    pub evictions: u64,
    /// Workflows held now.
    pub entries: usize,
    /// Their size now, in bytes of JSON text.
    pub bytes: usize,
}

/// Everything a compiled workflow depends on: the plugin (by name, version and component
/// digest, so neither a new version nor a rebuild under the same version serves an old
/// component's output), the plugin's key for the source, and the arguments its key does
/// not cover.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub plugin: String,
    pub version: String,
    /// [`airlock::Plugin::digest`]: `None` only for a component loaded without a folder.
    pub component: Option<Sha256>,
    pub source_key: Sha256,
    pub workflow_name: Option<String>,
    pub validate: bool,
}

struct Entry {
    workflow: Arc<CompiledWorkflow>,
    bytes: usize,
}

/// Compiled workflows, least recently used first out.
pub(crate) struct Cache {
    limits: CacheLimits,
    entries: LruCache<CacheKey, Entry>,
    bytes: usize,
    stats: CacheStats,
}

impl Cache {
    pub fn new(limits: CacheLimits) -> Cache {
        Cache {
            limits,
            entries: LruCache::new_unbounded(),
            bytes: 0,
            stats: CacheStats::default(),
        }
    }

    /// The workflow under `key`, counting a hit or a miss.
    pub fn get(&mut self, key: &CacheKey) -> Option<Arc<CompiledWorkflow>> {
        let found = self.entries.get(key).map(|e| e.workflow.clone());
        match found {
            Some(_) => self.stats.hits += 1,
            None => self.stats.misses += 1,
        }
        found
    }

    /// Keeps `workflow` (`bytes` of JSON text) under `key`, evicting the least recently
    /// used entries until both limits hold; one larger than the byte limit is not kept.
    pub fn insert(&mut self, key: CacheKey, workflow: Arc<CompiledWorkflow>, bytes: usize) {
        if self.limits.max_entries == 0 || bytes > self.limits.max_bytes {
            return;
        }
        if let Some(old) = self.entries.remove(&key) {
            self.bytes -= old.bytes;
        }
        while self.entries.len() >= self.limits.max_entries
            || self.bytes + bytes > self.limits.max_bytes
        {
            let Some((_, evicted)) = self.entries.remove_lru() else {
                break;
            };
            self.bytes -= evicted.bytes;
            self.stats.evictions += 1;
        }
        self.bytes += bytes;
        self.entries.insert(key, Entry { workflow, bytes });
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.entries.len(),
            bytes: self.bytes,
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Metadata;

    fn key(n: u8) -> CacheKey {
        CacheKey {
            plugin: "p".into(),
            version: "0.1.0".into(),
            component: None,
            source_key: Sha256::of(&[n]),
            workflow_name: None,
            validate: true,
        }
    }

    fn workflow() -> Arc<CompiledWorkflow> {
        Arc::new(CompiledWorkflow {
            name: "w".into(),
            metadata: Metadata {
                name: "w".into(),
                description: None,
                version: None,
            },
            entry: "a".into(),
            nodes: vec![],
            edges: vec![],
        })
    }

    #[test]
    fn the_least_recently_used_entry_leaves_at_either_limit() {
        let mut cache = Cache::new(CacheLimits {
            max_entries: 2,
            max_bytes: 100,
        });
        cache.insert(key(1), workflow(), 10);
        cache.insert(key(2), workflow(), 10);
        assert!(cache.get(&key(1)).is_some()); // 2 is now the least recently used
        cache.insert(key(3), workflow(), 10);
        assert!(cache.get(&key(2)).is_none());
        assert!(cache.get(&key(1)).is_some() && cache.get(&key(3)).is_some());
        cache.insert(key(4), workflow(), 95); // over the bytes: both others leave
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.bytes, stats.evictions), (1, 95, 3));
        cache.insert(key(5), workflow(), 101); // larger than the whole cache: not kept
        assert!(cache.get(&key(5)).is_none());
        assert_eq!(cache.stats().entries, 1);
    }
}
