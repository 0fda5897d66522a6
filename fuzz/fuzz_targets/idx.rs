//! Fuzz target `idx`: see `bounties_fuzz::idx`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bounties_fuzz::idx(data));
