//! Fuzz target `signed_request`: see `bounties_fuzz::signed_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bounties_fuzz::signed_request(data));
