//! Shared driver for the keel-wire fuzz targets.

use keel_wire::{CodecOptions, Family, Message, MessageType};

/// Every session shape the decoder distinguishes: 2-/4-octet AS, Add-Path or not, extended
/// messages or not.
pub fn all_options() -> Vec<CodecOptions> {
    let mut v = Vec::new();
    for four_octet_as in [false, true] {
        for extended_message in [false, true] {
            for add_path in [
                vec![],
                vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST, Family::IPV4_MULTICAST, Family::IPV6_MULTICAST],
            ] {
                v.push(CodecOptions { four_octet_as, extended_message, add_path });
            }
        }
    }
    v
}

/// Decodes one message under `opts`; a decoded message must re-encode without panicking and
/// an error must name a NOTIFICATION keel can send.
pub fn check(bytes: &[u8], opts: &CodecOptions) {
    match Message::decode(bytes, opts) {
        Ok(m) => {
            let _ = m.encode(opts);
            if let Message::Update(u) = &m {
                let _ = u.as_end_of_rib();
                let _ = u.announced_routes().count() + u.withdrawn_routes().count();
            }
            if let Message::Notification(n) = &m {
                let _ = n.describe();
            }
        }
        Err(e) => {
            assert!(matches!(e.code, 1 | 2 | 3 | 7), "{e}");
            let _ = e.to_string();
        }
    }
}

/// Wraps `body` in a header of type `t` with the right length, and runs every option set.
pub fn body_of_type(t: MessageType, body: &[u8]) {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((body.len() + 19).min(u16::MAX as usize) as u16).to_be_bytes());
    m.push(t as u8);
    m.extend_from_slice(body);
    for opts in all_options() {
        check(&m, &opts);
    }
}

/// Frames a byte stream into messages, as a session's reader does.
pub fn stream(data: &[u8]) {
    for opts in all_options() {
        let mut rest = data;
        while let Ok(Some(frame)) = Message::next_frame(rest, &opts) {
            assert!(frame.len() >= 19 && frame.len() <= opts.max_message_size());
            check(frame, &opts);
            rest = &rest[frame.len()..];
        }
    }
}
