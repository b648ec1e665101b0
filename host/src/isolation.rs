//! [`Isolation`]: whether a plugin's instances live across calls (`reuse`) or each call
//! gets an instance of its own that is thrown away afterwards (`fresh`).

use serde::{Deserialize, Serialize};

/// How much of one call can survive into the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Instances stay warm between calls (in the plugin's pool), so a plugin may keep
    /// state in memory and calls skip instantiation and `init`. The default.
    #[default]
    Reuse,
    /// Every call runs on a new instance (instantiated, `init`-ed with the plugin's
    /// configuration and any seed state) that is dropped when the call ends: nothing a call
    /// leaves in memory reaches the next one. Slower per call; `shutdown` is not called on
    /// these instances, since nothing outlives the call for it to tidy.
    Fresh,
}

impl Isolation {
    /// The stricter of two choices: `fresh` wins, because a plugin that asks for it relies
    /// on it, and a host that asks for it does not trust the plugin with memory.
    pub fn stricter(self, other: Isolation) -> Isolation {
        match (self, other) {
            (Isolation::Reuse, Isolation::Reuse) => Isolation::Reuse,
            _ => Isolation::Fresh,
        }
    }
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isolation::Reuse => "reuse",
            Isolation::Fresh => "fresh",
        })
    }
}
