#![no_main]
//! See mailflow::props::smtp_reply for the properties checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailflow::props::smtp_reply(data));
