//! `keel check --live`: what each session of the running keeld negotiated, read from
//! `/v1/neighbors` and `/v1/status` as keel-api's types (where the JSON contract lives), and a
//! one-word [`Verdict`] per neighbor: would it keep keel's routes if keel restarted now
//! ([`audit_live`], a pure function, so the tests are tables).

use super::finding::{finding, pass, Finding, Level, Verdict};
use keel_api::neighbor::{LongLivedFamily, RestartCapability, RestartFamily};
use keel_api::{NameOrNumber, NeighborView, StatusView};
use serde::Serialize;

/// As JSON text (`null`, `"ipv4"`, `30`): how these findings have always quoted API values.
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// `ipv4-unicast` (the API's family names); `afi-"ipv4"-safi-128` where keel has no name.
fn family_name(afi: &NameOrNumber, safi: &NameOrNumber) -> String {
    match (afi.name(), safi.name()) {
        (Some(a), Some(s)) => format!("{a}-{s}"),
        _ => format!("afi-{}-safi-{}", json(afi), json(safi)),
    }
}

/// Families with their F bit, `ipv4-unicast(F=1) ipv6-unicast(F=0)`.
fn with_f_bits(families: &[RestartFamily]) -> String {
    let list: Vec<String> = families
        .iter()
        .map(|f| format!("{}(F={})", family_name(&f.afi, &f.safi), u8::from(f.forwarding_state)))
        .collect();
    if list.is_empty() {
        "no families (helper only)".into()
    } else {
        list.join(" ")
    }
}

/// Findings for each neighbor of `/v1/neighbors`, plus keel's own restart state from
/// `/v1/status`.
pub fn audit_live(neighbors: &[NeighborView], status: &StatusView) -> Vec<Finding> {
    let mut out = Vec::new();
    if status.restarting {
        out.push(finding(
            "keel-restarting",
            Level::Warn,
            format!(
                "keel is restarting now: selection deferred for up to {}s more; a second restart now is not graceful \
                 for routes it has not re-learned",
                json(&status.selection_deferral.deferral_seconds_left)
            ),
            "wait for the deferral to end (keel show neighbors)",
        ));
    }
    if neighbors.is_empty() {
        out.push(pass("restart-verdict", "no neighbors: no routes of keel's for anyone to keep"));
    }
    for n in neighbors {
        live_neighbor(&mut out, n);
    }
    out
}

/// A full Internet table per family, as keel-tablegen generates it (late 2026): a neighbor
/// that sends more than half of one is taken for a full-table feed.
const FULL_TABLE: [(&str, u64); 2] = [("ipv4-unicast", 1_050_000), ("ipv6-unicast", 230_000)];

/// The neighbor's prefix limits against what it sends now (RFC 4486: crossing one ends the
/// session, as a Hard Reset where the N bit was exchanged, RFC 8538 §5.1).
fn prefix_limit_checks(out: &mut Vec<Finding>, n: &NeighborView) {
    let Some(limits) = &n.prefix_limit else { return };
    let address = n.address.to_string();
    for (family, l) in limits {
        let full = FULL_TABLE.iter().find(|(f, _)| f == family).map(|(_, size)| *size);
        let (max, count) = (u64::from(l.max), l.count);
        let f = if count > max || l.restart_in.is_some() {
            finding(
                "prefix-limit",
                Level::Fail,
                format!(
                    "{family}: the neighbor sent {count} routes, over its limit of {max}: keel reset the session and \
                     holds none of its routes"
                ),
                format!(
                    "find why it sends so many (a leak?); if they are legitimate raise [neighbor.prefix_limit] max for \
                     {family}, then keel clear neighbor {address}"
                ),
            )
        } else if let Some(full) = full.filter(|full| count > full / 2 && max < full + full / 10) {
            finding(
                "prefix-limit",
                Level::Warn,
                format!(
                    "{family}: {count} routes look like a full table, and the limit {max} leaves less than 10% above \
                     a full table ({full}): the session will be reset as the Internet grows"
                ),
                format!("raise max for {family} to at least {}", full + full / 5),
            )
        } else if l.warning_crossed {
            finding(
                "prefix-limit",
                Level::Warn,
                format!("{family}: {count} of at most {max} routes: past the warning threshold"),
                format!("raise max for {family} before the neighbor grows past it, or find why it sends more"),
            )
        } else {
            pass("prefix-limit", format!("{family}: {count} of at most {max} routes"))
        };
        out.push(f.on(Some(&address)));
    }
}

fn live_neighbor(out: &mut Vec<Finding>, n: &NeighborView) {
    let address = n.address.to_string();
    let at = |f: Finding| f.on(Some(&address));
    prefix_limit_checks(out, n);
    if !n.is_established() {
        let why = n.last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default();
        out.push(at(Finding {
            verdict: Some(Verdict::Down),
            ..finding(
                "restart-verdict",
                Level::Warn,
                format!("down: session {}{why}; the neighbor holds no routes from keel", n.state),
                format!("bring the session up: keel show neighbor {address}"),
            )
        }));
        return;
    }
    let gr = &n.graceful_restart;
    let (local, remote) = (gr.local.as_ref(), gr.remote.as_ref());
    let families: &[String] = n.families.as_deref().unwrap_or_default();

    // GR negotiated: both OPENs carried the capability (RFC 4724 §3).
    out.push(at(match (local, remote) {
        (None, _) => finding(
            "peer-gr",
            Level::Fail,
            "keel sent no graceful restart capability on this session (mode disabled)",
            "set graceful_restart mode = \"restart\" for this neighbor",
        ),
        (Some(_), None) => finding(
            "peer-gr",
            Level::Fail,
            "the neighbor sent no graceful restart capability: it is no helper, and keel cannot help it either \
             (RFC 4724 §3, §4.2)",
            "enable graceful restart on the neighbor (BIRD: graceful restart on; FRR: bgp graceful-restart)",
        ),
        (Some(_), Some(r)) if r.restart_time == 0 && !r.families.is_empty() => finding(
            "peer-gr",
            Level::Warn,
            format!(
                "negotiated, but the neighbor's restart time is 0: keel drops its routes as soon as it goes down; \
                 its families {}",
                with_f_bits(&r.families)
            ),
            "set a restart time on the neighbor",
        ),
        (Some(_), Some(r)) => pass(
            "peer-gr",
            format!("negotiated; neighbor restart time {}s, families {}", r.restart_time, with_f_bits(&r.families)),
        ),
    }));
    let negotiated = local.is_some() && remote.is_some();
    if let (Some(local), Some(remote)) = (local, remote) {
        negotiated_checks(out, n, local, remote, families, &at);
    }

    // LLGR (RFC 9494): keeps routes, least preferred, once the restart time is over. It is
    // sent only with GR (RFC 9494 §4.1), so without GR the verdict says all.
    let (local_llgr, remote_llgr): (&[LongLivedFamily], &[LongLivedFamily]) =
        (n.llgr.local.as_deref().unwrap_or_default(), n.llgr.remote.as_deref().unwrap_or_default());
    let llgr_time = local_llgr.iter().map(|f| f.stale_time).min().unwrap_or(0);
    let llgr = negotiated && !local_llgr.is_empty() && !remote_llgr.is_empty();
    out.extend(negotiated.then(|| {
        at(match (local_llgr.is_empty(), remote_llgr.is_empty()) {
            (false, false) => pass(
                "peer-llgr",
                format!("LLGR negotiated; keel's routes kept up to {llgr_time}s after the restart time"),
            ),
            (false, true) => finding(
                "peer-llgr",
                Level::Warn,
                "keel offers LLGR, the neighbor does not: beyond keel's restart time it drops keel's routes (RFC 9494)",
                "enable long-lived graceful restart on the neighbor (BIRD: long lived graceful restart on)",
            ),
            _ => pass("peer-llgr", "LLGR not negotiated: keel's routes go when the restart time is over"),
        })
    }));

    // The verdict (RFC 4724 §4.2): the neighbor keeps what keel listed in its capability,
    // for keel's restart time, if it is a helper (sent the capability itself).
    let local_families: &[RestartFamily] = local.map(|l| l.families.as_slice()).unwrap_or_default();
    let local_time = local.map_or(0, |l| l.restart_time);
    let kept: Vec<String> = local_families.iter().map(|f| family_name(&f.afi, &f.safi)).collect();
    let lost: Vec<&str> = families.iter().filter(|f| !kept.contains(f)).map(String::as_str).collect();
    let (verdict, level, reason, fix) = if !negotiated {
        (
            Verdict::Flushes,
            Level::Fail,
            "flushes: graceful restart is not negotiated, so the neighbor withdraws keel's routes when keeld restarts"
                .to_string(),
            "negotiate graceful restart on both sides (see peer-gr)".to_string(),
        )
    } else if local_time == 0 {
        (
            Verdict::Flushes,
            Level::Fail,
            "flushes: keel advertised restart time 0".into(),
            "set graceful_restart restart_time".into(),
        )
    } else if kept.is_empty() {
        (
            Verdict::Flushes,
            Level::Fail,
            "flushes: keel advertised no families (helper mode), so the neighbor keeps none of its routes".into(),
            "set graceful_restart mode = \"restart\"".into(),
        )
    } else if !lost.is_empty() {
        (
            Verdict::Partial,
            Level::Fail,
            format!("partial: keeps {}, withdraws {} (not in keel's capability)", kept.join(", "), lost.join(", ")),
            "advertise graceful restart for every family of the session".into(),
        )
    } else {
        (
            Verdict::Keeps,
            Level::Pass,
            format!(
                "keeps: keel's routes for up to {local_time}s{}; keel sent {}",
                if llgr { format!(", then {llgr_time}s more as LLGR-stale") } else { String::new() },
                with_f_bits(local_families)
            ),
            String::new(),
        )
    };
    out.push(at(Finding { verdict: Some(verdict), ..finding("restart-verdict", level, reason, fix) }));
}

/// The N bit and End-of-RIB, for a session that negotiated graceful restart.
fn negotiated_checks(
    out: &mut Vec<Finding>,
    n: &NeighborView,
    local: &RestartCapability,
    remote: &RestartCapability,
    families: &[String],
    at: &dyn Fn(Finding) -> Finding,
) {
    let gr = &n.graceful_restart;
    // N bit (RFC 8538 §2): both sides must send it.
    out.push(at(if gr.notification_bit == Some(true) {
        pass("peer-n-bit", "N bit exchanged: a NOTIFICATION other than Hard Reset keeps graceful restart")
    } else {
        finding(
            "peer-n-bit",
            Level::Warn,
            format!(
                "N bit not exchanged (keel N={}, neighbor N={}): a NOTIFICATION (hold timer expiry, keel clear) \
                 ends the session without graceful restart (RFC 8538 §2)",
                u8::from(local.notification),
                u8::from(remote.notification)
            ),
            if local.notification {
                "enable the N bit on the neighbor if it supports RFC 8538"
            } else {
                "set graceful_restart notification = true"
            },
        )
    }));

    // End-of-RIB (RFC 4724 §2): the neighbor's initial table is complete.
    let received: Vec<String> = gr.end_of_rib_received.iter().map(|f| family_name(&f.afi, &f.safi)).collect();
    let missing: Vec<&str> = families.iter().filter(|f| !received.contains(f)).map(String::as_str).collect();
    out.push(at(if missing.is_empty() {
        pass("peer-end-of-rib", format!("End-of-RIB received for {}", received.join(", ")))
    } else {
        finding(
            "peer-end-of-rib",
            Level::Warn,
            format!(
                "no End-of-RIB yet for {}: the neighbor's initial table may be incomplete, and after a restart \
                 keel's selection deferral would wait for it (RFC 4724 §2, §4.1)",
                missing.join(", ")
            ),
            "wait for the initial exchange to finish (keel show neighbor), or check the neighbor",
        )
    }));
}

#[cfg(test)]
mod tests {
    use super::super::finding::render;
    use super::*;
    use keel_api::neighbor::{CapabilityNames, GracefulRestartView, LongLivedView};
    use keel_api::{FamilyView, RestartView};

    fn family(name: &str) -> (NameOrNumber, NameOrNumber) {
        let (a, s) = name.split_once('-').unwrap_or((name, "?"));
        (NameOrNumber::Name(a.into()), NameOrNumber::Name(s.into()))
    }

    fn gr(families: &[(&str, bool)], restart_time: u16, n: bool) -> Option<RestartCapability> {
        let families = families
            .iter()
            .map(|(f, forwarding_state)| {
                let (afi, safi) = family(f);
                RestartFamily { afi, forwarding_state: *forwarding_state, safi }
            })
            .collect();
        Some(RestartCapability { families, notification: n, restart_state: false, restart_time })
    }

    /// A neighbor as `/v1/neighbors` lists it, in `state`, with nothing negotiated.
    fn view(state: &str) -> NeighborView {
        NeighborView {
            address: "192.0.2.2".parse().expect("address"),
            advertised_prefixes: 0,
            asn: 65002,
            bfd: None,
            capabilities: CapabilityNames::default(),
            description: None,
            enforce_first_as: true,
            established_transitions: 0,
            export: None,
            families: None,
            graceful_restart: GracefulRestartView::default(),
            graceful_shutdown: false,
            hold_time: None,
            import: None,
            keepalive_time: None,
            last_error: None,
            last_notification_received: None,
            last_notification_sent: None,
            llgr: LongLivedView::default(),
            llgr_stale_prefixes: 0,
            local_address: None,
            messages_received: 0,
            messages_sent: 0,
            prefix_limit: None,
            received_prefixes: 0,
            role: None,
            stale_prefixes: 0,
            state: state.into(),
            state_since_s: 0,
            updates_received: 0,
            updates_sent: 0,
            uptime_s: 0,
        }
    }

    fn neighbor(local: Option<RestartCapability>, remote: Option<RestartCapability>, eor: &[&str]) -> NeighborView {
        let n_bit = local.as_ref().is_some_and(|l| l.notification) && remote.as_ref().is_some_and(|r| r.notification);
        let end_of_rib_received = eor
            .iter()
            .map(|f| {
                let (afi, safi) = family(f);
                FamilyView { afi, safi }
            })
            .collect();
        NeighborView {
            families: Some(vec!["ipv4-unicast".into(), "ipv6-unicast".into()]),
            graceful_restart: GracefulRestartView {
                notification_bit: remote.is_some().then_some(n_bit),
                local,
                remote,
                end_of_rib_received,
                ..Default::default()
            },
            ..view("established")
        }
    }

    fn status(restarting: bool, left: Option<u64>) -> StatusView {
        StatusView {
            asn: 65001,
            neighbors: 1,
            pid: 1,
            restarting,
            router_id: "192.0.2.1".parse().expect("router id"),
            selection_deferral: RestartView {
                awaited_neighbors: Vec::new(),
                deferral_seconds_left: left,
                deferring: restarting,
            },
            uptime_s: 0,
            version: "0".into(),
            last_upgrade: None,
        }
    }

    fn verdict(n: &NeighborView) -> (Option<Verdict>, Level) {
        let f = audit_live(std::slice::from_ref(n), &status(false, None));
        let v = f.iter().find(|f| f.id == "restart-verdict").expect("a verdict");
        (v.verdict, v.level)
    }

    /// One session per situation: the verdict and its level.
    #[test]
    fn live_verdicts() {
        let both = [("ipv4-unicast", true), ("ipv6-unicast", true)];
        let v4 = [("ipv4-unicast", true)];
        let eor = ["ipv4-unicast", "ipv6-unicast"];
        let down = NeighborView { last_error: Some("connection refused".into()), ..view("active") };
        let table: &[(&str, NeighborView, Option<Verdict>, Level)] = &[
            ("negotiated", neighbor(gr(&both, 120, true), gr(&[], 120, true), &eor), Some(Verdict::Keeps), Level::Pass),
            ("peer without GR", neighbor(gr(&both, 120, true), None, &[]), Some(Verdict::Flushes), Level::Fail),
            ("keel disabled", neighbor(None, gr(&both, 120, true), &eor), Some(Verdict::Flushes), Level::Fail),
            (
                "keel helper",
                neighbor(gr(&[], 120, true), gr(&both, 120, true), &eor),
                Some(Verdict::Flushes),
                Level::Fail,
            ),
            (
                "restart time 0",
                neighbor(gr(&both, 0, true), gr(&both, 120, true), &eor),
                Some(Verdict::Flushes),
                Level::Fail,
            ),
            (
                "one family",
                neighbor(gr(&v4, 120, true), gr(&both, 120, true), &eor),
                Some(Verdict::Partial),
                Level::Fail,
            ),
            ("down", down, Some(Verdict::Down), Level::Warn),
        ];
        for (case, n, v, level) in table {
            assert_eq!(verdict(n), (*v, *level), "{case}");
        }
    }

    /// The prefix-limit finding for one family's limit `(max, count, warning_crossed,
    /// restart_in)`: over the limit, a full table close to it, past the warning, within it.
    #[test]
    fn prefix_limits_against_what_the_neighbor_sends() {
        use keel_api::neighbor::PrefixLimitView;
        // (case, family, max, count, warning crossed, restart in, level)
        type Case<'a> = (&'a str, &'a str, u32, u64, bool, Option<u64>, Level);
        let cases: &[Case] = &[
            ("within", "ipv4-unicast", 1000, 10, false, None, Level::Pass),
            ("warning crossed", "ipv4-unicast", 1000, 850, true, None, Level::Warn),
            ("tripped, waiting to restart", "ipv4-unicast", 1000, 0, true, Some(120), Level::Fail),
            ("over", "ipv6-unicast", 1000, 1001, true, None, Level::Fail),
            ("full table, tight limit", "ipv4-unicast", 1_100_000, 1_000_000, false, None, Level::Warn),
            ("full table, room to grow", "ipv4-unicast", 1_300_000, 1_000_000, false, None, Level::Pass),
            ("full IPv6 table, tight limit", "ipv6-unicast", 240_000, 200_000, false, None, Level::Warn),
        ];
        for (case, family, max, count, warning_crossed, restart_in, level) in cases {
            let limit = PrefixLimitView {
                count: *count,
                max: *max,
                restart_in: *restart_in,
                tripped_at: restart_in.map(|_| 1),
                warning_crossed: *warning_crossed,
            };
            let n = NeighborView {
                prefix_limit: Some([(family.to_string(), limit)].into_iter().collect()),
                ..view(if restart_in.is_some() { "idle" } else { "established" })
            };
            let f = audit_live(&[n], &status(false, None));
            let found: Vec<&Finding> = f.iter().filter(|f| f.id == "prefix-limit").collect();
            assert_eq!(found.len(), 1, "{case}");
            assert_eq!(found[0].level, *level, "{case}: {}", found[0].reason);
            assert_eq!(found[0].neighbor.as_deref(), Some("192.0.2.2"), "{case}");
        }
        assert!(!audit_live(&[view("established")], &status(false, None)).iter().any(|f| f.id == "prefix-limit"));
    }

    #[test]
    fn live_details() {
        let both = [("ipv4-unicast", true), ("ipv6-unicast", false)];
        let f = audit_live(
            &[neighbor(gr(&both, 120, true), gr(&both, 90, false), &["ipv4-unicast"])],
            &status(true, Some(30)),
        );
        let get = |id: &str| f.iter().find(|f| f.id == id).unwrap_or_else(|| panic!("{id}:\n{}", render(&f)));
        assert_eq!(get("keel-restarting").level, Level::Warn);
        assert!(get("keel-restarting").reason.contains("up to 30s more"));
        assert_eq!(get("peer-gr").level, Level::Pass);
        assert!(get("peer-gr").reason.contains("90s") && get("peer-gr").reason.contains("ipv6-unicast(F=0)"));
        assert_eq!(get("peer-n-bit").level, Level::Warn);
        assert_eq!(get("peer-end-of-rib").level, Level::Warn);
        assert!(get("peer-end-of-rib").reason.contains("ipv6-unicast"));
        assert_eq!(get("peer-llgr").level, Level::Pass);
    }

    /// A family keel has no name for is still told apart, as the API's JSON shows it.
    #[test]
    fn unnamed_family() {
        assert_eq!(
            family_name(&NameOrNumber::Name("ipv4".into()), &NameOrNumber::Number(128)),
            "afi-\"ipv4\"-safi-128"
        );
    }
}
