//! The configuration as a neighbor task takes it: keys keel-config validates, turned into
//! session settings.

use super::NeighborConfig;
use keel_config::{Config, ConfigError};

fn error(text: &str) -> ConfigError {
    Config::parse(text, "t.toml").expect_err("config should be rejected")
}

#[test]
fn send_hold_time_must_exceed_the_hold_time() {
    let base = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n[[neighbor]]\naddress = \"127.0.0.2\"\nasn = 65002\n";
    // RFC 9687 §4.4, against the default hold time (90 s) and a configured one.
    let e = error(&format!("{base}send_hold_time = 1\n"));
    assert_eq!(
        e.to_string(),
        "t.toml:7: neighbor.send_hold_time: send_hold_time 1 must be greater than hold_time 90 \
         (RFC 9687 §4.4), or 0 to turn the send hold timer off"
    );
    let e = error(&format!("{base}hold_time = 3\nsend_hold_time = 3\n"));
    assert_eq!((e.line, e.field.as_str()), (8, "neighbor.send_hold_time"), "{e}");
    assert!(e.message.contains("greater than hold_time 3"), "{e}");
    let sht = |text: &str| Config::parse(text, "t.toml").map(|c| NeighborConfig::from_config(&c)[0].send_hold_time);
    assert_eq!(sht(&format!("{base}hold_time = 3\nsend_hold_time = 4\n")), Ok(4));
    assert_eq!(sht(&format!("{base}send_hold_time = 0\n")), Ok(0), "0 turns the timer off (§4.3)");
    assert_eq!(sht(&format!("{base}hold_time = 0\nsend_hold_time = 1\n")), Ok(1));
    assert_eq!(sht(base), Ok(480), "RFC 9687 §6: 8 minutes");
}

/// RFC 9234 `role` and `strict_role`, one row per neighbor block: (neighbor AS, key lines,
/// (role, strict) as the neighbor task gets them, or the field of the error and its line).
#[test]
fn role_and_strict_role() {
    use keel_wire::capability::Role;
    let base = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n";
    type Want = Result<(Option<Role>, bool), (&'static str, usize)>;
    let rows: [(u32, &str, Want); 9] = [
        (65002, "", Ok((None, false))),
        (65002, "role = \"customer\"", Ok((Some(Role::Customer), false))),
        (65002, "role = \"provider\"\nstrict_role = true", Ok((Some(Role::Provider), true))),
        (65002, "role = \"rs\"", Ok((Some(Role::RouteServer), false))),
        (65002, "role = \"rs-client\"", Ok((Some(Role::RouteServerClient), false))),
        (65002, "role = \"peer\"\nstrict_role = false", Ok((Some(Role::Peer), false))),
        (65002, "role = \"transit\"", Err(("neighbor.role", 7))),
        // §4: roles are for eBGP sessions.
        (65001, "role = \"peer\"", Err(("neighbor.role", 7))),
        (65002, "strict_role = true", Err(("neighbor.strict_role", 7))),
    ];
    for (asn, lines, want) in rows {
        let text = format!("{base}[[neighbor]]\naddress = \"127.0.0.2\"\nasn = {asn}\n{lines}\n");
        match (Config::parse(&text, "t.toml"), want) {
            (Ok(c), Ok((role, strict))) => {
                let n = &NeighborConfig::from_config(&c)[0];
                assert_eq!((n.role, n.strict_role), (role, strict), "{lines}");
                assert_eq!(
                    n.local_open().capabilities.iter().filter(|c| matches!(c, keel_wire::Capability::Role(_))).count(),
                    usize::from(role.is_some()),
                    "RFC 9234 §4.1: one Role capability when a role is set: {lines}"
                );
            }
            (Err(e), Err((field, line))) => {
                assert_eq!((e.file.as_str(), e.line, e.field.as_str()), ("t.toml", line, field), "{lines}: {e}")
            }
            (got, _) => panic!("{asn} {lines}: {got:?}"),
        }
    }
}

/// RFC 7911 `add_path_send`: (add_path, key line, paths per destination or the error's field).
#[test]
fn add_path_send_counts_and_needs_add_path_send() {
    let base = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n";
    let rows: [(&str, &str, Result<usize, &str>); 8] = [
        ("send", "", Ok(1)),
        ("send", "add_path_send = 2", Ok(2)),
        ("both", "add_path_send = 16", Ok(16)),
        ("both", "add_path_send = \"all\"", Ok(usize::MAX)),
        ("send", "add_path_send = 1", Err("neighbor.add_path_send")),
        ("send", "add_path_send = 17", Err("neighbor.add_path_send")),
        ("send", "add_path_send = \"most\"", Err("neighbor.add_path_send")),
        ("receive", "add_path_send = 2", Err("neighbor.add_path_send")),
    ];
    for (mode, line, want) in rows {
        let text = format!("{base}[[neighbor]]\naddress = \"127.0.0.2\"\nasn = 65002\nadd_path = \"{mode}\"\n{line}\n");
        match (Config::parse(&text, "t.toml"), want) {
            (Ok(c), Ok(paths)) => {
                let n = NeighborConfig::from_config(&c);
                assert_eq!(n[0].add_path_send, paths, "{mode} {line}");
            }
            (Err(e), Err(field)) => assert_eq!(e.field.as_str(), field, "{mode} {line}: {e}"),
            (got, _) => panic!("{mode} {line}: {got:?}"),
        }
    }
}
