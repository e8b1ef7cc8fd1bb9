//! Configuration parsing and validation: every error names file, line and field.

use super::*;
use std::collections::BTreeSet;

fn error(text: &str) -> ConfigError {
    Config::parse(text, "t.toml").expect_err("config should be rejected")
}

#[test]
fn embedded_default_is_valid() {
    let c = Config::parse(DEFAULT, DEFAULT_NAME).unwrap();
    assert!(c.neighbors.is_empty());
    assert_eq!(c.graceful_restart.mode, GrMode::Restart);
    assert!(c.global.listen.iter().all(|a| a.get_ref().ip().is_loopback()));
}

#[test]
fn unknown_key_names_file_line_and_field() {
    let e = error("[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\nbogus = 1\n");
    assert_eq!((e.file.as_str(), e.line, e.field.as_str()), ("t.toml", 4, "global.bogus"));
    assert!(e.message.contains("unknown field"), "{e}");
}

#[test]
fn bad_values_are_located() {
    let base = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n";
    let e = error(&format!("{base}[graceful_restart]\nrestart_time = 5000\n"));
    assert_eq!((e.line, e.field.as_str()), (5, "graceful_restart.restart_time"), "{e}");
    assert!(e.message.contains("4095"), "{e}");
    let e = error(&format!("{base}[[neighbor]]\naddress = \"127.0.0.2\"\nasn = 65002\nhold_time = 2\n"));
    assert_eq!((e.line, e.field.as_str()), (7, "neighbor.hold_time"), "{e}");
    let e = error(&format!("{base}[[neighbor]]\naddress = \"127.0.0.2\"\nasn = 65002\nopen_hold_time = 0\n"));
    assert_eq!((e.line, e.field.as_str()), (7, "neighbor.open_hold_time"), "{e}");
    let e =
        error(&format!("{base}[[neighbor]]\naddress = \"127.0.0.2\"\nasn = 65002\nfamilies = [\"ipv5-unicast\"]\n"));
    assert_eq!((e.line, e.field.as_str()), (7, "neighbor.families"), "{e}");
    let e = error(&format!("{base}[[network]]\nprefix = \"198.51.100.1/24\"\n"));
    assert!(e.message.contains("host bits"), "{e}");
    let e = error("[global]\nasn = 0\nrouter_id = \"192.0.2.1\"\n");
    assert_eq!((e.line, e.field.as_str()), (2, "global.asn"), "{e}");
    let e = error("[global]\nasn = 65001\nrouter_id = \"nope\"\n");
    assert_eq!(e.line, 3, "{e}");
}

#[test]
fn api_group_must_exist() {
    let base = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n";
    assert_eq!(Config::parse(base, "t.toml").unwrap().global.api_gid, None);
    // Group 0 exists everywhere keel runs, under the name the system gives it.
    let root = nix::unistd::Group::from_gid(0.into()).unwrap().unwrap().name;
    let c = Config::parse(&format!("{base}api_group = \"{root}\"\n"), "t.toml").unwrap();
    assert_eq!(c.global.api_gid, Some(0));
    let e = error(&format!("{base}api_group = \"no-such-group-keel\"\n"));
    assert_eq!((e.line, e.field.as_str()), (4, "global.api_group"), "{e}");
    assert!(e.message.contains("no group \"no-such-group-keel\""), "{e}");
}

#[test]
fn fib_backend_is_kernel_unless_memory_is_asked() {
    let base = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n[fib]\nenabled = true\n";
    assert_eq!(Config::parse(base, "t.toml").unwrap().fib.backend, FibBackend::Kernel);
    let c = Config::parse(&format!("{base}backend = \"memory\"\n"), "t.toml").unwrap();
    assert_eq!(c.fib.backend, FibBackend::Memory);
    let e = error(&format!("{base}backend = \"disk\"\n"));
    assert_eq!((e.line, e.field.as_str()), (6, "fib.backend"), "{e}");
}

#[test]
fn bmp_stations() {
    let base = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n";
    assert!(Config::parse(base, "t.toml").unwrap().bmp.station.is_empty());
    let c = Config::parse(
        &format!(
            "{base}[[bmp.station]]\naddress = \"127.0.0.100\"\nport = 1790\n\
             [[bmp.station]]\naddress = \"::1\"\nport = 1790\nreconnect = 5\nstatistics = 0\nbuffer = 16\n\
             views = [\"adj_rib_in_pre\", \"adj_rib_in_post\", \"loc_rib\", \"adj_rib_out_post\"]\n"
        ),
        "t.toml",
    )
    .unwrap();
    let (a, b) = (&c.bmp.station[0], &c.bmp.station[1]);
    assert_eq!((*a.reconnect.get_ref(), *a.statistics.get_ref(), *a.buffer.get_ref()), (30, 60, 4096));
    assert_eq!(a.views.iter().map(|v| *v.get_ref()).collect::<Vec<_>>(), vec![crate::BmpView::LocRib]);
    assert_eq!(b.views.len(), 4);
    assert_eq!((*b.reconnect.get_ref(), *b.buffer.get_ref()), (5, 16));
    let e = error(&format!("{base}[[bmp.station]]\naddress = \"127.0.0.100\"\nport = 1790\nviews = [\"rib_in\"]\n"));
    assert_eq!((e.line, e.field.as_str()), (7, "bmp.station.views"), "{e}");
    let e = error(&format!("{base}[[bmp.station]]\naddress = \"127.0.0.100\"\nport = 1790\nreconnect = 0\n"));
    assert_eq!((e.line, e.field.as_str()), (7, "bmp.station.reconnect"), "{e}");
    let e = error(&format!(
        "{base}[[bmp.station]]\naddress = \"127.0.0.100\"\nport = 1790\n[[bmp.station]]\naddress = \"127.0.0.100\"\nport = 1790\n"
    ));
    assert_eq!((e.line, e.field.as_str()), (8, "bmp.station.address"), "{e}");
}

#[test]
fn rpki_caches() {
    let base = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n";
    let c = Config::parse(base, "t.toml").unwrap();
    assert!(c.rpki.cache.is_empty());
    let c = Config::parse(
        &format!(
            "{base}[[rpki.cache]]\naddress = \"192.0.2.7\"\n\
             [[rpki.cache]]\naddress = \"2001:db8::7\"\nport = 8282\nrefresh = 60\nretry = 5\nexpire = 900\n"
        ),
        "t.toml",
    )
    .unwrap();
    let (a, b) = (&c.rpki.cache[0], &c.rpki.cache[1]);
    assert_eq!(
        (a.address.get_ref().to_string(), *a.port.get_ref(), a.refresh.is_none()),
        ("192.0.2.7".into(), 323, true)
    );
    assert_eq!(*b.port.get_ref(), 8282);
    assert_eq!(
        (b.refresh.as_ref().map(|v| *v.get_ref()), b.expire.as_ref().map(|v| *v.get_ref())),
        (Some(60), Some(900))
    );
    let e = error(&format!("{base}[[rpki.cache]]\naddress = \"192.0.2.7\"\nexpire = 60\n"));
    assert_eq!((e.line, e.field.as_str()), (6, "rpki.cache.expire"), "{e}");
    assert!(e.message.contains("RFC 8210"), "{e}");
    let e = error(&format!("{base}[[rpki.cache]]\naddress = \"192.0.2.7\"\n[[rpki.cache]]\naddress = \"192.0.2.7\"\n"));
    assert_eq!((e.line, e.field.as_str()), (7, "rpki.cache.address"), "{e}");
    let e = error(&format!("{base}[[rpki.cache]]\naddress = \"cache.example\"\n"));
    assert_eq!((e.line, e.field.as_str()), (5, "rpki.cache.address"), "{e}");
    let e = error(&format!("{base}[rpki]\ncaches = []\n"));
    assert_eq!((e.line, e.field.as_str()), (5, "rpki.caches"), "{e}");
}

#[test]
fn neighbor_overrides_graceful_restart() {
    let c = Config::parse(
        "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n[graceful_restart]\nrestart_time = 90\n\
         [[neighbor]]\naddress = \"127.0.0.2\"\nasn = 65002\n[neighbor.graceful_restart]\nmode = \"helper\"\n",
        "t.toml",
    )
    .unwrap();
    let g = c.graceful_restart_for(&c.neighbors[0]);
    assert_eq!((g.mode, g.restart_time), (GrMode::Helper, 90));
}

/// RFC 4271 §6.3 first-AS check, one row per neighbor block: (neighbor AS, key line,
/// the check on, or the field of the error).
#[test]
fn enforce_first_as_defaults_on_for_ebgp_only() {
    let base = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n";
    let rows: [(u32, &str, Result<bool, &str>); 7] = [
        (65002, "", Ok(true)),
        (65002, "enforce_first_as = true", Ok(true)),
        // A route server as neighbor: it does not prepend its AS (RFC 7947 §2.2).
        (65002, "enforce_first_as = false", Ok(false)),
        (65001, "", Ok(false)),
        (65001, "enforce_first_as = false", Ok(false)),
        (65001, "enforce_first_as = true", Err("neighbor.enforce_first_as")),
        (65002, "enforce_first_as = \"yes\"", Err("neighbor.enforce_first_as")),
    ];
    for (asn, line, want) in rows {
        let text = format!("{base}[[neighbor]]\naddress = \"127.0.0.2\"\nasn = {asn}\n{line}\n");
        match (Config::parse(&text, "t.toml"), want) {
            (Ok(c), Ok(on)) => assert_eq!(c.enforce_first_as(&c.neighbors[0]), on, "{asn} {line}"),
            (Err(e), Err(field)) => assert_eq!((e.line, e.field.as_str()), (7, field), "{asn} {line}: {e}"),
            (got, _) => panic!("{asn} {line}: {got:?}"),
        }
    }
}

const POLICY: &str = "[global]\nasn = 65000\nrouter_id = \"192.0.2.1\"\n\
    [[prefix_list]]\nname = \"bogons\"\nprefixes = [\"192.0.2.0/24 le 32\", \"10.0.0.0/8 le 32\"]\n\
    [[policy]]\nname = \"upstream-in\"\n\
    [[policy.term]]\nname = \"bogons\"\nmatch.prefix_list = \"bogons\"\nthen = \"reject\"\n\
    [[policy.term]]\nmatch.as_path_regex = \"^65001 \"\nmatch.community = [\"65001:*\"]\n\
    set.local_pref = 200\nset.remove_communities = [\"65001:*\"]\nset.prepend = 2\nthen = \"accept\"\n\
    [[neighbor]]\naddress = \"127.0.0.2\"\nasn = 65001\nimport = [\"upstream-in\", \"all\"]\n";

#[test]
fn policies_compile_and_neighbors_get_their_chains() {
    let c = Config::parse(POLICY, "t.toml").unwrap();
    let (import, export) = c.neighbor_policy(&c.neighbors[0]);
    assert_eq!(import.chain.links.len(), 2);
    assert!(export.chain.is_reject_all(), "eBGP without export: none (RFC 8212)");
    let keel_rib::policy::Link::Policy(p) = &import.chain.links[0] else { panic!("{:?}", import.chain) };
    assert_eq!((p.name.as_str(), p.terms.len(), p.terms[1].name.as_str()), ("upstream-in", 2, "term 2"));
    assert_eq!(p.terms[1].matches.len(), 2);
    assert_eq!(p.terms[1].actions.len(), 3);
    // The fingerprint follows what a policy says, not where it is written.
    let moved = Config::parse(&POLICY.replace("[[policy]]", "\n\n[[policy]]"), "t.toml").unwrap();
    assert_eq!(moved.neighbor_policy(&moved.neighbors[0]).0.fingerprint, import.fingerprint);
    let changed = Config::parse(&POLICY.replace("local_pref = 200", "local_pref = 300"), "t.toml").unwrap();
    assert_ne!(changed.neighbor_policy(&changed.neighbors[0]).0.fingerprint, import.fingerprint);
    // A change in a referenced prefix list changes it too.
    let list = Config::parse(&POLICY.replace("10.0.0.0/8 le 32", "10.0.0.0/8"), "t.toml").unwrap();
    assert_ne!(list.neighbor_policy(&list.neighbors[0]).0.fingerprint, import.fingerprint);
}

#[test]
fn policy_errors_are_located() {
    for (from, to, field, message) in [
        ("import = [\"upstream-in\", \"all\"]", "import = \"nope\"", "neighbor.import", "no [[policy]] named \"nope\""),
        (
            "prefix_list = \"bogons\"",
            "prefix_list = \"martians\"",
            "policy.term.match.prefix_list",
            "no [[prefix_list]]",
        ),
        ("\"^65001 \"", "\"^(65001\"", "policy.term.match.as_path_regex", "bad regular expression"),
        ("then = \"reject\"", "then = \"drop\"", "policy.term.then", "expected \"accept\" or \"reject\""),
        ("10.0.0.0/8 le 32", "10.0.0.0/8 le 40", "prefix_list.prefixes", "lengths must satisfy"),
        ("[\"65001:*\"]", "[\"65001:x\"]", "policy.term.match.community", "not a 16-bit number"),
        ("name = \"upstream-in\"", "name = \"all\"", "policy.name", "reserved"),
    ] {
        assert!(POLICY.contains(from), "{from}");
        let text = POLICY.replace(from, to);
        let line = text[..text.find(to).unwrap()].matches('\n').count() + 1;
        let e = error(&text);
        assert_eq!((e.line, e.field.as_str()), (line, field), "{to}: {e}");
        assert!(e.message.contains(message), "{to}: {e}");
    }
}

/// The keys keeld accepts in one table, as serde lists them when it meets an unknown key:
/// `probe` is a configuration whose last line is that unknown key.
fn accepted_keys(probe: &str) -> BTreeSet<String> {
    let e = error(probe);
    let list = e
        .message
        .split_once("expected one of ")
        .or_else(|| e.message.split_once("expected "))
        .unwrap_or_else(|| panic!("no key list in {e}"))
        .1;
    // serde writes "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
    list.split(", ").flat_map(|k| k.split(" or ")).map(|k| k.trim().trim_matches('`').to_string()).collect()
}

/// docs/configuration.md's tables: each `## \`[table]\`` heading (or `## Top level`) with the
/// keys in the first column of its table, and whether each key's type names a table.
fn documented_tables() -> Vec<(String, BTreeSet<String>, Vec<String>)> {
    let text = include_str!("../../../docs/configuration.md");
    let mut tables: Vec<(String, BTreeSet<String>, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            let name = if h == "Top level" { String::new() } else { h.trim_matches('`').to_string() };
            tables.push((name, BTreeSet::new(), Vec::new()));
        } else if let (Some(row), Some(t)) = (line.strip_prefix("| `"), tables.last_mut()) {
            let cells: Vec<&str> = row.split(" | ").collect();
            assert_eq!(cells.len(), 4, "docs/configuration.md: a row needs key, type, default, meaning: {line}");
            assert!(cells.iter().all(|c| !c.trim().is_empty()), "docs/configuration.md: an empty cell: {line}");
            let key = cells[0].trim_end_matches('`').to_string();
            if cells[1].contains("table") && !cells[1].starts_with("table of") {
                t.2.push(key.clone());
            }
            assert!(t.1.insert(key), "docs/configuration.md: a key twice: {line}");
        }
    }
    tables
}

/// A configuration whose last line is an unknown key in `table` (`[[neighbor]]`,
/// `[neighbor.graceful_restart]`, `[policy.term.match]`; "" for the top level): every
/// enclosing table is opened the way the documentation writes its heading.
fn probe(table: &str, headings: &[String]) -> String {
    let bare = |h: &str| h.trim_matches(|c| c == '[' || c == ']').to_string();
    let path = bare(table);
    let mut text = String::new();
    if !path.is_empty() {
        let parts: Vec<&str> = path.split('.').collect();
        for i in 1..=parts.len() {
            let prefix = parts[..i].join(".");
            let heading =
                headings.iter().find(|h| bare(h) == prefix).unwrap_or_else(|| panic!("no heading for {prefix}"));
            text += &format!("{heading}\n");
        }
    }
    text + "zzz_not_a_key = 1\n"
}

/// docs/configuration.md lists every key of every table keeld reads, and nothing else: each
/// table's keys are compared with the ones the parser accepts, and each key whose value is a
/// table has its own section.
#[test]
fn configuration_reference_lists_every_key() {
    let tables = documented_tables();
    let headings: Vec<String> = tables.iter().map(|t| t.0.clone()).collect();
    for (table, keys, subtables) in &tables {
        let accepted = accepted_keys(&probe(table, &headings));
        assert_eq!(
            keys, &accepted,
            "docs/configuration.md, section {table:?}: documented keys (left) differ from keeld's (right)"
        );
        let bare = table.trim_matches(|c| c == '[' || c == ']');
        for sub in subtables {
            let path = if bare.is_empty() { sub.clone() } else { format!("{bare}.{sub}") };
            assert!(
                headings.iter().any(|h| h.trim_matches(|c| c == '[' || c == ']') == path),
                "docs/configuration.md: {path} is a table but has no section"
            );
        }
    }
    assert!(tables.len() >= 16, "only {} sections read from docs/configuration.md", tables.len());
}

#[test]
fn bfd_settings_and_strict_needs_bfd() {
    let base = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n";
    let c = Config::parse(&format!("{base}[bfd]\nmin_tx_ms = 100\nmultihop = true\n"), "t").unwrap();
    assert_eq!((c.bfd.min_tx(), c.bfd.min_rx(), c.bfd.multiplier(), c.bfd.multihop), (ms(100), ms(300), 3, true));
    let e = error(&format!("{base}[bfd]\nmultiplier = 0\n"));
    assert_eq!((e.line, e.field.as_str()), (5, "bfd.multiplier"));
    let e = error(&format!("{base}[bfd]\nmin_rx_ms = 0\n"));
    assert!(e.message.contains("min_rx_ms"), "{e}");
    let n = "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65002\n";
    let e = error(&format!("{base}{n}bfd_strict = true\n"));
    assert!(e.message.contains("bfd_strict needs bfd"), "{e}");
    let c = Config::parse(&format!("{base}{n}bfd = true\nbfd_strict = true\n"), "t").unwrap();
    assert!(c.neighbors[0].bfd && c.neighbors[0].bfd_strict());
}

#[test]
fn bfd_authentication_keys_resolve_per_neighbor_and_are_checked() {
    let base = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n";
    let n = "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65002\nbfd = true\n";
    let c =
        Config::parse(&format!("{base}[bfd]\nauth = \"keyed-sha1\"\nauth_key_id = 7\npassword = \"s3cret\"\n{n}"), "t")
            .unwrap();
    let a = c.bfd.authentication_for(&c.neighbors[0]).expect("authentication");
    assert_eq!((a.auth, a.key_id, a.password.as_str()), (BfdAuth::KeyedSha1, 7, "s3cret"));
    assert!(!format!("{a:?}").contains("s3cret"), "Debug hides the password");
    // The neighbor overrides key by key; the key id defaults to 1.
    let c = Config::parse(
        &format!("{base}[bfd]\nauth = \"keyed-sha1\"\n{n}bfd_auth = \"simple\"\nbfd_password = \"pw\"\n"),
        "t",
    )
    .unwrap();
    let a = c.bfd.authentication_for(&c.neighbors[0]).expect("authentication");
    assert_eq!((a.auth, a.key_id, a.password.as_str()), (BfdAuth::Simple, 1, "pw"));
    // None: no authentication at all.
    let c = Config::parse(&format!("{base}{n}"), "t").unwrap();
    assert_eq!(c.bfd.authentication_for(&c.neighbors[0]), None);
    // Errors point at the key.
    let e = error(&format!("{base}[bfd]\nauth = \"simple\"\npassword = \"seventeen-octets!\"\n"));
    assert_eq!((e.line, e.field.as_str()), (6, "bfd.password"), "{e}");
    assert!(e.message.contains("17 octets") && e.message.contains("1 to 16"), "{e}");
    let e = error(&format!("{base}[bfd]\nauth = \"keyed-sha1\"\npassword = \"twenty-one-octets-key\"\n"));
    assert!(e.message.contains("21 octets") && e.message.contains("1 to 20"), "{e}");
    let e = error(&format!("{base}[bfd]\nauth = \"keyed-sha1\"\nauth_key_id = 256\npassword = \"k\"\n"));
    assert_eq!((e.line, e.field.as_str()), (6, "bfd.auth_key_id"), "{e}");
    let e = error(&format!("{base}[bfd]\nauth = \"keyed-sha1\"\n{n}"));
    assert_eq!(e.field.as_str(), "bfd.auth", "{e}");
    assert!(e.message.contains("needs a password"), "{e}");
    let e = error(&format!("{base}[bfd]\nauth = \"none\"\npassword = \"k\"\n"));
    assert!(e.message.contains("needs auth"), "{e}");
    let e = error(&format!("{base}[bfd]\nauth = \"keyed-md5\"\n"));
    assert_eq!(e.line, 5, "{e}");
    let plain = "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65002\n";
    let e = error(&format!("{base}{plain}bfd_password = \"k\"\n"));
    assert!(e.message.contains("bfd_password needs bfd = true"), "{e}");
    let e = error(&format!("{base}{n}bfd_auth = \"meticulous-keyed-sha1\"\nbfd_password = \"\"\n"));
    assert_eq!(e.field.as_str(), "neighbor.bfd_password", "{e}");
}

fn ms(n: u64) -> std::time::Duration {
    std::time::Duration::from_millis(n)
}
