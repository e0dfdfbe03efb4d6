#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mlbench_ml::fuzzing::train_csv(data));
