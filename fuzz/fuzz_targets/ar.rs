#![no_main]
// debpipe_fuzz::ar names the reader it calls.
libfuzzer_sys::fuzz_target!(|data: &[u8]| debpipe_fuzz::ar(data));
