//! Fuzz target `tensorfile`: see `bounties_fuzz::tensorfile`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bounties_fuzz::tensorfile(data));
