//! Fuzz target `tokenizer`: see `bounties_fuzz::tokenizer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bounties_fuzz::tokenizer(data));
