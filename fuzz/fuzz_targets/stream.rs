#![no_main]
//! Arbitrary byte streams split into messages with `Message::next_frame`, each decoded.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| keel_wire_fuzz::stream(data));
