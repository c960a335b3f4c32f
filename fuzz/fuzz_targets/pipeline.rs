//! Fuzz target: any bytes as a spec, through parse → validate → plan → render → seal
//! (`meshrender::fuzz_pipeline`). A panic anywhere is a bug; a spec error is a normal result.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = meshrender::fuzz_pipeline(data);
});
