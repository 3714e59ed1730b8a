#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spinup::check::check_layer_apply(data));
