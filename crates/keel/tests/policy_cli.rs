//! `keel show policy` and `keel test-policy` on a configuration file: what a policy does to
//! one route, for debugging before a reload.

use std::process::Command;

const CONFIG: &str = r#"
[global]
asn = 65000
router_id = "192.0.2.1"

[[prefix_list]]
name = "bogons"
prefixes = ["192.0.2.0/24 le 32", "10.0.0.0/8 le 32"]

[[policy]]
name = "upstream-in"

[[policy.term]]
name = "bogons"
match.prefix_list = "bogons"
then = "reject"

[[policy.term]]
name = "invalid"
match.rpki = "invalid"
then = "reject"

[[policy.term]]
name = "customers"
match.as_path_regex = "^65001( |$)"
set.local_pref = 200
set.add_communities = ["65000:100"]
set.remove_communities = ["65001:*"]

[[policy.term]]
name = "rest"
set.prepend = 2
then = "accept"
"#;

fn keel(args: &[&str], config: &std::path::Path) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_keel")).args(args).arg("--config").arg(config).output().expect("run keel");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn config() -> (tempdir::Dir, std::path::PathBuf) {
    let dir = tempdir::Dir::new();
    let path = dir.0.join("keel.toml");
    std::fs::write(&path, CONFIG).expect("write config");
    (dir, path)
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let d = std::env::temp_dir().join(format!(
                "keel-policy-cli-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&d).expect("temp dir");
            Dir(d)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn test_policy_shows_verdict_terms_and_result() {
    let (_dir, path) = config();
    let json = |args: &[&str]| {
        let (code, out, err) = keel(args, &path);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        (code, v)
    };
    let (code, v) = json(&["test-policy", "upstream-in", "192.0.2.128/25", "--json"]);
    assert_eq!(
        (code, v["verdict"].as_str(), v["matched_terms"][0].as_str()),
        (1, Some("reject"), Some("upstream-in/bogons"))
    );
    assert!(v["result"].is_null());
    let (code, v) = json(&[
        "test-policy",
        "upstream-in",
        "198.51.100.0/24",
        "--as-path",
        "65001,65100",
        "--communities",
        "65001:7,65002:8",
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["matched_terms"], serde_json::json!(["upstream-in/customers", "upstream-in/rest"]));
    let r = &v["result"];
    assert_eq!(r["local_pref"], 200);
    assert_eq!(r["communities"], serde_json::json!(["65002:8", "65000:100"]));
    assert_eq!(r["as_path"], serde_json::json!([65000, 65000, 65001, 65100]));
    assert_eq!(v["route"]["as_path"], serde_json::json!([65001, 65100]), "the route before the policy");
    let (code, v) = json(&["test-policy", "upstream-in", "198.51.100.0/24", "--rpki", "invalid", "--json"]);
    assert_eq!((code, v["matched_terms"][0].as_str()), (1, Some("upstream-in/invalid")));
    // Text output and errors.
    let (code, out, _) = keel(&["test-policy", "upstream-in", "198.51.100.0/24"], &path);
    assert_eq!(code, 0);
    assert!(out.contains("upstream-in 198.51.100.0/24: accept"), "{out}");
    let (code, _, err) = keel(&["test-policy", "nope", "198.51.100.0/24"], &path);
    assert_eq!(code, 2);
    assert!(err.contains("no policy named \"nope\""), "{err}");
}

#[test]
fn show_policy_lists_terms() {
    let (_dir, path) = config();
    let (code, out, err) = keel(&["show", "policy", "upstream-in"], &path);
    assert_eq!(code, 0, "{err}");
    for line in [
        "policy upstream-in",
        "  term bogons",
        "    match prefix in a list of 2 entries",
        "    then  reject",
        "    match as_path_regex \"^65001( |$)\"",
        "    set   local_pref = 200",
        "    set   remove communities 65001:*",
        "    set   prepend own AS x2",
        "    then  next term",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing in:\n{out}");
    }
    let (code, out, _) = keel(&["show", "policy", "--json"], &path);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v[0]["terms"].as_array().map(Vec::len), Some(4));
}
