#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mlbench_domain::fuzzing::sweep_parameters(data));
