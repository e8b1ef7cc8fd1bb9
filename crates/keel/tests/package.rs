//! The Debian package (issue 18): `scripts/package-deb` packs the keeld and keel this test run
//! built (`--binaries`: no release build in the suite, and `--fast` compression; the release
//! package differs only in the binaries' optimisation), and the package holds what the first
//! hour needs. The package is read with dpkg-deb and extracted into a temporary directory,
//! never installed: that would create a user and a service on the machine running the tests.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Runs `program args`, returning its stdout; panics with its stderr when it fails.
fn run(program: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the package must hold, as `dpkg-deb -c` lists it.
const FILES: &[&str] = &[
    "./usr/sbin/keeld",
    "./usr/bin/keel",
    "./usr/lib/systemd/system/keeld.service",
    "./usr/sbin/keel-bfdd",
    "./usr/lib/systemd/system/keel-bfdd.service",
    "./etc/keel/keel.toml",
    "./usr/share/man/man8/keeld.8.gz",
    "./usr/share/man/man1/keel.1.gz",
    "./usr/share/man/man1/keel-show-neighbors.1.gz",
    "./usr/share/bash-completion/completions/keel",
    "./usr/share/bash-completion/completions/keeld",
    "./usr/share/zsh/vendor-completions/_keel",
    "./usr/share/fish/vendor_completions.d/keel.fish",
    "./usr/share/doc/keel/README.md",
    "./usr/share/doc/keel/CHANGELOG.md",
    "./usr/share/doc/keel/copyright",
];

#[test]
fn the_package_holds_binaries_unit_config_man_pages_completions_and_docs() {
    let dir = test_dir("package");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bins = keeld_bin().parent().expect("keeld's directory").to_path_buf();
    // The target directory this run builds in (TARGET/debug/keeld): cargo-deb reads its
    // metadata there, and the staged binaries go beside the build's.
    let target = bins.parent().expect("the target directory").to_path_buf();
    let started = Instant::now();
    let out = Command::new(repo.join("scripts/package-deb"))
        .arg("--binaries")
        .arg(&bins)
        .arg("--fast")
        .arg("--output")
        .arg(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("scripts/package-deb");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/package-deb: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("scripts/package-deb --binaries: {:.1} s", started.elapsed().as_secs_f64());
    let deb = PathBuf::from(stdout.lines().last().expect("the .deb's path").trim());
    let name = deb.file_name().and_then(|n| n.to_str()).unwrap_or("");
    assert_eq!(name, format!("keel_{}_amd64.deb", env!("CARGO_PKG_VERSION")), "{}", deb.display());

    let contents = run("dpkg-deb", &["-c".as_ref(), deb.as_os_str()]);
    let missing: Vec<&&str> = FILES.iter().filter(|f| !contents.lines().any(|l| l.ends_with(*f))).collect();
    assert!(missing.is_empty(), "missing from the package: {missing:?}\n{contents}");
    assert!(!contents.contains("/usr/lib/debug"), "debug symbols shipped: {contents}");

    // /etc/keel/keel.toml is a conffile: an upgrade keeps the operator's edits.
    let conffiles = run("dpkg-deb", &["-I".as_ref(), deb.as_os_str(), "conffiles".as_ref()]);
    assert_eq!(conffiles.trim(), "/etc/keel/keel.toml");
    let control = run("dpkg-deb", &["-f".as_ref(), deb.as_os_str()]);
    assert!(control.contains("Package: keel") && control.contains("adduser"), "{control}");
    // The maintainer scripts create the user before the systemd part starts keeld.
    let postinst = run("dpkg-deb", &["-I".as_ref(), deb.as_os_str(), "postinst".as_ref()]);
    let user = postinst.find("adduser --quiet --system --group").expect("postinst creates the user");
    let start = postinst.find("deb-systemd-invoke").expect("postinst starts keeld.service");
    assert!(user < start, "{postinst}");
    for script in ["postinst", "postrm", "prerm"] {
        let path = dir.join(script);
        std::fs::write(&path, run("dpkg-deb", &["-I".as_ref(), deb.as_os_str(), script.as_ref()])).expect("script");
        run("sh", &["-n".as_ref(), path.as_os_str()]);
    }

    let root = dir.join("root");
    run("dpkg-deb", &["-x".as_ref(), deb.as_os_str(), root.as_os_str()]);
    for bin in ["usr/sbin/keeld", "usr/bin/keel"] {
        let sections = run("readelf", &["-S".as_ref(), root.join(bin).as_os_str()]);
        assert!(!sections.contains(".debug_info") && !sections.contains(".symtab"), "{bin} is not stripped");
    }

    // The shipped configuration is valid as it is, for the keeld shipped with it.
    let config = root.join("etc/keel/keel.toml");
    let out = Command::new(root.join("usr/sbin/keeld")).arg("--check-config").arg(&config).output().expect("keeld");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("0 neighbor(s)"), "out of the box, no neighbor: {text}");
    let toml = std::fs::read_to_string(&config).expect("keel.toml");
    assert!(toml.lines().any(|l| l.trim() == "enabled = false"), "the FIB is off out of the box");

    // The unit: user keel, the paths the package installs, only the capabilities keeld needs,
    // documentation that is in the package.
    let unit = std::fs::read_to_string(root.join("usr/lib/systemd/system/keeld.service")).expect("unit");
    let values = |key: &str| -> Vec<String> {
        unit.lines().filter_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(str::to_string).collect()
    };
    assert_eq!(values("User"), ["keel"]);
    assert_eq!(values("ExecStart"), ["/usr/sbin/keeld --config /etc/keel/keel.toml"]);
    assert_eq!(values("RuntimeDirectory"), ["keel"]);
    assert_eq!(values("StateDirectory"), ["keel"]);
    for key in ["AmbientCapabilities", "CapabilityBoundingSet"] {
        assert_eq!(values(key), ["CAP_NET_BIND_SERVICE CAP_NET_ADMIN"], "{key}");
    }
    for doc in values("Documentation").iter().flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    {
        let file = match doc.strip_prefix("man:") {
            Some(page) => {
                let (name, section) = page.trim_end_matches(')').split_once('(').expect("man:NAME(SECTION)");
                format!("usr/share/man/man{section}/{name}.{section}.gz")
            }
            None => doc.strip_prefix("file:///").expect("man: or file:").to_string(),
        };
        assert!(root.join(&file).exists(), "Documentation={doc}: {file} is not in the package");
    }

    // Man pages and completions came from the binaries' clap definitions.
    let keeld_8 = run("zcat", &[root.join("usr/share/man/man8/keeld.8.gz").as_os_str()]);
    assert!(keeld_8.contains(".TH keeld 8") && keeld_8.contains("check\\-config"), "{keeld_8}");
    let bash = std::fs::read_to_string(root.join("usr/share/bash-completion/completions/keel")).expect("bash");
    assert!(bash.contains("_keel()") && bash.contains("neighbors"), "{bash}");

    postinst_upgrades_a_running_keeld_in_place(&deb, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The package's own postinst (cargo-deb's systemd part included), run with stand-ins for
/// systemctl, deb-systemd-*, keel, adduser, getent and chown that record their arguments, in
/// a mount namespace whose /run says systemd runs (nothing on the machine is touched):
/// - an upgrade with keeld running runs `keel upgrade --binary /usr/sbin/keeld` and nothing
///   else: no stop, no restart (issue 21, "the package upgrades hitlessly");
/// - when keel upgrade refuses, keeld is restarted gracefully instead;
/// - a first install, or an upgrade with keeld stopped, runs no keel upgrade;
/// - prerm stops keeld only on removal, never on upgrade.
fn postinst_upgrades_a_running_keeld_in_place(deb: &Path, dir: &Path) {
    let ctl = dir.join("control");
    run("dpkg-deb", &["-e".as_ref(), deb.as_os_str(), ctl.as_os_str()]);
    let stubs = dir.join("stubs");
    std::fs::create_dir_all(&stubs).expect("stubs");
    let log = dir.join("stub.log");
    for (name, body) in [
        ("systemctl", r#"[ "$1" = is-active ] && exit "${STUB_ACTIVE:-0}"; exit 0"#),
        ("keel", r#"exit "${STUB_KEEL:-0}""#),
        ("deb-systemd-invoke", "exit 0"),
        ("deb-systemd-helper", "exit 0"),
        ("adduser", "exit 0"),
        ("getent", "exit 0"),
        ("chown", "exit 0"),
    ] {
        let stub = stubs.join(name);
        std::fs::write(&stub, format!("#!/bin/sh\necho \"{name} $*\" >> \"$STUB_LOG\"\n{body}\n")).expect("stub");
        std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    }
    let script = |name: &str, args: &str, env: &[(&str, &str)]| -> (bool, Vec<String>) {
        let _ = std::fs::remove_file(&log);
        let out = Command::new("unshare")
            .args(["--mount", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec sh {} {args}",
                ctl.join(name).display()
            ))
            .env("PATH", format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", stubs.display()))
            .env("STUB_LOG", &log)
            .envs(env.iter().copied())
            .output()
            .expect("unshare");
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        let calls: Vec<String> =
            calls.lines().filter(|l| !l.contains("deb-systemd-helper")).map(String::from).collect();
        (out.status.success(), calls)
    };
    let upgrade = "keel upgrade --binary /usr/sbin/keeld".to_string();
    let (ok, calls) = script("postinst", "configure 0.0.9", &[]);
    assert!(ok, "{calls:?}");
    assert!(calls.contains(&upgrade), "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("restart") || c.contains("stop")), "no restart: {calls:?}");
    let (ok, calls) = script("postinst", "configure 0.0.9", &[("STUB_KEEL", "1")]);
    assert!(ok, "{calls:?}");
    assert!(calls.contains(&"deb-systemd-invoke restart keeld.service".to_string()), "{calls:?}");
    for (args, env) in [("configure", &[][..]), ("configure 0.0.9", &[("STUB_ACTIVE", "3")][..])] {
        let (ok, calls) = script("postinst", args, env);
        assert!(ok && !calls.contains(&upgrade), "postinst {args} {env:?}: {calls:?}");
    }
    let (_, calls) = script("prerm", "upgrade 0.1.0", &[]);
    assert!(!calls.iter().any(|c| c.contains("stop")), "prerm upgrade: {calls:?}");
    let (_, calls) = script("prerm", "remove", &[]);
    assert!(calls.contains(&"deb-systemd-invoke stop keeld.service".to_string()), "prerm remove: {calls:?}");
}

/// `keel completions SHELL` prints a script naming keel's subcommands.
#[test]
fn keel_completions_prints_a_script_for_each_shell() {
    for (shell, marker) in [("bash", "complete -F _keel"), ("zsh", "#compdef keel"), ("fish", "complete -c keel")] {
        let out = Command::new(keel_bin()).args(["completions", shell]).output().expect("keel completions");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(script.contains(marker), "{shell} script without {marker:?}");
        for sub in ["show", "check", "reload", "restart", "stop", "completions"] {
            assert!(script.contains(sub), "{shell} script without {sub}");
        }
    }
    let out = Command::new(keel_bin()).args(["completions", "bash", "keeld"]).output().expect("keel completions");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--check-config"));
}

/// `keel manpages DIR` writes keel.1 and keeld.8 (and a page per subcommand).
#[test]
fn keel_manpages_writes_keel_1_and_keeld_8() {
    let dir = test_dir("manpages");
    let out = Command::new(keel_bin()).arg("manpages").arg(&dir).output().expect("keel manpages");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for page in ["keel.1", "keeld.8", "keel-check.1"] {
        assert!(Path::new(&dir.join(page)).exists(), "{page} not written");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
