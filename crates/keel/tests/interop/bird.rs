//! keel against BIRD 2: session, routes both ways, capabilities and End-of-RIB.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A BIRD 2 instance in its own directory, in the foreground (`-f`), ended by pid.
pub struct Bird {
    pub proc: Proc,
    pub ctl: PathBuf,
    pub log: PathBuf,
}

/// Settings of one BIRD peering with keel.
pub struct BirdPeer<'a> {
    pub local: &'a str,
    pub asn: u32,
    pub keel: &'a str,
    pub keel_asn: u32,
    pub hold_time: u16,
    /// More lines inside `protocol bgp keel { ... }` (password, ...).
    pub extra: &'a str,
    /// Announce 203.0.113.0/24 and 2001:db8:LAST::/48 with community (ASN, 7).
    pub routes: bool,
}

impl Bird {
    pub fn start(dir: &Path, p: &BirdPeer) -> Bird {
        let bird = require("bird");
        require("birdc");
        let last = p.local.rsplit('.').next().unwrap();
        let log = dir.join("bird.log");
        let statics = if p.routes {
            format!(
                "protocol static s4 {{ ipv4; route 203.0.113.0/24 blackhole; }}\n\
                 protocol static s6 {{ ipv6; route 2001:db8:{last}::/48 blackhole; }}\n"
            )
        } else {
            String::new()
        };
        let conf = format!(
            r#"router id 192.0.2.{last};
log "{log}" all;
protocol device {{}}
{statics}
protocol bgp keel {{
  local {local} as {asn};
  neighbor {keel} as {keel_asn};
  multihop;                   # loopback peers share no interface
  strict bind on;             # listen on {local}:179 only, not *:179
  hold time {hold}; keepalive time {keepalive};
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  enable extended messages on;
  graceful restart on; graceful restart time 111;
  long lived graceful restart on; long lived stale time 3333;
  debug {{ states, events, packets }};
  {extra}
  ipv4 {{ import all; export filter {{ bgp_community.add(({asn}, 7)); accept; }}; }};
  ipv6 {{ import all; export filter {{ bgp_community.add(({asn}, 7)); accept; }}; next hop address 2001:db8::{last}; }};
}}
"#,
            log = log.display(),
            local = p.local,
            asn = p.asn,
            keel = p.keel,
            keel_asn = p.keel_asn,
            hold = p.hold_time,
            keepalive = (p.hold_time / 3).max(1),
            extra = p.extra,
        );
        let conf_path = dir.join("bird.conf");
        write(&conf_path, &conf);
        let ctl = dir.join("bird.ctl");
        let mut cmd = Command::new(bird);
        cmd.arg("-f").arg("-c").arg(&conf_path).arg("-s").arg(&ctl);
        let proc = Proc::spawn("bird", dir, cmd, std::slice::from_ref(&log));
        let b = Bird { proc, ctl, log };
        wait_for("BIRD's control socket", DEADLINE, || {
            b.proc.assert_running();
            let (code, out, err) = run(Command::new("birdc").arg("-s").arg(&b.ctl).arg("show status"));
            if code == 0 && out.contains("Daemon is up and running") {
                Ok(())
            } else {
                Err(format!("{out}{err}"))
            }
        });
        b
    }

    pub fn birdc(&self, command: &str) -> String {
        let (code, out, err) = run(Command::new("birdc").arg("-s").arg(&self.ctl).arg(command));
        assert_eq!(code, 0, "birdc {command}: {out}{err}");
        out
    }

    pub fn protocol(&self) -> String {
        self.birdc("show protocols all keel")
    }

    pub fn wait_established(&self) -> String {
        wait_for("BIRD's session with keel to be established", DEADLINE, || {
            let p = self.protocol();
            if p.contains("BGP state:          Established") {
                Ok(p)
            } else {
                Err(p)
            }
        })
    }
}

/// The lines of the section `title` in `show protocols all` (up to the next line that is
/// indented no deeper than the title).
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| l.trim() != title);
    let Some(head) = lines.next() else { return Vec::new() };
    let indent = head.len() - head.trim_start().len();
    lines.take_while(|l| l.len() - l.trim_start().len() > indent).map(str::trim).collect()
}

/// The capability `name` in a capabilities section with its detail lines.
fn capability<'a>(caps: &[&'a str], name: &str) -> Option<Vec<&'a str>> {
    let i = caps.iter().position(|l| *l == name)?;
    Some(caps[i + 1..].iter().take_while(|l| l.contains(':')).copied().collect())
}

#[test]
fn bird_session_routes_capabilities_end_of_rib() {
    let dir = TempDir::new("bird");
    let (keel_addr, bird_addr) = ("127.0.0.111", "127.0.0.112");
    let kdir = dir.sub("keel");
    let config = format!(
        "{}{KEEL_GR}{}{}",
        keel_global(&kdir, 65111, keel_addr),
        keel_neighbor(bird_addr, 65112, keel_addr, 9),
        keel_networks(111),
    );
    let keel = Keel::start(&kdir, keel_addr, &config);
    let bird = Bird::start(
        &dir.sub("bird"),
        &BirdPeer {
            local: bird_addr,
            asn: 65112,
            keel: keel_addr,
            keel_asn: 65111,
            hold_time: 9,
            extra: "",
            routes: true,
        },
    );

    // Established on both sides.
    let n = keel.wait_established(bird_addr);
    let proto = bird.wait_established();
    assert_eq!(n["hold_time"], 9);
    assert!(proto.contains("Session:          external multihop AS4"), "BIRD session kind:\n{proto}");

    // keel's routes in BIRD's RIB, with keel's AS and communities.
    let v4 = wait_for("198.51.100.0/24 from keel in BIRD", DEADLINE, || {
        let r = bird.birdc("show route 198.51.100.0/24 all");
        if r.contains("[keel ") {
            Ok(r)
        } else {
            Err(r)
        }
    });
    assert!(v4.contains("BGP.as_path: 65111\n"), "AS path in BIRD:\n{v4}");
    assert!(v4.contains("BGP.community: (65001,111)"), "communities in BIRD:\n{v4}");
    assert!(v4.contains("BGP.next_hop: 192.0.2.111"), "next hop in BIRD:\n{v4}");
    let v6 = wait_for("2001:db8:111::/48 from keel in BIRD", DEADLINE, || {
        let r = bird.birdc("show route 2001:db8:111::/48 all");
        if r.contains("[keel ") {
            Ok(r)
        } else {
            Err(r)
        }
    });
    assert!(v6.contains("BGP.as_path: 65111\n"), "AS path in BIRD:\n{v6}");
    assert!(v6.contains("BGP.community: (65001,6111)"), "communities in BIRD:\n{v6}");
    assert!(v6.contains("BGP.next_hop: 2001:db8::111"), "next hop in BIRD:\n{v6}");

    // BIRD's routes in keel's Adj-RIB-In.
    let r4 = keel.wait_route(bird_addr, "203.0.113.0/24");
    assert_eq!(r4["as_path"], serde_json::json!([65112]), "{r4}");
    assert_eq!(r4["communities"], serde_json::json!(["65112:7"]), "{r4}");
    assert_eq!(r4["family"], "ipv4-unicast");
    let r6 = keel.wait_route(bird_addr, "2001:db8:112::/48");
    assert_eq!(r6["as_path"], serde_json::json!([65112]), "{r6}");
    assert_eq!(r6["next_hop"], "2001:db8::112", "{r6}");
    assert_eq!(r6["family"], "ipv6-unicast");

    // What keel advertised, as BIRD recorded it ("Neighbor capabilities").
    let caps = section(&proto, "Neighbor capabilities");
    assert!(!caps.is_empty(), "no neighbor capabilities in:\n{proto}");
    let need = |name: &str| capability(&caps, name).unwrap_or_else(|| panic!("BIRD saw no {name} from keel:\n{proto}"));
    assert_eq!(need("Multiprotocol"), ["AF announced: ipv4 ipv6"]);
    need("Route refresh");
    need("Enhanced refresh");
    need("Extended message");
    need("4-octet AS numbers");
    assert_eq!(need("Graceful restart"), ["Restart time: 97", "AF supported: ipv4 ipv6", "AF preserved: ipv4 ipv6"]);
    assert_eq!(
        need("Long-lived graceful restart"),
        ["LL stale time: 1801", "AF supported: ipv4", "AF preserved: ipv4"]
    );

    // What BIRD advertised, as keel recorded it. BIRD 2.0 has no N bit.
    let remote = names(&n["capabilities"]["remote"]);
    for c in ["route-refresh", "enhanced-route-refresh", "extended-message", "four-octet-as", "graceful-restart"] {
        assert!(remote.contains(&c.to_string()), "keel did not record {c} from BIRD: {remote:?}");
    }
    assert!(remote.contains(&"long-lived-graceful-restart".to_string()), "{remote:?}");
    assert_remote_gr(&n, 111, false, false);
    let llgr = &n["llgr"]["remote"];
    assert_eq!(families(llgr), ["ipv4-unicast", "ipv6-unicast"], "BIRD's LLGR in keel: {llgr}");
    assert!(llgr.as_array().unwrap().iter().all(|f| f["stale_time"] == 3333), "BIRD's LLGR in keel: {llgr}");
    assert_eq!(families(&n["llgr"]["local"]), ["ipv4-unicast"]);

    // End-of-RIB: BIRD logs one "Got END-OF-RIB" per channel; keel saw BIRD's too.
    wait_for("BIRD to receive End-of-RIB for both channels", DEADLINE, || {
        let log = read(&bird.log);
        match log.matches("keel: Got END-OF-RIB").count() {
            n if n >= 2 => Ok(()),
            n => Err(format!("{n} End-of-RIB in the log")),
        }
    });
    let n = wait_for("keel to see BIRD's End-of-RIB", DEADLINE, || {
        let n = keel.neighbor(bird_addr);
        if families(&n["graceful_restart"]["end_of_rib_received"]).len() == 2 {
            Ok(n)
        } else {
            Err(n.to_string())
        }
    });
    assert_keel_end_of_rib(&n);
    assert_eq!(n["established_transitions"], 1, "{n}");

    // Route refresh both ways, with Enhanced Route Refresh negotiated (RFC 7313).
    // keel asks (`keel clear --soft`): BIRD gets ROUTE-REFRESH and sends its routes again.
    let (status, body) = keel.request("POST", &format!("/v1/neighbors/{bird_addr}/clear?soft=true"));
    assert_eq!(status, 200, "{body}");
    wait_for("BIRD to get keel's ROUTE-REFRESH", DEADLINE, || {
        let log = read(&bird.log);
        if log.contains("keel: Got ROUTE-REFRESH") {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    // BIRD asks (`reload in`): keel answers with BoRR, its routes, EoRR for each family.
    bird.birdc("reload in keel");
    wait_for("BIRD to get keel's BoRR and EoRR for both families", DEADLINE, || {
        let log = read(&bird.log);
        let (b, e) = (log.matches("keel: Got BEGIN-OF-RR").count(), log.matches("keel: Got END-OF-RR").count());
        if b >= 2 && e >= 2 {
            Ok(())
        } else {
            Err(format!("{b} BoRR, {e} EoRR in BIRD's log"))
        }
    });
    let v4 = bird.birdc("show route 198.51.100.0/24 all");
    assert!(v4.contains("[keel ") && v4.contains("BGP.community: (65001,111)"), "after refresh:\n{v4}");
    let n = keel.neighbor(bird_addr);
    assert_eq!((n["state"].as_str(), n["established_transitions"].as_u64()), (Some("established"), Some(1)), "{n}");
}
