//! `keel check` from the configuration alone ([`audit_config`]), with this keeld's last
//! measured restart from `state_dir/keeld.state` ([`last_restart`]).

use super::finding::{finding, pass, Finding, Level};
use keel_config::{Config, GrMode, GracefulRestart, LongLived};
use std::path::Path;

/// This keeld's last measured restart: seconds from the previous keeld's exit to the end of
/// the new one's selection deferral, as recorded in its state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastRestart {
    Measured(u64),
    NotYet,
    Unreadable(String),
}

/// Reads [`LastRestart`] from the configuration's `state_dir`.
pub fn last_restart(config: &Config) -> LastRestart {
    match crate::daemon::last_restart_seconds(&config.global.state_dir) {
        Ok(Some(s)) => LastRestart::Measured(s),
        Ok(None) => LastRestart::NotYet,
        Err(e) => LastRestart::Unreadable(e.to_string()),
    }
}

/// Every check that reads the configuration alone. Graceful-restart checks run on the global
/// settings, and again for each neighbor that overrides them.
pub fn audit_config(config: &Config, last: &LastRestart) -> Vec<Finding> {
    let mut out = Vec::new();
    let state_file = config.global.state_dir.join(crate::daemon::STATE_FILE);
    let global_llgr = &config.long_lived_graceful_restart;
    gr_checks(&mut out, None, &config.graceful_restart, global_llgr, last, &state_file);
    for n in &config.neighbors {
        if n.graceful_restart.is_some() || n.long_lived_graceful_restart.is_some() {
            let address = n.address.get_ref().to_string();
            let gr = config.graceful_restart_for(n);
            // A neighbor's LLGR block overrides the global one field by field.
            let llgr = match &n.long_lived_graceful_restart {
                Some(own) => LongLived {
                    families: own.families.clone().or_else(|| global_llgr.families.clone()),
                    stale_time: own.stale_time.clone().or_else(|| global_llgr.stale_time.clone()),
                    ..own.clone()
                },
                None => global_llgr.clone(),
            };
            gr_checks(&mut out, Some(&address), &gr, &llgr, last, &state_file);
        }
    }
    let restart_anywhere = config.graceful_restart.mode == GrMode::Restart
        || config.neighbors.iter().any(|n| config.graceful_restart_for(n).mode == GrMode::Restart);
    if restart_anywhere {
        out.push(fib_check(config));
    }
    neighbor_checks(&mut out, config, last);
    out.push(prefix_limit_check(config));
    out
}

/// Which neighbors have prefix limits. The file alone cannot say whether a limit fits what
/// the neighbor sends: `keel check --live` compares each limit with the neighbor's count.
fn prefix_limit_check(config: &Config) -> Finding {
    let limited: Vec<String> =
        config.neighbors.iter().filter(|n| n.prefix_limit.is_some()).map(|n| n.address.get_ref().to_string()).collect();
    if limited.is_empty() {
        pass("prefix-limit", "no prefix limits configured: no session can be reset for too many prefixes")
    } else {
        pass(
            "prefix-limit",
            format!(
                "prefix limits on {}: keel check --live compares them with what each neighbor sends now",
                limited.join(", ")
            ),
        )
    }
}

fn gr_checks(
    out: &mut Vec<Finding>,
    neighbor: Option<&str>,
    gr: &GracefulRestart,
    llgr: &LongLived,
    last: &LastRestart,
    state_file: &Path,
) {
    let at = |f: Finding| f.on(neighbor);
    // RFC 4724 §3: without the capability there is no graceful restart at all; a helper-only
    // capability (no families) protects the neighbors' routes, not keel's.
    match gr.mode {
        GrMode::Disabled => {
            out.push(at(finding(
                "gr-disabled",
                Level::Fail,
                "graceful restart is disabled: neighbors drop keel's routes whenever keeld restarts, and keel drops \
                 theirs (RFC 4724 §3)",
                "set [graceful_restart] mode = \"restart\"",
            )));
            return;
        }
        GrMode::Helper => out.push(at(finding(
            "gr-disabled",
            Level::Warn,
            "mode helper: keel keeps restarting neighbors' routes, but lists no families in its capability, so \
             neighbors drop keel's routes when keeld restarts (RFC 4724 §3)",
            "set [graceful_restart] mode = \"restart\"",
        ))),
        GrMode::Restart => out.push(at(pass(
            "gr-disabled",
            "mode restart: keel advertises graceful restart for its families and helps restarting neighbors",
        ))),
    }
    if gr.mode == GrMode::Restart {
        out.push(at(restart_time_check(gr, last, state_file)));
        if neighbor.is_none() {
            out.push(deferral_check(gr));
        }
    }
    out.push(at(stale_check(gr)));
    out.push(at(if gr.notification {
        pass("n-bit-off", "N bit advertised: with a neighbor that sends it too, a NOTIFICATION keeps graceful restart")
    } else {
        finding(
            "n-bit-off",
            Level::Warn,
            "N bit off: any NOTIFICATION (hold timer expiry, keel clear, a malformed message) ends the session without \
             graceful restart, and the neighbor drops keel's routes (RFC 8538 §2, §4)",
            "set [graceful_restart] notification = true",
        )
    }));
    out.push(at(llgr_check(gr, llgr, last)));
}

/// RFC 4724 §4.2: a helper deletes the stale routes when the restart time runs out before
/// the session is back. The measure covers more (up to the end of selection deferral): a
/// margin, not an error.
fn restart_time_check(gr: &GracefulRestart, last: &LastRestart, state_file: &Path) -> Finding {
    let r = u64::from(gr.restart_time);
    if r == 0 {
        return finding(
            "restart-time-short",
            Level::Fail,
            "restart_time 0: helpers delete keel's routes as soon as the session drops (RFC 4724 §4.2)",
            "set [graceful_restart] restart_time to at least twice a measured restart (default 120)",
        );
    }
    let raise = |m: u64| {
        format!("raise restart_time to at least {} (2x the measured restart; at most 4095)", (2 * m).min(4095))
    };
    match last {
        LastRestart::Measured(m) if r < *m => finding(
            "restart-time-short",
            Level::Fail,
            format!(
                "restart_time {r}s is shorter than this keeld's last measured restart ({m}s, {}): helpers would drop \
                 keel's routes before it is back (RFC 4724 §4.2)",
                state_file.display()
            ),
            format!(
                "{}; if that was a long planned stop, restart keeld once more to measure again, and use LLGR for long \
                 maintenance",
                raise(*m)
            ),
        ),
        LastRestart::Measured(m) if r < 2 * m => finding(
            "restart-time-short",
            Level::Warn,
            format!("restart_time {r}s is less than twice the last measured restart ({m}s): little margin"),
            raise(*m),
        ),
        LastRestart::Measured(m) => {
            pass("restart-time-short", format!("restart_time {r}s is at least twice the last measured restart ({m}s)"))
        }
        // WARN, not PASS: until one restart was measured, restart_time is a guess.
        LastRestart::NotYet => finding(
            "restart-time-short",
            Level::Warn,
            format!("no restart of this keeld measured yet ({} has no last_restart_seconds)", state_file.display()),
            "rehearse one: run `keel restart` at a quiet moment, then keel check again",
        ),
        LastRestart::Unreadable(e) => finding(
            "restart-time-short",
            Level::Warn,
            format!("cannot read the last measured restart from {}: {e}", state_file.display()),
            "check state_dir and its permissions (keel check reads it as the user running it)",
        ),
    }
}

/// RFC 4724 §4.1: the restarting speaker defers selection until End-of-RIB; helpers keep its
/// stale routes only up to their stale timer once the session is back (§4.2). keel's own
/// stale_routes_time stands for its helpers'.
fn deferral_check(gr: &GracefulRestart) -> Finding {
    let (d, s) = (gr.selection_deferral_time, gr.stale_routes_time);
    if d == 0 {
        finding(
            "deferral-time",
            Level::Warn,
            "selection_deferral_time 0: after a restart keel selects, advertises and installs routes before its \
             neighbors have re-sent theirs (RFC 4724 §4.1)",
            "set [graceful_restart] selection_deferral_time (default 240)",
        )
    } else if d > s {
        finding(
            "deferral-time",
            Level::Warn,
            format!(
                "selection_deferral_time {d}s exceeds stale_routes_time {s}s: helpers configured like keel sweep \
                 keel's routes before its End-of-RIB, sent when the deferral ends (RFC 4724 §4.1, §4.2)"
            ),
            format!("lower selection_deferral_time to at most {s}, or raise stale_routes_time here and on the helpers"),
        )
    } else {
        pass("deferral-time", format!("selection_deferral_time {d}s fits in stale_routes_time {s}s"))
    }
}

/// RFC 4724 §4.2: keel, as helper, keeps a returning neighbor's stale routes until its
/// End-of-RIB or stale_routes_time; a neighbor configured like keel defers that End-of-RIB
/// up to selection_deferral_time.
fn stale_check(gr: &GracefulRestart) -> Finding {
    let (s, d) = (gr.stale_routes_time, gr.selection_deferral_time);
    if s == 0 {
        finding(
            "stale-time",
            Level::Fail,
            "stale_routes_time 0: keel drops a restarting neighbor's routes as soon as its session is back, before its \
             End-of-RIB (RFC 4724 §4.2)",
            "set [graceful_restart] stale_routes_time (default 360)",
        )
    } else if s < d {
        finding(
            "stale-time",
            Level::Warn,
            format!(
                "stale_routes_time {s}s is shorter than selection_deferral_time {d}s: a neighbor that defers like keel \
                 loses its routes here before its End-of-RIB (RFC 4724 §4.2)"
            ),
            format!("raise stale_routes_time to at least {d}"),
        )
    } else {
        pass("stale-time", format!("stale_routes_time {s}s covers a selection deferral of {d}s"))
    }
}

/// RFC 9494 §5: long maintenance outlasts any restart time; LLGR keeps routes as least
/// preferred instead of dropping them.
fn llgr_check(gr: &GracefulRestart, llgr: &LongLived, last: &LastRestart) -> Finding {
    let r = u64::from(gr.restart_time);
    let families = llgr.families.as_deref().unwrap_or_default();
    if !families.is_empty() {
        let names: Vec<&str> = families.iter().map(|f| f.get_ref().as_str()).collect();
        let stale = llgr.stale_time.as_ref().map_or(3600, |t| *t.get_ref());
        return pass("llgr-off", format!("LLGR on for {} (stale time {stale}s)", names.join(", ")));
    }
    let fix = "name families in [long_lived_graceful_restart] families, with a stale_time covering the maintenance";
    match last {
        LastRestart::Measured(m) if *m > r => finding(
            "llgr-off",
            Level::Warn,
            format!(
                "LLGR off, and the last restart ({m}s) outlasted restart_time {r}s: for stops that long neighbors drop \
                 keel's routes (RFC 9494 §5)"
            ),
            fix,
        ),
        _ if r > 600 => finding(
            "llgr-off",
            Level::Warn,
            format!(
                "LLGR off with restart_time {r}s: long outages are bridged by graceful restart, which keeps routes as \
                 if valid (RFC 9494 §5)"
            ),
            fix,
        ),
        _ => pass("llgr-off", format!("LLGR off; restarts are expected within restart_time {r}s")),
    }
}

/// F bit (RFC 4724 §3). Without a FIB keeld installs nothing, so its restart cannot disturb
/// forwarding and it advertises F=1; that is only true where the host forwards nothing it
/// learns from keel (route server, reflector).
fn fib_check(config: &Config) -> Finding {
    if config.fib.enabled {
        pass(
            "fib-disabled-restart",
            "FIB enabled: kernel routes stay across a restart, F=1 once they are read back (RFC 4724 §3)",
        )
    } else {
        finding(
            "fib-disabled-restart",
            Level::Warn,
            "FIB disabled in restart mode: keel installs no kernel routes and advertises F=1 (its restart cannot \
             disturb forwarding it does not do); wrong if this host should forward along keel's routes (RFC 4724 §3)",
            "set [fib] enabled = true, unless keel is only a route server or reflector",
        )
    }
}

fn neighbor_checks(out: &mut Vec<Finding>, config: &Config, last: &LastRestart) {
    let local_asn = *config.global.asn.get_ref();
    if config.neighbors.is_empty() {
        out.push(pass("ebgp-no-policy", "no neighbors configured"));
        out.push(pass("hold-time", "no neighbors configured"));
        return;
    }
    let mut ebgp = 0;
    for n in &config.neighbors {
        let address = n.address.get_ref().to_string();
        if *n.asn.get_ref() != local_asn {
            ebgp += 1;
            // RFC 8212: an eBGP session without policy accepts and announces nothing.
            let sides = [("import", &n.import), ("export", &n.export)];
            let unset = config.unset_under_rfc_8212(n);
            let none: Vec<&str> = sides
                .iter()
                .filter(|(_, v)| v.as_ref().is_some_and(|v| v.get_ref().to_vec() == ["none"]))
                .map(|(k, _)| *k)
                .collect();
            out.push(
                if unset.is_empty() {
                    let what = if none.is_empty() { "all".to_string() } else { format!("{} none", none.join("/")) };
                    pass("ebgp-no-policy", format!("eBGP neighbor with explicit import/export ({what})"))
                } else {
                    finding(
                        "ebgp-no-policy",
                        Level::Warn,
                        format!(
                            "eBGP neighbor without {}: RFC 8212 makes keel exchange nothing there, so there are no \
                             routes to keep across a restart",
                            unset.join(" or ")
                        ),
                        format!("set {} = \"all\" (or \"none\" to say it is meant)", unset.join(" and ")),
                    )
                }
                .on(Some(&address)),
            );
        }
        out.push(hold_check(config, n, last).on(Some(&address)));
    }
    if ebgp == 0 {
        out.push(pass("ebgp-no-policy", "no eBGP neighbors"));
    }
}

/// RFC 4271 §4.2 hold time, RFC 4724 §4: "A suggested default for the Restart Time is a
/// value less than or equal to the HOLDTIME carried in the OPEN."
fn hold_check(config: &Config, n: &keel_config::Neighbor, last: &LastRestart) -> Finding {
    let h = u64::from(*n.hold_time.get_ref());
    let gr = config.graceful_restart_for(n);
    let r = u64::from(gr.restart_time);
    if h == 0 {
        return finding(
            "hold-time",
            Level::Warn,
            "hold_time 0: no keepalives, so a keeld that hangs without closing its sessions is never given up on \
             (RFC 4271 §4.2)",
            "set hold_time (90 is usual; at least 3)",
        );
    }
    if gr.mode != GrMode::Restart || r <= h {
        return pass("hold-time", format!("hold_time {h}s, restart_time {r}s"));
    }
    match last {
        // The measured restart needs more than the hold time: the RFC's default yields.
        LastRestart::Measured(m) if 2 * m > h => {
            pass("hold-time", format!("restart_time {r}s exceeds hold_time {h}s, as the measured restart ({m}s) needs"))
        }
        _ => finding(
            "hold-time",
            Level::Warn,
            format!(
                "restart_time {r}s exceeds hold_time {h}s: neighbors keep a dead keel's routes longer than they would \
                 wait for a silent one (RFC 4724 §4 suggests restart time <= hold time)"
            ),
            format!("lower restart_time to {h} if a measured restart allows, or raise hold_time to {r}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::finding::render;
    use super::*;

    const BASE: &str = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\nstate_dir = \"/nonexistent\"\n";
    const EBGP: &str =
        "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65002\nimport = \"all\"\nexport = \"all\"\nhold_time = 180\n";

    fn audit(extra: &str, last: LastRestart) -> Vec<Finding> {
        let c = Config::parse(&format!("{BASE}{extra}"), "t.toml").unwrap_or_else(|e| panic!("{e}"));
        audit_config(&c, &last)
    }

    fn level_of(findings: &[Finding], id: &str) -> Option<Level> {
        findings.iter().filter(|f| f.id == id).map(|f| f.level).max()
    }

    /// One configuration per pitfall: the finding it must raise.
    #[test]
    fn each_config_pitfall_is_reported() {
        use LastRestart::*;
        let table: &[(&str, String, LastRestart, &str, Level)] = &[
            ("disabled", "[graceful_restart]\nmode = \"disabled\"\n".into(), NotYet, "gr-disabled", Level::Fail),
            ("helper only", "[graceful_restart]\nmode = \"helper\"\n".into(), NotYet, "gr-disabled", Level::Warn),
            (
                "restart_time 0",
                "[graceful_restart]\nrestart_time = 0\n".into(),
                NotYet,
                "restart-time-short",
                Level::Fail,
            ),
            ("shorter than measured", EBGP.into(), Measured(150), "restart-time-short", Level::Fail),
            ("under 2x measured", EBGP.into(), Measured(90), "restart-time-short", Level::Warn),
            ("never measured", EBGP.into(), NotYet, "restart-time-short", Level::Warn),
            ("unreadable state", EBGP.into(), Unreadable("denied".into()), "restart-time-short", Level::Warn),
            ("stale 0", "[graceful_restart]\nstale_routes_time = 0\n".into(), NotYet, "stale-time", Level::Fail),
            (
                "stale < deferral",
                "[graceful_restart]\nstale_routes_time = 100\nselection_deferral_time = 200\n".into(),
                NotYet,
                "stale-time",
                Level::Warn,
            ),
            (
                "deferral > stale",
                "[graceful_restart]\nstale_routes_time = 100\nselection_deferral_time = 200\n".into(),
                NotYet,
                "deferral-time",
                Level::Warn,
            ),
            (
                "deferral 0",
                "[graceful_restart]\nselection_deferral_time = 0\n".into(),
                NotYet,
                "deferral-time",
                Level::Warn,
            ),
            ("no FIB in restart mode", String::new(), NotYet, "fib-disabled-restart", Level::Warn),
            ("N bit off", "[graceful_restart]\nnotification = false\n".into(), NotYet, "n-bit-off", Level::Warn),
            (
                "N bit off for one neighbor",
                format!("{EBGP}[neighbor.graceful_restart]\nnotification = false\n"),
                NotYet,
                "n-bit-off",
                Level::Warn,
            ),
            (
                "eBGP without policy",
                "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65002\n".into(),
                NotYet,
                "ebgp-no-policy",
                Level::Warn,
            ),
            (
                "eBGP without export",
                "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65002\nimport = \"all\"\n".into(),
                NotYet,
                "ebgp-no-policy",
                Level::Warn,
            ),
            (
                "hold time 0",
                "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65001\nhold_time = 0\n".into(),
                NotYet,
                "hold-time",
                Level::Warn,
            ),
            (
                "restart time above hold time",
                "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65001\nhold_time = 30\n".into(),
                NotYet,
                "hold-time",
                Level::Warn,
            ),
            ("LLGR off after a long stop", EBGP.into(), Measured(900), "llgr-off", Level::Warn),
            (
                "LLGR off, restart_time stretched",
                "[graceful_restart]\nrestart_time = 1800\n".into(),
                NotYet,
                "llgr-off",
                Level::Warn,
            ),
            ("no prefix limits", EBGP.into(), NotYet, "prefix-limit", Level::Pass),
            (
                "a prefix limit, judged live",
                format!("{EBGP}[neighbor.prefix_limit]\nmax = {{ ipv4-unicast = 1000 }}\n"),
                NotYet,
                "prefix-limit",
                Level::Pass,
            ),
        ];
        for (case, extra, last, id, level) in table {
            let f = audit(extra, last.clone());
            assert_eq!(level_of(&f, id), Some(*level), "{case}: {id}\n{}", render(&f));
        }
    }

    /// A configuration with none of the pitfalls: nothing above PASS.
    #[test]
    fn a_sound_config_passes() {
        let f = audit(
            &format!(
                "[graceful_restart]\nrestart_time = 120\n[long_lived_graceful_restart]\nfamilies = [\"ipv4-unicast\"]\n\
                 [fib]\nenabled = true\n{EBGP}"
            ),
            LastRestart::Measured(30),
        );
        assert!(f.iter().all(|f| f.level == Level::Pass), "{}", render(&f));
        for id in [
            "gr-disabled",
            "restart-time-short",
            "deferral-time",
            "stale-time",
            "n-bit-off",
            "llgr-off",
            "fib-disabled-restart",
            "ebgp-no-policy",
            "hold-time",
            "prefix-limit",
        ] {
            assert!(f.iter().any(|x| x.id == id), "{id} missing:\n{}", render(&f));
        }
    }

    #[test]
    fn hold_time_yields_to_a_measured_restart() {
        let n = "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65001\nhold_time = 30\n";
        assert_eq!(level_of(&audit(n, LastRestart::Measured(40)), "hold-time"), Some(Level::Pass));
    }

    #[test]
    fn neighbor_override_is_audited_for_that_neighbor() {
        let f = audit(&format!("{EBGP}[neighbor.graceful_restart]\nmode = \"disabled\"\n"), LastRestart::Measured(10));
        let g = f.iter().find(|f| f.id == "gr-disabled" && f.level == Level::Fail).expect("gr-disabled FAIL");
        assert_eq!(g.neighbor.as_deref(), Some("192.0.2.2"));
        assert!(f.iter().any(|f| f.id == "gr-disabled" && f.level == Level::Pass && f.neighbor.is_none()));
    }
}
