//! The observer downstream of keel (BIRD or GoBGP): what it holds and what its own counters
//! say it received.

use super::*;

/// What the observer's own counters say it received from keel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    /// BIRD: route updates received (Import updates); GoBGP: UPDATE messages received.
    pub(super) updates: u64,
    /// BIRD: route withdrawals received (Import withdraws); GoBGP: withdrawn prefixes.
    pub(super) withdraws: u64,
}

pub(super) enum Observer {
    Bird(Bird),
    GoBgp(GoBgp, String),
}

impl Observer {
    pub(super) fn bird(dir: &Path, local: &str, keel: &str) -> Observer {
        let b = bird_peer(
            dir,
            &BirdPeer {
                local,
                asn: asn_of(local),
                keel,
                keel_asn: asn_of(keel),
                hold_time: 9,
                extra: "graceful restart off; long lived graceful restart off;",
                routes: false,
            },
        );
        Observer::Bird(b)
    }

    pub(super) fn gobgp(dir: &Path, local: &str, keel: &str) -> Observer {
        Observer::GoBgp(gobgp_peer(dir, local, asn_of(local), keel, asn_of(keel)), keel.to_string())
    }

    pub(super) fn assert_running(&self) {
        match self {
            Observer::Bird(b) => b.proc.assert_running(),
            Observer::GoBgp(g, _) => g.proc.assert_running(),
        }
    }

    /// The IPv4 prefixes the observer holds from keel, sorted.
    pub(super) fn prefixes(&self) -> Vec<String> {
        self.assert_running();
        let mut v: Vec<String> = match self {
            Observer::Bird(b) => b
                .birdc("show route protocol keel")
                .lines()
                .filter(|l| !l.starts_with(char::is_whitespace))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|w| w.contains('/') && w.contains('.'))
                .map(String::from)
                .collect(),
            Observer::GoBgp(g, keel) => {
                let rib = g.json(&["global", "rib", "-a", "ipv4", "-j"]);
                rib.as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, paths)| paths.as_array().is_some_and(|p| p.iter().any(|p| p["neighbor-ip"] == **keel)))
                    .map(|(prefix, _)| prefix.clone())
                    .collect()
            }
        };
        v.sort();
        v
    }

    pub(super) fn seen(&self) -> Seen {
        self.assert_running();
        match self {
            Observer::Bird(b) => {
                let (updates, withdraws) = b.imports();
                Seen { updates, withdraws }
            }
            Observer::GoBgp(g, keel) => {
                let v = g.json(&["neighbor", keel, "-j"]);
                let m = &v["state"]["messages"]["received"];
                Seen {
                    updates: m["update"].as_u64().unwrap_or(0),
                    withdraws: m["withdraw_prefix"].as_u64().unwrap_or(0),
                }
            }
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Observer::Bird(b) => b.protocol(),
            Observer::GoBgp(g, keel) => g.ok(&["neighbor", keel]),
        }
    }

    /// Waits until the observer holds exactly `prefixes` from keel and its counters stay put
    /// for a moment; returns them.
    pub(super) fn wait_settled(&self, prefixes: &[&str]) -> Seen {
        let want = sorted(prefixes);
        let mut last: Option<(Seen, Instant)> = None;
        wait_for(&format!("the observer to hold {want:?} from keel"), DEADLINE, || {
            let have = self.prefixes();
            if have != want {
                last = None;
                return Err(format!("observer holds {have:?}"));
            }
            let s = self.seen();
            match last {
                Some((prev, since)) if prev == s && since.elapsed() >= Duration::from_millis(600) => Ok(s),
                Some((prev, _)) if prev == s => Err("settling".into()),
                _ => {
                    last = Some((s, Instant::now()));
                    Err("settling".into())
                }
            }
        })
    }

    /// Fails unless the observer still holds `prefixes` and received nothing since `base`.
    pub(super) fn quiet(&self, base: Seen, prefixes: &[&str]) -> Result<(), String> {
        let (have, s) = (self.prefixes(), self.seen());
        if have != sorted(prefixes) {
            return Err(format!("observer holds {have:?}, expected {prefixes:?}"));
        }
        if s != base {
            return Err(format!("observer received UPDATEs: {s:?} (before {base:?}):\n{}", self.describe()));
        }
        Ok(())
    }
}
