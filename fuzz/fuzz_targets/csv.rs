//! Fuzz target `csv`: see `bounties_fuzz::csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bounties_fuzz::csv(data));
