#![no_main]
//! Notification bodies behind a valid header, decoded with every option set.

use keel_wire::MessageType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| keel_wire_fuzz::body_of_type(MessageType::Notification, body));
