#![no_main]
// debpipe_fuzz::packages names the reader it calls.
libfuzzer_sys::fuzz_target!(|data: &[u8]| debpipe_fuzz::packages(data));
