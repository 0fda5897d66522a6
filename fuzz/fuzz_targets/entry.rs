//! Fuzz target `entry`: see `bounties_fuzz::entry`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bounties_fuzz::entry(data));
