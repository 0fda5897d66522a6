//! Fuzz target `api`: see `bounties_fuzz::api`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bounties_fuzz::api(data));
