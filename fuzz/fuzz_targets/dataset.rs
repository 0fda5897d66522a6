//! Fuzz target `dataset`: see `bounties_fuzz::dataset`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bounties_fuzz::dataset(data));
