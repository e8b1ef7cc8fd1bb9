//! `keel check`'s BFD findings: per neighbor with `bfd = true`, the session's timers and what a
//! BFD Down does to its routes (RFC 5882 §4.3), so the choice is visible before it happens.

use super::finding::{pass, Finding};
use keel_config::{Config, GrMode};

pub(super) fn bfd_checks(out: &mut Vec<Finding>, config: &Config) {
    let b = &config.bfd;
    for n in config.neighbors.iter().filter(|n| n.bfd) {
        let address = n.address.get_ref().to_string();
        let routes = if n.bfd_strict() {
            "its routes are deleted whatever its C bit (bfd_strict)".to_string()
        } else if config.graceful_restart_for(n).mode == GrMode::Disabled {
            "its routes are deleted (graceful restart disabled)".to_string()
        } else {
            "its routes are deleted if its BFD sends C=1 (a forwarding failure), kept as graceful restart \
             helper if it sends C=0 and advertised graceful restart (RFC 5882 §4.3)"
                .to_string()
        };
        let auth = b.authentication_for(n).map_or_else(
            || "no authentication".to_string(),
            |a| format!("{} authentication, key id {}", a.auth.name(), a.key_id),
        );
        let reason = format!(
            "BFD {} tx {} ms rx {} ms x{}, {auth} (keel-bfdd, C=1 unless it runs inside keeld.service); BFD Down \
             closes the session with Cease/BFD Down and {routes}",
            if b.multihop { "multihop" } else { "single hop" },
            b.min_tx_ms.get_ref(),
            b.min_rx_ms.get_ref(),
            b.multiplier(),
        );
        out.push(pass("bfd", reason).on(Some(&address)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bfd_down_choice_is_stated_per_neighbor() {
        let text = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n[bfd]\nmin_tx_ms = 100\n\
                    [[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65002\nbfd = true\n\
                    [[neighbor]]\naddress = \"192.0.2.3\"\nasn = 65003\nbfd = true\nbfd_strict = true\n\
                    bfd_auth = \"keyed-sha1\"\nbfd_auth_key_id = 9\nbfd_password = \"hunter2\"\n\
                    [[neighbor]]\naddress = \"192.0.2.4\"\nasn = 65004\n";
        let config = Config::parse(text, "t.toml").unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        bfd_checks(&mut out, &config);
        assert_eq!(out.len(), 2);
        assert!(out[0].reason.contains("tx 100 ms rx 300 ms x3") && out[0].reason.contains("C=0"), "{}", out[0].reason);
        assert!(out[1].reason.contains("bfd_strict"), "{}", out[1].reason);
        assert!(out[0].reason.contains("no authentication"), "{}", out[0].reason);
        assert!(out[1].reason.contains("keyed-sha1 authentication, key id 9"), "{}", out[1].reason);
        assert!(!out[1].reason.contains("hunter2"), "never the password");
        assert_eq!(out[1].neighbor.as_deref(), Some("192.0.2.3"));
    }
}
