#![no_main]
//! See mailflow::props::scenario for the properties checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailflow::props::scenario(data));
