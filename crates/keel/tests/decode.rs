//! `keel decode` end to end: the built binary on hex vectors, checking the exact JSON.

use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

const MARKER: &str = "ffffffffffffffffffffffffffffffff";

/// OPEN from AS 4200000001 (My AS = AS_TRANS), hold 180, id 192.0.2.1, with MP ipv4/ipv6
/// unicast, route refresh, GR (R and N set, 120 s, ipv4 F=1, ipv6 F=0), 4-octet AS, LLGR
/// (ipv4 F=1 3600 s, ipv6 F=0 86400 s), add-path, FQDN, role, extended next hop, extended
/// message, enhanced route refresh and an unknown capability 200.
const OPEN: &str = "ffffffffffffffffffffffffffffffff007d01045ba000b4c000020160025e0104000100010104000200010200\
                    400ac07800010180000201004104fa56ea01470e00010180000e100002010001518045080001010300020101\
                    490f0672312d6c6162076578616d706c65090103050600010001000206004600c802beef";
const EOR_IPV4: &str = "ffffffffffffffffffffffffffffffff00170200000000";
const EOR_IPV6: &str = "ffffffffffffffffffffffffffffffff001d0200000006800f03000201";
/// Cease/Hard Reset wrapping Cease/Administrative Shutdown with the message "bye!".
const HARD_RESET: &str = "ffffffffffffffffffffffffffffffff001c03060906020462796521";
const KEEPALIVE: &str = "ffffffffffffffffffffffffffffffff001304";
/// Enhanced route refresh: Beginning of Route Refresh for ipv6 unicast.
const ROUTE_REFRESH: &str = "ffffffffffffffffffffffffffffffff00170500020101";
/// IPv4 UPDATE with every attribute keel knows, an unknown optional transitive one (99) and
/// two prefixes.
const UPDATE_V4: &str = "ffffffffffffffffffffffffffffffff009302000000734001010040020a02020000fde9fa56ea01400304\
                         c00002018004040000000a40050400000064400600c007080000fde9c0000201c00808ffff0006fde90064\
                         800904c0000202800a04c0000203c010080002fde900000064c0200c0000fde90000000100000002c02304\
                         0000fde9c06302010218c6336419cb007100";
/// IPv6 UPDATE: MP_REACH_NLRI with global and link-local next hop, two prefixes, and
/// MP_UNREACH_NLRI withdrawing 2001:db8::/32.
const UPDATE_V6: &str = "ffffffffffffffffffffffffffffffff006702000000504001010040020602010000fde9800e350002012020\
                         010db8000000000000000000000001fe800000000000000000000000000001003020010db800014020010d\
                         b800020000800f080002012020010db8";
/// ORIGIN value 5: RFC 7606 treat-as-withdraw.
const BAD_ORIGIN: &str =
    "ffffffffffffffffffffffffffffffff002f02000000144001010540020602010000fde9400304c000020118c63364";
/// Add-Path: withdraws 10.0.0.0/8 path 9, announces 198.51.100.0/24 path 7, empty AS_PATH.
const ADD_PATH: &str =
    "ffffffffffffffffffffffffffffffff003302000600000009080a000e40010100400200400304c00002010000000718c63364";
/// 2-octet session: AS_PATH 65001 23456 with AS4_PATH 4200000001.
const AS2: &str = "ffffffffffffffffffffffffffffffff0038020000001d400101004002060202fde95ba0400304c0000201c011060201\
                   fa56ea0118c63364";

struct Run {
    lines: Vec<Value>,
    status: i32,
}

fn keel(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("decode")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keel");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {l:?} is not JSON: {e}")))
        .collect();
    Run { lines, status: out.status.code().expect("exit status") }
}

/// Runs with `args` and expects success and exactly one object.
fn one(args: &[&str]) -> Value {
    let r = keel(args, None);
    assert_eq!(r.status, 0, "{:?}", r.lines);
    assert_eq!(r.lines.len(), 1, "{:?}", r.lines);
    r.lines.into_iter().next().unwrap()
}

fn no_attributes() -> Value {
    json!({
        "origin": null, "as_path": null, "next_hop": null, "med": null, "local_pref": null,
        "atomic_aggregate": false, "aggregator": null, "communities": [], "large_communities": [],
        "extended_communities": [], "originator_id": null, "cluster_list": [], "otc": null,
        "mp_reach": null, "mp_unreach": null, "unknown": []
    })
}

#[test]
fn open_with_graceful_restart_and_llgr() {
    let v = one(&[OPEN]);
    assert_eq!(v["type"], "open");
    assert_eq!(v["version"], 4);
    assert_eq!(v["asn"], 4_200_000_001u32);
    assert_eq!(v["my_as"], 23456);
    assert_eq!(v["hold_time"], 180);
    assert_eq!(v["router_id"], "192.0.2.1");
    assert_eq!(
        v["capabilities"],
        json!([
            {"code": 1, "name": "multiprotocol", "afi": "ipv4", "safi": "unicast"},
            {"code": 1, "name": "multiprotocol", "afi": "ipv6", "safi": "unicast"},
            {"code": 2, "name": "route-refresh"},
            {"code": 64, "name": "graceful-restart", "restart_state": true, "notification": true,
             "restart_time": 120, "families": [
                {"afi": "ipv4", "safi": "unicast", "forwarding_state": true},
                {"afi": "ipv6", "safi": "unicast", "forwarding_state": false}]},
            {"code": 65, "name": "four-octet-as", "asn": 4_200_000_001u32},
            {"code": 71, "name": "long-lived-graceful-restart", "families": [
                {"afi": "ipv4", "safi": "unicast", "forwarding_state": true, "stale_time": 3600},
                {"afi": "ipv6", "safi": "unicast", "forwarding_state": false, "stale_time": 86400}]},
            {"code": 69, "name": "add-path", "families": [
                {"afi": "ipv4", "safi": "unicast", "send": true, "receive": true},
                {"afi": "ipv6", "safi": "unicast", "send": false, "receive": true}]},
            {"code": 73, "name": "fqdn", "hostname": "r1-lab", "domain": "example"},
            {"code": 9, "name": "role", "role": "customer", "value": 3},
            {"code": 5, "name": "extended-next-hop", "families": [
                {"afi": "ipv4", "safi": "unicast", "next_hop_afi": "ipv6"}]},
            {"code": 6, "name": "extended-message"},
            {"code": 70, "name": "enhanced-route-refresh"},
            {"code": 200, "name": "unknown", "value": "beef"}
        ])
    );
}

/// `keel decode` prints what is on the wire: repeated capabilities each in their place, across
/// parameters (RFC 5492 §4), unknown codes as hex (RFC 5492 §3 has the receiver ignore them,
/// which is negotiation's business), and an Add-Path capability with a Send/Receive value
/// outside 1..=3 as unknown (RFC 7911 §4: "treated as not understood"). The RFC 4724 §3 "all
/// but the last instance" rule lives in negotiation; `asn` and the API's negotiated view apply it.
#[test]
fn open_with_repeated_and_unknown_capabilities_shown_as_sent() {
    let v = one(&[&format!(
        "{MARKER}0039 01 04 fde9 005a 0a000001 1c \
         020a 4006 0078 0001 01 00 8000 \
         020e 4006 005a 0002 01 80 4504 0001 0105"
    )]);
    assert_eq!(
        v["capabilities"],
        json!([
            {"code": 64, "name": "graceful-restart", "restart_state": false, "notification": false,
             "restart_time": 120, "families": [{"afi": "ipv4", "safi": "unicast", "forwarding_state": false}]},
            {"code": 128, "name": "unknown", "value": ""},
            {"code": 64, "name": "graceful-restart", "restart_state": false, "notification": false,
             "restart_time": 90, "families": [{"afi": "ipv6", "safi": "unicast", "forwarding_state": true}]},
            {"code": 69, "name": "unknown", "value": "00010105"}
        ])
    );
}

#[test]
fn open_without_four_octet_as_and_unknown_family_numbers() {
    // My AS 65001, hold 90, id 10.0.0.1, GR with no flags, 0 s, one family AFI 25 SAFI 65.
    let v = one(&["ffffffffffffffffffffffffffffffff002701 04 fde9 005a 0a000001 0a 0208 4006 0000 0019 4100"]);
    assert_eq!(v["asn"], 65001);
    assert_eq!(v["my_as"], 65001);
    assert_eq!(
        v["capabilities"],
        json!([{"code": 64, "name": "graceful-restart", "restart_state": false, "notification": false,
                "restart_time": 0, "families": [{"afi": 25, "safi": 65, "forwarding_state": false}]}])
    );
}

#[test]
fn end_of_rib_ipv4_and_ipv6() {
    let v = one(&[EOR_IPV4]);
    assert_eq!(
        v,
        json!({"type": "update", "end_of_rib": {"afi": "ipv4", "safi": "unicast"}, "withdrawn": [],
               "announced": [], "attributes": no_attributes(), "errors": [], "treat_as_withdraw": false})
    );
    let v = one(&[EOR_IPV6]);
    assert_eq!(v["end_of_rib"], json!({"afi": "ipv6", "safi": "unicast"}));
    assert_eq!(v["attributes"]["mp_unreach"], json!({"afi": "ipv6", "safi": "unicast"}));
    assert_eq!(v["withdrawn"], json!([]));
    // A plain UPDATE is no End-of-RIB.
    assert_eq!(one(&[UPDATE_V4])["end_of_rib"], Value::Null);
}

#[test]
fn hard_reset_notification() {
    let v = one(&[HARD_RESET]);
    assert_eq!(
        v,
        json!({"type": "notification", "code": 6, "subcode": 9,
               "description": "Cease/Hard Reset of Cease/Administrative Shutdown: \"bye!\"",
               "hard_reset": true, "inner": {"code": 6, "subcode": 2}, "shutdown_message": "bye!",
               "data": "06020462796521"})
    );
    // Hard Reset without room for an inner NOTIFICATION.
    let v = one(&["ffffffffffffffffffffffffffffffff0015030609"]);
    assert_eq!(v["hard_reset"], true);
    assert_eq!(v["inner"], Value::Null);
    assert_eq!(v["data"], "");
    // Plain Cease/Administrative Reset with a shutdown communication.
    let v = one(&["ffffffffffffffffffffffffffffffff00190306040368656c"]);
    assert_eq!(v["hard_reset"], false);
    assert_eq!(v["inner"], Value::Null);
    assert_eq!(v["shutdown_message"], "hel");
    assert_eq!(v["description"], "Cease/Administrative Reset: \"hel\"");
}

#[test]
fn keepalive_and_route_refresh() {
    assert_eq!(one(&[KEEPALIVE]), json!({"type": "keepalive"}));
    assert_eq!(
        one(&[ROUTE_REFRESH]),
        json!({"type": "route-refresh", "afi": "ipv6", "safi": "unicast", "subtype": "begin"})
    );
    assert_eq!(one(&["ffffffffffffffffffffffffffffffff00170500010001"])["subtype"], "request");
    assert_eq!(one(&["ffffffffffffffffffffffffffffffff00170500010201"])["subtype"], "end");
    assert_eq!(one(&["ffffffffffffffffffffffffffffffff00170500010701"])["subtype"], 7);
}

#[test]
fn update_with_all_attributes() {
    let v = one(&[UPDATE_V4]);
    assert_eq!(
        v,
        json!({
            "type": "update", "end_of_rib": null, "withdrawn": [],
            "announced": ["198.51.100.0/24", "203.0.113.0/25"],
            "attributes": {
                "origin": "igp",
                "as_path": [{"type": "sequence", "asns": [65001, 4_200_000_001u32]}],
                "next_hop": "192.0.2.1", "med": 10, "local_pref": 100, "atomic_aggregate": true,
                "aggregator": {"asn": 65001, "address": "192.0.2.1"},
                "communities": ["65535:6", "65001:100"], "large_communities": ["65001:1:2"],
                "extended_communities": ["rt:65001:100"], "originator_id": "192.0.2.2",
                "cluster_list": ["192.0.2.3"], "otc": 65001, "mp_reach": null, "mp_unreach": null,
                // Partial bit set on receipt (RFC 4271 §5).
                "unknown": [{"code": 99, "flags": 0xe0, "value": "0102"}]
            },
            "errors": [], "treat_as_withdraw": false
        })
    );
}

#[test]
fn ipv6_update_with_link_local_next_hop() {
    let v = one(&[UPDATE_V6]);
    assert_eq!(v["announced"], json!(["2001:db8:1::/48", "2001:db8:2::/64"]));
    assert_eq!(v["withdrawn"], json!(["2001:db8::/32"]));
    assert_eq!(
        v["attributes"]["mp_reach"],
        json!({"afi": "ipv6", "safi": "unicast", "next_hop": "2001:db8::1", "link_local_next_hop": "fe80::1"})
    );
    assert_eq!(v["attributes"]["mp_unreach"], json!({"afi": "ipv6", "safi": "unicast"}));
    assert_eq!(v["attributes"]["next_hop"], Value::Null);
    assert_eq!(v["end_of_rib"], Value::Null);
}

#[test]
fn rfc7606_errors_keep_the_session() {
    let v = one(&[BAD_ORIGIN]);
    assert_eq!(v["treat_as_withdraw"], true);
    assert_eq!(v["announced"], json!(["198.51.100.0/24"]));
    assert_eq!(v["attributes"]["origin"], Value::Null);
    assert_eq!(
        v["errors"],
        json!([
            {"action": "treat-as-withdraw", "code": 3, "subcode": 6, "reason": "ORIGIN value 5 undefined",
             "data": "40010105"},
            {"action": "treat-as-withdraw", "code": 3, "subcode": 3, "reason": "ORIGIN missing", "data": "01"}
        ])
    );
    // ATOMIC_AGGREGATE with a value: attribute-discard, routes stay.
    let v = one(&["ffffffffffffffffffffffffffffffff002d0200000012 400101 00 400200 400304c0000201 40060100 18c63364"]);
    assert_eq!(v["treat_as_withdraw"], false);
    assert_eq!(v["errors"][0]["action"], "attribute-discard");
    assert_eq!(v["errors"][0]["code"], 3);
    assert_eq!(v["errors"][0]["subcode"], 5);
}

#[test]
fn add_path_and_as2_sessions() {
    let v = one(&["--add-path", ADD_PATH]);
    assert_eq!(v["withdrawn"], json!([{"prefix": "10.0.0.0/8", "path_id": 9}]));
    assert_eq!(v["announced"], json!([{"prefix": "198.51.100.0/24", "path_id": 7}]));
    assert_eq!(v["attributes"]["as_path"], json!([]));
    // With --add-path, families without Add-Path get objects too, with a null path_id.
    let v = one(&["--add-path", "0022 02 0000 000b 800f08 000202 2020010db8"]);
    assert_eq!(v["withdrawn"], json!([{"prefix": "2001:db8::/32", "path_id": null}]));
    assert_eq!(v["attributes"]["mp_unreach"], json!({"afi": "ipv6", "safi": "multicast"}));
    // The same bytes without Add-Path are not a valid UPDATE.
    assert_eq!(keel(&[ADD_PATH], None).status, 1);

    let v = one(&["--as2", AS2]);
    assert_eq!(
        v["attributes"]["as_path"],
        // RFC 6793 §4.2.3: the AS_PATH head and the AS4_PATH join into one AS_SEQUENCE.
        json!([{"type": "sequence", "asns": [65001, 4_200_000_001u32]}])
    );
    // Read as 4-octet, the 2-octet AS_PATH is malformed: treat-as-withdraw.
    let v = one(&[AS2]);
    assert_eq!(v["treat_as_withdraw"], true);
    assert_eq!(v["errors"][0]["subcode"], 11);
}

#[test]
fn extended_message() {
    // An UPDATE withdrawing 1000 /32s: 5023 octets.
    let body: String = (0..1000u32).map(|i| format!("20{:08x}", 0x0a00_0000 + i)).collect();
    let msg = format!("{MARKER}{:04x}02{:04x}{body}0000", 19 + 4 + 5000, 5000);
    let r = keel(&[&msg], None);
    assert_eq!(r.status, 1);
    assert_eq!(r.lines[0]["error"]["code"], 1);
    assert_eq!(r.lines[0]["error"]["subcode"], 2);
    assert_eq!(r.lines[0]["error"]["data"], "139f");
    let v = one(&["--extended-message", &msg]);
    assert_eq!(v["withdrawn"].as_array().unwrap().len(), 1000);
    assert_eq!(v["withdrawn"][999], "10.0.3.231/32");
}

#[test]
fn marker_optional_and_several_messages() {
    // Without marker: the input starts with the length field.
    assert_eq!(one(&["0017 0200000000"])["end_of_rib"], json!({"afi": "ipv4", "safi": "unicast"}));
    assert_eq!(one(&["001304"]), json!({"type": "keepalive"}));
    // Back to back in one argument, with and without marker, then over several arguments.
    let mixed = format!("{KEEPALIVE}001304{}{HARD_RESET}", &EOR_IPV6[32..]);
    let r = keel(&[&mixed, OPEN, "0x001304"], None);
    assert_eq!(r.status, 0);
    let types: Vec<&str> = r.lines.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["keepalive", "keepalive", "update", "notification", "open", "keepalive"]);
    assert_eq!(r.lines[2]["end_of_rib"]["afi"], "ipv6");
}

#[test]
fn stdin_input() {
    let input = format!("0x{KEEPALIVE}\n{}\n  {}\n0x{}\n", &UPDATE_V4[..60], &UPDATE_V4[60..], &ROUTE_REFRESH[32..]);
    let r = keel(&[], Some(&input));
    assert_eq!(r.status, 0);
    assert_eq!(r.lines.len(), 3);
    assert_eq!(r.lines[0]["type"], "keepalive");
    assert_eq!(r.lines[1]["announced"], json!(["198.51.100.0/24", "203.0.113.0/25"]));
    assert_eq!(r.lines[2]["type"], "route-refresh");
    let r = keel(&[], Some(""));
    assert_eq!((r.status, r.lines.len()), (0, 0));
}

fn error_of(r: &Run) -> &Value {
    assert_eq!(r.status, 1);
    let last = r.lines.last().expect("an error line");
    assert_eq!(last.as_object().unwrap().len(), 1, "{last}");
    &last["error"]
}

#[test]
fn malformed_message_prints_error_and_exits_1() {
    // A KEEPALIVE, then an OPEN with version 3: Unsupported Version Number, data = 4.
    let open3 = "ffffffffffffffffffffffffffffffff001d0103fde900b4c000020100";
    let r = keel(&[KEEPALIVE, open3, KEEPALIVE], None);
    assert_eq!(r.lines.len(), 2);
    assert_eq!(r.lines[0]["type"], "keepalive");
    let e = error_of(&r);
    assert_eq!(e["code"], 2);
    assert_eq!(e["subcode"], 1);
    assert_eq!(e["reason"], "BGP version 3 is not 4");
    assert_eq!(e["data"], "0004");
    assert_eq!(e["action"], "session-reset");
    assert_eq!(e["offset"], 19);

    // Bad marker: Connection Not Synchronized.
    let e = error_of(&keel(&["fffffffffffffffffffffffffffffffe001304"], None)).clone();
    assert_eq!((e["code"].as_u64(), e["subcode"].as_u64()), (Some(1), Some(1)));
    // Unknown type 7: Bad Message Type with the type as data.
    let e = error_of(&keel(&["001307"], None)).clone();
    assert_eq!((e["code"].as_u64(), e["subcode"].as_u64(), e["data"].as_str()), (Some(1), Some(3), Some("07")));
    // KEEPALIVE of 20 octets: Bad Message Length with the length as data.
    let e = error_of(&keel(&["00140400"], None)).clone();
    assert_eq!((e["code"].as_u64(), e["subcode"].as_u64(), e["data"].as_str()), (Some(1), Some(2), Some("0014")));
    // ROUTE-REFRESH of 24 octets: ROUTE-REFRESH Message Error / Invalid Message Length.
    let e = error_of(&keel(&["0018050001000100"], None)).clone();
    assert_eq!((e["code"].as_u64(), e["subcode"].as_u64()), (Some(7), Some(1)));
    // Hold time 1: Unacceptable Hold Time.
    let e = error_of(&keel(&["001d0104fde90001c000020100"], None)).clone();
    assert_eq!((e["code"].as_u64(), e["subcode"].as_u64()), (Some(2), Some(6)));
    // MP_REACH_NLRI with a 5-octet next hop: AFI/SAFI disable of ipv6 unicast.
    let e = error_of(&keel(&["0025 02 0000 000e 800e0b 000201 05 0102030405 00 00"], None)).clone();
    assert_eq!((e["code"].as_u64(), e["subcode"].as_u64()), (Some(3), Some(9)));
    assert_eq!(e["action"], "afi-safi-disable");
}

#[test]
fn truncated_input() {
    let r = keel(&[KEEPALIVE, &EOR_IPV4[..40]], None);
    assert_eq!(r.lines[0]["type"], "keepalive");
    let e = error_of(&r);
    assert_eq!((e["code"].as_u64(), e["subcode"].as_u64()), (Some(1), Some(2)));
    assert_eq!(e["offset"], 19);
    assert_eq!(e["reason"], "input ends after 20 of the 23 octets the length field announces");
    let e = error_of(&keel(&["00"], None)).clone();
    assert_eq!((e["code"].as_u64(), e["subcode"].as_u64()), (Some(1), Some(2)));
}

#[test]
fn bad_hex() {
    for bad in ["ffz", "fff", "0xff 0y12"] {
        let r = keel(&[bad], None);
        assert_eq!(r.lines.len(), 1);
        let e = error_of(&r);
        assert_eq!(e["code"], Value::Null, "{bad}");
        assert_eq!(e["subcode"], Value::Null);
        assert_eq!(e["action"], Value::Null);
        assert_eq!(e["offset"], Value::Null);
        assert!(e["reason"].as_str().unwrap().starts_with("invalid hex"), "{e}");
    }
    let e = error_of(&keel(&[], Some("0x00 13 04 zz"))).clone();
    assert_eq!(e["code"], Value::Null);
}

/// `keel decode ... | head -c 10`: when the reader goes away keel ends quietly (SIGPIPE, as any
/// Unix filter), never with a panic.
#[test]
fn a_closed_pipe_ends_keel_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let keepalive = "ffffffffffffffffffffffffffffffff001304";
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keel decode");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        for _ in 0..20_000 {
            if writeln!(stdin, "{keepalive}").is_err() {
                break;
            }
        }
    });
    let mut first = [0u8; 10];
    child.stdout.take().expect("stdout").read_exact(&mut first).expect("keel's first bytes");
    // stdout is dropped here: keel's next writes meet a closed pipe.
    let _ = writer.join();
    let out = child.wait_with_output().expect("keel decode ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE), "{:?}: {stderr}", out.status);
}
