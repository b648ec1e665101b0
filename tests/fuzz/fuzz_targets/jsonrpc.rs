//! Fuzz target `jsonrpc`: raw bytes on the JSON-RPC stdio front end (`airlock serve
//! --stdio`): newline framing with the frame cap, JSON-RPC 2.0 parsing (requests,
//! notifications, batches) and dispatch of every method through the real `Service` on a
//! registry with no plugin installed.
//!
//! Checks: no panic, no hang (the run's `-timeout`); every line written is a well-formed
//! JSON-RPC 2.0 response or a non-empty array of them, with error codes in the reserved
//! range; and the answers are exactly those the frames call for, by id: one per request
//! (even with a null id), none for a notification, one array per batch with a request in
//! it, a null-id error for an unparsable, invalid or over-long frame.

#![no_main]

use std::sync::{Arc, OnceLock};

use airlock_server::serve::Service;
use libfuzzer_sys::fuzz_target;

fn service() -> Arc<Service> {
    static SERVICE: OnceLock<Arc<Service>> = OnceLock::new();
    SERVICE
        .get_or_init(|| Arc::new(Service::new(airlock_fuzz::registry(), "fuzz")))
        .clone()
}

fuzz_target!(|data: &[u8]| {
    airlock_fuzz::serve_and_check(service(), data);
});
