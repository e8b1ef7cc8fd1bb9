#![no_main]
//! Whole sessions: the input is what a peer sends to a real neighbor task and RIB task of
//! keeld (flags, OPEN capabilities, then messages; see `keel::neighbor::fuzz`). A panic in
//! keel's tasks aborts (libfuzzer-sys's panic hook); a broken invariant panics here.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = keel::neighbor::fuzz::run(data) {
        panic!("{e}");
    }
});
