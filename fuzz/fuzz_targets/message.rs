//! Fuzz target `message`: see `bounties_fuzz::message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bounties_fuzz::message(data));
