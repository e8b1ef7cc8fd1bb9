//! keeld with the kernel FIB, inside network namespaces this test creates (never the host's
//! tables), with documentation addresses only:
//!
//! ```text
//!  ns "r": keeld a (127.0.0.1, FIB on) <-BGP-> keeld b (127.0.0.2, announces 198.51.100.0/24
//!          via 192.0.2.2)                 va 192.0.2.1/24
//!                                          |  veth
//!  ns "h":                                vb 192.0.2.2/24, lo 198.51.100.1/32
//! ```

use crate::common::netns::Lab;
use crate::common::*;
use std::time::Duration;

/// keeld a: FIB on, neighbor b (also used by `upgrade`).
pub(crate) const A: &str = r#"[global]
asn = 65001
router_id = "192.0.2.101"
listen = ["127.0.0.1:179"]
api = "DIR/keel.sock"
state_dir = "DIR"
[graceful_restart]
selection_deferral_time = 5
[fib]
enabled = true
[[neighbor]]
address = "127.0.0.2"
asn = 65002
local_address = "127.0.0.1"
connect_retry_time = 1
import = "all"
export = "all"
"#;

/// keeld b: announces 198.51.100.0/24 via 192.0.2.2 to a (also used by `upgrade`).
pub(crate) const B: &str = r#"[global]
asn = 65002
router_id = "192.0.2.102"
listen = ["127.0.0.2:179"]
api = "DIR/keel.sock"
state_dir = "DIR"
[[neighbor]]
address = "127.0.0.1"
asn = 65001
local_address = "127.0.0.2"
connect_retry_time = 1
import = "all"
export = "all"
[[network]]
prefix = "198.51.100.0/24"
next_hop = "192.0.2.2"
"#;

#[test]
fn best_path_is_installed_forwards_and_is_withdrawn() {
    let lab = Lab::new("fwd");
    assert!(!lab.ping("198.51.100.1"), "no route yet");
    let a = lab.keeld("a", A);
    let b = lab.keeld("b", B);
    let routes = wait_for("kernel route", WAIT, || Some(lab.keel_routes()).filter(|r| r.contains("198.51.100.0/24")));
    assert!(routes.contains("198.51.100.0/24 via 192.0.2.2 dev va"), "{routes}");
    assert!(lab.ping("198.51.100.1"), "traffic follows the BGP route");
    // b withdraws (stop --withdraw): the kernel route goes.
    let (ok, _) = keel(&b.api(), &["stop", "--withdraw"]);
    assert!(ok);
    wait_for("route removed", WAIT, || Some(()).filter(|_| !lab.keel_routes().contains("198.51.100.0/24")));
    assert!(!lab.ping("198.51.100.1"));
    drop(a);
}

#[test]
fn graceful_stop_leaves_kernel_routes_and_withdraw_removes_them() {
    let lab = Lab::new("gr");
    let a = lab.keeld("a", A);
    let _b = lab.keeld("b", B);
    wait_for("kernel route", WAIT, || Some(()).filter(|_| lab.keel_routes().contains("198.51.100.0/24")));
    // Planned stop with graceful restart: forwarding stays (RFC 4724 §4.1).
    let (ok, _) = keel(&a.api(), &["stop"]);
    assert!(ok);
    wait_for("keeld a exited", WAIT, || std::fs::metadata(a.api()).err().map(|_| ()));
    std::thread::sleep(Duration::from_millis(300));
    assert!(lab.keel_routes().contains("198.51.100.0/24"), "route kept across the stop");
    assert!(lab.ping("198.51.100.1"), "still forwarding while keeld is away");
    drop(a);
    // Back again: the route is re-learned; then `stop --withdraw` removes it.
    let a = lab.keeld("a", A);
    established(&a.api(), "127.0.0.2");
    assert!(lab.keel_routes().contains("198.51.100.0/24"));
    let (ok, _) = keel(&a.api(), &["stop", "--withdraw"]);
    assert!(ok);
    wait_for("route flushed", WAIT, || Some(()).filter(|_| !lab.keel_routes().contains("198.51.100.0/24")));
}

#[test]
fn keel_restart_keeps_forwarding_and_comes_back_with_r_bit() {
    let lab = Lab::new("rs");
    let a = lab.keeld("a", A);
    let b = lab.keeld("b", B);
    wait_for("kernel route", WAIT, || Some(()).filter(|_| lab.keel_routes().contains("198.51.100.0/24")));
    let before = lab.keel_routes();
    let pid = a.pid().expect("keeld a runs");
    // Sessions so far (a connection collision at start may already have cost one).
    let sessions = json(&b.api(), &["show", "neighbor", "127.0.0.1", "--json"])
        .and_then(|n| n["established_transitions"].as_u64())
        .expect("b's view of a");
    // `keel restart`: same process, new run, R=1 towards b, kernel untouched.
    assert!(keel(&a.api(), &["restart"]).0);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut back = false;
    while std::time::Instant::now() < deadline {
        assert!(lab.keel_routes().contains("198.51.100.0/24 via 192.0.2.2"), "kernel route lost during the restart");
        let n = json(&b.api(), &["show", "neighbor", "127.0.0.1", "--json"]);
        if n.as_ref().is_some_and(|n| n["state"] == "established" && n["established_transitions"] == sessions + 1) {
            let n = n.unwrap();
            assert_eq!(n["graceful_restart"]["remote"]["restart_state"], true, "keel's OPEN after a restart has R=1");
            assert_eq!(
                n["graceful_restart"]["remote"]["families"][0]["forwarding_state"], true,
                "forwarding was preserved"
            );
            back = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(back, "keeld came back and re-established");
    assert!(std::fs::read_to_string(format!("/proc/{pid}/cmdline")).is_ok(), "same pid after the restart");
    // Selection deferral ends on b's End-of-RIB; the route is chosen again, not re-installed.
    established(&a.api(), "127.0.0.2");
    wait_for("deferral over", WAIT, || {
        json(&a.api(), &["show", "routes", "--json"])
            .filter(|v| v.as_array().is_some_and(|a| a.iter().any(|r| r["best"] == true)))
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lab.keel_routes(), before, "no kernel change for an unchanged route");
    // b kept a's routes throughout: it never withdrew anything from a.
    drop(b);
}
