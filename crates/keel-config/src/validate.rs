//! The semantic checks the types do not express.

use crate::*;
use keel_wire::capability::graceful_restart::MAX_RESTART_TIME;
use keel_wire::capability::long_lived::MAX_STALE_TIME;

impl Config {
    /// Semantic checks the types do not express.
    pub(crate) fn validate(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let err = |span: std::ops::Range<usize>, message: String| ConfigError::at(file, text, span.start, message);
        let g = &self.global;
        if *g.asn.get_ref() == 0 {
            return Err(err(g.asn.span(), "AS 0 is reserved (RFC 7607)".into()));
        }
        if g.router_id.get_ref().is_unspecified() {
            return Err(err(g.router_id.span(), "router_id 0.0.0.0 is not a valid BGP identifier".into()));
        }
        if let Some(group) = &g.api_group {
            match group_gid(group.get_ref()) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(err(
                        group.span(),
                        format!("no group {:?} on this system (see getent group)", group.get_ref()),
                    ))
                }
                Err(e) => return Err(err(group.span(), e)),
            }
        }
        let check_gr = |o: &GracefulRestartOverride| match &o.restart_time {
            Some(t) if *t.get_ref() > MAX_RESTART_TIME => Err(err(
                t.span(),
                format!("restart_time {} exceeds {MAX_RESTART_TIME} (12-bit field, RFC 4724 §3)", t.get_ref()),
            )),
            _ => Ok(()),
        };
        check_gr(&self.graceful_restart_raw)?;
        let check_llgr = |l: &LongLived| -> Result<(), ConfigError> {
            for f in l.families.iter().flatten() {
                f.get_ref().parse::<Family>().map_err(|e| err(f.span(), e))?;
            }
            for (name, t) in &l.stale_times {
                name.parse::<Family>().map_err(|e| err(t.span(), e))?;
                if *t.get_ref() > MAX_STALE_TIME {
                    return Err(err(t.span(), format!("stale time exceeds {MAX_STALE_TIME} (24-bit field)")));
                }
            }
            if let Some(t) = &l.stale_time {
                if *t.get_ref() > MAX_STALE_TIME {
                    return Err(err(
                        t.span(),
                        format!("stale_time exceeds {MAX_STALE_TIME} (24-bit field, RFC 9494 §3)"),
                    ));
                }
            }
            Ok(())
        };
        check_llgr(&self.long_lived_graceful_restart)?;
        let b = &self.bfd;
        for (ms, key) in [(&b.min_tx_ms, "min_tx_ms"), (&b.min_rx_ms, "min_rx_ms")] {
            // RFC 5880 §4.1: zero is reserved for the TX interval and would ask the neighbor
            // to send nothing for the RX one; the field holds microseconds in 32 bits.
            if *ms.get_ref() == 0 || *ms.get_ref() > 4_294_967 {
                return Err(err(ms.span(), format!("{key} must be 1 to 4294967 milliseconds (RFC 5880 §4.1)")));
            }
        }
        if *b.multiplier.get_ref() == 0 {
            return Err(err(b.multiplier.span(), "multiplier must be at least 1 (RFC 5880 §6.8.1)".into()));
        }
        check_bfd_auth(b.auth.as_ref(), b.auth_key_id.as_ref(), b.password.as_ref(), false, &err)?;
        let mut seen = std::collections::HashSet::new();
        for n in &self.neighbors {
            if !seen.insert(*n.address.get_ref()) {
                return Err(err(n.address.span(), format!("neighbor {} is configured twice", n.address.get_ref())));
            }
            if *n.asn.get_ref() == 0 {
                return Err(err(n.asn.span(), "AS 0 is reserved (RFC 7607)".into()));
            }
            let h = *n.hold_time.get_ref();
            if h == 1 || h == 2 {
                return Err(err(
                    n.hold_time.span(),
                    "hold_time must be 0 or at least 3 seconds (RFC 4271 §4.2)".into(),
                ));
            }
            if let Some(t) = n.open_hold_time.as_ref().filter(|t| *t.get_ref() == 0) {
                return Err(err(t.span(), "open_hold_time must be at least 1 second (RFC 4271 §8.2.2)".into()));
            }
            // RFC 9687 §4.4: a non-zero SendHoldTime MUST be greater than the HoldTime (zero
            // stops the timer, §4.3). Against the configured hold time: the negotiated one is
            // never larger.
            if let Some(t) = n.send_hold_time.as_ref().filter(|t| *t.get_ref() != 0 && *t.get_ref() <= u32::from(h)) {
                return Err(err(
                    t.span(),
                    format!(
                        "send_hold_time {} must be greater than hold_time {h} (RFC 9687 §4.4), or 0 to turn \
                         the send hold timer off",
                        t.get_ref()
                    ),
                ));
            }
            for f in n.families.iter().flatten() {
                f.get_ref().parse::<Family>().map_err(|e| err(f.span(), e))?;
            }
            if let Some(e) = n.enforce_first_as.as_ref().filter(|e| *e.get_ref()) {
                if n.asn.get_ref() == g.asn.get_ref() {
                    return Err(err(
                        e.span(),
                        "enforce_first_as applies to external neighbors only: an internal neighbor's AS_PATH \
                         starts with whichever AS the route came from (RFC 4271 §6.3)"
                            .into(),
                    ));
                }
            }
            if let Some(s) = &n.add_path_send {
                if s.get_ref().paths().is_none() {
                    return Err(err(s.span(), "add_path_send must be a count from 2 to 16, or \"all\"".into()));
                }
                if !matches!(n.add_path, AddPathMode::Send | AddPathMode::Both) {
                    return Err(err(
                        s.span(),
                        "add_path_send needs add_path = \"send\" or \"both\": paths go out several per \
                         prefix only where Add-Path send is negotiated (RFC 7911 §4)"
                            .into(),
                    ));
                }
            }
            // RFC 9234 §4: roles belong to eBGP sessions ("Allowed Role values for eBGP
            // sessions"; §4.1: "the eBGP speaker MUST advertise the BGP Role Capability").
            if let Some(r) = &n.role {
                if n.asn.get_ref() == g.asn.get_ref() {
                    return Err(err(
                        r.span(),
                        "role applies to external neighbors only: BGP Roles are configured on eBGP \
                         sessions (RFC 9234 §4), and OTC passes unchanged inside the AS (§5)"
                            .into(),
                    ));
                }
            }
            if let Some(s) = n.strict_role.as_ref().filter(|s| *s.get_ref() && n.role.is_none()) {
                return Err(err(
                    s.span(),
                    "strict_role needs role: keel checks the neighbor's Role capability only against its \
                     own (RFC 9234 §4.2)"
                        .into(),
                ));
            }
            if let Some(s) = n.bfd_strict.as_ref().filter(|s| *s.get_ref() && !n.bfd) {
                return Err(err(s.span(), "bfd_strict needs bfd = true: it decides what a BFD Down does".into()));
            }
            if !n.bfd {
                let spans = [
                    n.bfd_auth.as_ref().map(|k| ("bfd_auth", k.span())),
                    n.bfd_auth_key_id.as_ref().map(|k| ("bfd_auth_key_id", k.span())),
                    n.bfd_password.as_ref().map(|k| ("bfd_password", k.span())),
                ];
                if let Some((key, span)) = spans.into_iter().flatten().next() {
                    return Err(err(span, format!("{key} needs bfd = true: it sets up the neighbor's BFD session")));
                }
            } else {
                // Key by key the neighbor's own or [bfd]'s, checked as the session will use them.
                let auth = n.bfd_auth.as_ref().or(b.auth.as_ref());
                let key_id = n.bfd_auth_key_id.as_ref().or(b.auth_key_id.as_ref());
                let password = n.bfd_password.as_ref().or(b.password.as_ref());
                check_bfd_auth(auth, key_id, password, true, &err)?;
            }
            if let Some(g) = &n.graceful_restart {
                check_gr(g)?;
            }
            if let Some(l) = &n.long_lived_graceful_restart {
                check_llgr(l)?;
            }
            if let Some(p) = &n.prefix_limit {
                if p.max.is_empty() {
                    return Err(err(
                        n.address.span(),
                        "prefix_limit.max names no family: give at least one, as max = { ipv4-unicast = 1100000 }"
                            .into(),
                    ));
                }
                for (name, m) in &p.max {
                    name.parse::<Family>().map_err(|e| err(m.span(), e))?;
                    if *m.get_ref() == 0 {
                        return Err(err(m.span(), format!("prefix_limit.max for {name} must be above 0")));
                    }
                }
                if let Some(w) = p.warning_percent.as_ref().filter(|w| !(1..=100).contains(w.get_ref())) {
                    return Err(err(w.span(), format!("warning_percent {} outside 1-100", w.get_ref())));
                }
            }
        }
        // A TCP endpoint (an RTR cache, a BMP station) configured once, on a real port.
        let mut endpoints = std::collections::HashSet::new();
        let mut endpoint = |what: &str, address: &Spanned<IpAddr>, port: &Spanned<u16>| {
            let (a, p) = (*address.get_ref(), *port.get_ref());
            if !endpoints.insert((what.to_string(), a, p)) {
                return Err(err(address.span(), format!("{what} {a} port {p} is configured twice")));
            }
            if p == 0 {
                return Err(err(port.span(), "port 0 is not a TCP port".into()));
            }
            Ok(())
        };
        for c in &self.rpki.cache {
            endpoint("RTR cache", &c.address, &c.port)?;
            // RFC 8210 §6: the allowed ranges of the timing parameters.
            for (value, name, min, max) in
                [(&c.refresh, "refresh", 1, 86400), (&c.retry, "retry", 1, 7200), (&c.expire, "expire", 600, 172800)]
            {
                if let Some(v) = value.as_ref().filter(|v| !(min..=max).contains(v.get_ref())) {
                    return Err(err(
                        v.span(),
                        format!("{name} {} outside {min}-{max} seconds (RFC 8210 §6)", v.get_ref()),
                    ));
                }
            }
        }
        for s in &self.bmp.station {
            endpoint("BMP station", &s.address, &s.port)?;
            if !(1..=3600).contains(s.reconnect.get_ref()) {
                return Err(err(
                    s.reconnect.span(),
                    format!("reconnect {} outside 1-3600 seconds", s.reconnect.get_ref()),
                ));
            }
            if !(1..=1_000_000).contains(s.buffer.get_ref()) {
                return Err(err(s.buffer.span(), format!("buffer {} outside 1-1000000", s.buffer.get_ref())));
            }
            if s.views.is_empty() {
                return Err(err(s.address.span(), "views is empty: a station needs at least one view".into()));
            }
        }
        for net in &self.networks {
            net.prefix.get_ref().parse::<Prefix>().map_err(|e| err(net.prefix.span(), e))?;
            for c in &net.communities {
                c.get_ref().parse::<Community>().map_err(|e| err(c.span(), e))?;
            }
        }
        Ok(())
    }
}

/// One BFD session's authentication (RFC 5880 §6.7): a password of the length its type's
/// section carries, a key id of 8 bits, no password without a type. With `need_password`
/// (a neighbor's session, its keys resolved) a type other than none needs a password; `[bfd]`
/// alone may name the type and leave the passwords to the neighbors.
fn check_bfd_auth(
    auth: Option<&toml::Spanned<BfdAuth>>,
    key_id: Option<&toml::Spanned<i64>>,
    password: Option<&toml::Spanned<String>>,
    need_password: bool,
    err: &dyn Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<(), ConfigError> {
    if let Some(k) = key_id.filter(|k| !(0..=255).contains(k.get_ref())) {
        return Err(err(
            k.span(),
            format!("auth_key_id must be 0 to 255 (the 8-bit Auth Key ID, RFC 5880 §4.2), not {}", k.get_ref()),
        ));
    }
    let kind = auth.map_or(BfdAuth::None, |a| *a.get_ref());
    match (kind, password) {
        // `[bfd]`'s password with no type there may be for neighbors that name theirs.
        (BfdAuth::None, Some(p)) if need_password || auth.is_some() => Err(err(
            p.span(),
            "a BFD password needs auth = \"simple\", \"keyed-sha1\" or \"meticulous-keyed-sha1\" \
             (in [bfd], or bfd_auth on the neighbor)"
                .into(),
        )),
        (BfdAuth::None, _) => Ok(()),
        (kind, None) if need_password => Err(err(
            auth.map_or(0..0, |a| a.span()),
            format!(
                "auth = \"{}\" needs a password of 1 to {} octets (RFC 5880 §6.7): password in [bfd], or \
                 bfd_password on the neighbor",
                kind.name(),
                kind.max_password()
            ),
        )),
        (_, None) => Ok(()),
        (kind, Some(p)) => {
            let len = p.get_ref().len();
            if len == 0 || len > kind.max_password() {
                let section = if kind == BfdAuth::Simple { "§6.7.2" } else { "§6.7.4" };
                return Err(err(
                    p.span(),
                    format!(
                        "the BFD password is {len} octets; auth = \"{}\" takes 1 to {} (RFC 5880 {section})",
                        kind.name(),
                        kind.max_password()
                    ),
                ));
            }
            Ok(())
        }
    }
}
