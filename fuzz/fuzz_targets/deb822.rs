#![no_main]
// debpipe_fuzz::deb822 names the reader it calls.
libfuzzer_sys::fuzz_target!(|data: &[u8]| debpipe_fuzz::deb822(data));
