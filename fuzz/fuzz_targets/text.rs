//! Fuzz target `text`: see `bounties_fuzz::text`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bounties_fuzz::text(data));
