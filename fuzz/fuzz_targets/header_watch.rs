#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mlbench_serve::fuzzing::header_watch(data));
