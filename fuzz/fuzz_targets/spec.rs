//! Fuzz target `spec`: see `bounties_fuzz::spec`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bounties_fuzz::spec(data));
