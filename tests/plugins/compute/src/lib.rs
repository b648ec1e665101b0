//! `compute`: a compute-bound workload for the limits-overhead benchmark — SHA-256 over
//! generated data, so the time goes into the guest's own instructions, not the boundary.

use airlock_sdk::prelude::*;
use sha2::{Digest, Sha256};

#[derive(Deserialize, JsonSchema)]
struct HashArgs {
    /// How many KiB of generated data to hash.
    kib: u32,
}

struct Compute;

impl Plugin for Compute {
    type Config = NoConfig;

    fn metadata() -> Metadata {
        Metadata::new("compute", env!("CARGO_PKG_VERSION"))
            .author("Airlock tests")
            .description("SHA-256 of generated data: a compute-bound workload.")
    }

    fn init(_config: NoConfig) -> Result<Self, PluginError> {
        Ok(Compute)
    }

    fn tools(tools: &mut Tools<Self>) {
        tools.tool(
            "sha256",
            "SHA-256 (hex) of `kib` KiB of the bytes 0, 1, …, 255 repeated",
            |_, args: HashArgs, _| {
                let block: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
                let mut hasher = Sha256::new();
                for _ in 0..args.kib {
                    hasher.update(&block);
                }
                Ok(hex(&hasher.finalize()))
            },
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

airlock_sdk::export_tool_plugin!(Compute);
