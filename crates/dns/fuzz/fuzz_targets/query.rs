//! Fuzzes the synchronous DNS query path: decode, answer from a representative zone, encode
//! with truncation, over UDP and TCP (`knet_dns::fuzz_query_path` states the invariants).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/mod.rs"]
mod common;

static ZONE: OnceLock<knet_dns::Snapshot> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let zone = ZONE.get_or_init(common::fuzz_zone);
    knet_dns::fuzz_query_path(zone, data);
});
