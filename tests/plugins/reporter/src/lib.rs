//! `reporter`: a component of the `fixture:typed/reporter` world (WIT in `../typed/wit/`).
//! It imports its host's own `host-api` — a configuration value, progress reports — which the
//! embedder links next to Airlock's capabilities (`host/examples/typed_host.rs`).

wit_bindgen::generate!({ path: "../typed/wit", world: "reporter" });

use exports::fixture::typed::jobs::Guest;
use fixture::typed::host_api;

struct Reporter;

impl Guest for Reporter {
    fn describe(name: String) -> String {
        let prefix = host_api::get_config("prefix").unwrap_or_default();
        format!("{prefix}{name}")
    }

    fn work(steps: u8) -> u8 {
        for step in 1..=steps {
            host_api::report_progress((u32::from(step) * 100 / u32::from(steps)) as u8);
        }
        steps
    }

    fn spin() {
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
}

export!(Reporter);
