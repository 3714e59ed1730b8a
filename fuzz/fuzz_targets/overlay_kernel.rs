#![no_main]
// As root: mounts the converted layers (in a private mount namespace of a thread).
libfuzzer_sys::fuzz_target!(|data: &[u8]| spinup::check::check_overlay_kernel(data));
