#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mlbench_domain::fuzzing::terminal_text(data));
