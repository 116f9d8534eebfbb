#![no_main]
//! See mailflow::props::sink_session for the properties checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailflow::props::sink_session(data));
