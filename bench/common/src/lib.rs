//! What the benchmark binaries (`runner`, `scale-out`) share: CPU time read from `/proc`
//! ([`procfs`]) and wrk's report ([`wrk`]). Nothing here knows about Airlock.

pub mod procfs;
pub mod wrk;
