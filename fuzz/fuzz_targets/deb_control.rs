#![no_main]
// debpipe_fuzz::deb_control names the reader it calls.
libfuzzer_sys::fuzz_target!(|data: &[u8]| debpipe_fuzz::deb_control(data));
