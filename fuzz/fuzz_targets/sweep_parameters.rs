#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mlbench::fuzzing::sweep_parameters(data));
