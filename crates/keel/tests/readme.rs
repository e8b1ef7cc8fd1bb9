//! Every command in README.md's `sh` code blocks is run, so the README cannot drift from the
//! CLI. The commands are read from README.md itself and each must be listed in [`COMMANDS`]
//! (and nothing else may be): a new command in the README fails this test until it is run
//! here, or an entry says which test runs it and why not here.
//!
//! The commands run as written, in one `bash` session (so `export` and `&` carry over, as in
//! a reader's shell), from the repository's root, with three mappings: `./target/release/` is
//! the directory of the binaries this test run built (the README's quick start builds release
//! binaries; these are the same sources), and `/etc/keel/keel.toml` is `contrib/keel.toml`,
//! the file the package installs there, and `~` (`HOME`) is a directory of the test's own. They run in three phases: what starts the first-peer
//! walkthrough (keeld, BIRD and FRR on 127.0.0.7-.9), what needs a running keeld, and what
//! stops it all; within a phase, in the README's order.

use crate::common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// How one README command is tested.
enum How {
    /// Run in the session: exit status 0, and `check` holds on its output (the command is run
    /// again until it does, for up to [`SETTLE`]: sessions take a few seconds to come up).
    Run { phase: u8, check: fn(&str) -> bool },
    /// Run in the session: its exit status is one of these (e.g. `keel check`: 0 without FAIL,
    /// 1 with one; 2, "could not run", is never allowed), and `check` holds on its output.
    Exits { phase: u8, codes: &'static [i32], check: fn(&str) -> bool },
    /// Not run here: which test runs it (or what it is) and why not here.
    Elsewhere(&'static str),
}

const SETTLE: Duration = Duration::from_secs(60);

fn any(_: &str) -> bool {
    true
}

fn is_json(out: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(out.trim()).is_ok()
}

/// Every command of README.md's `sh` blocks (its trailing comment left out) and how it is
/// tested.
const COMMANDS: &[(&str, How)] = &[
    // Quick start.
    (
        "cargo build --release --locked && ./target/release/keel lab",
        How::Elsewhere(
            "lab:: runs `keel lab` (fewer routes: the defaults' 120k routes take minutes in a debug \
             build); the package test builds the release binaries",
        ),
    ),
    ("./scripts/test", How::Elsewhere("CI (.ci/run) runs it: it is this test suite")),
    // Install.
    (
        "cargo install --path crates/keel --locked",
        How::Elsewhere("cargo's own install of the binaries the suite builds; a second release build costs minutes"),
    ),
    ("scripts/package-deb", How::Elsewhere("package:: builds the package with it")),
    (
        "apt install ./target/debian/keel_*.deb",
        How::Elsewhere(
            "not installed on the test machine (it would add a user and a service); package:: extracts the \
             package and checks its files",
        ),
    ),
    (
        "mkdir -p ~/.local/share/bash-completion/completions ~/.zfunc ~/.config/fish/completions",
        How::Run { phase: 1, check: any },
    ),
    ("keel completions bash > ~/.local/share/bash-completion/completions/keel", How::Run { phase: 1, check: any }),
    ("keel completions zsh > ~/.zfunc/_keel", How::Run { phase: 1, check: any }),
    ("keel completions fish > ~/.config/fish/completions/keel.fish", How::Run { phase: 1, check: any }),
    // First peers.
    ("apt install bird2 frr", How::Run { phase: 1, check: any }),
    (
        "mkdir -p /tmp/keel-first-peer && export KEEL_API=/tmp/keel-first-peer/keel.sock",
        How::Run { phase: 1, check: any },
    ),
    (
        "./target/release/keeld --config examples/first-peer/keel.toml 2>/tmp/keel-first-peer/keeld.log &",
        How::Run { phase: 1, check: any },
    ),
    (
        "bird -c examples/first-peer/bird.conf -s /tmp/keel-first-peer/bird.ctl -P /tmp/keel-first-peer/bird.pid",
        How::Run { phase: 1, check: any },
    ),
    ("install -d -o frr -g frr /tmp/keel-first-peer/frr", How::Run { phase: 1, check: any }),
    (
        "/usr/lib/frr/bgpd -Z -d -l 127.0.0.9 -A 127.0.0.1 -P 0 -f examples/first-peer/bgpd.conf -i \
         /tmp/keel-first-peer/frr/bgpd.pid --vty_socket /tmp/keel-first-peer/frr",
        How::Run { phase: 1, check: any },
    ),
    (
        "./target/release/keel show neighbors",
        How::Run { phase: 2, check: |o| o.lines().filter(|l| l.contains(" established ")).count() == 2 },
    ),
    ("./target/release/keel show routes", How::Run { phase: 2, check: |o| o.contains("3 route(s)") }),
    (
        "./target/release/keel show neighbor 127.0.0.8",
        How::Run { phase: 2, check: |o| o.contains("established") && o.contains("Import/export") },
    ),
    (
        "birdc -s /tmp/keel-first-peer/bird.ctl show route",
        How::Run { phase: 2, check: |o| o.contains("198.51.100.0/24") && o.contains("192.0.2.128/25") },
    ),
    (
        "vtysh --vty_socket /tmp/keel-first-peer/frr -d bgpd -c 'show bgp ipv4 unicast'",
        How::Run { phase: 2, check: |o| o.contains("198.51.100.0/24") && o.contains("203.0.113.0/24") },
    ),
    ("./target/release/keel restart", How::Run { phase: 2, check: any }),
    ("./target/release/keel stop", How::Run { phase: 3, check: any }),
    ("birdc -s /tmp/keel-first-peer/bird.ctl down", How::Run { phase: 3, check: any }),
    ("kill \"$(cat /tmp/keel-first-peer/frr/bgpd.pid)\"", How::Run { phase: 3, check: any }),
    // RPKI: the walkthrough's keeld has no cache, so no RPKI column and every "rpki" null
    // (interop::rpki runs them with StayRTR).
    ("keel show routes", How::Run { phase: 2, check: |o| !o.contains("RPKI") && o.contains("3 route(s)") }),
    (
        "keel show routes --json",
        How::Run {
            phase: 2,
            check: |o| {
                serde_json::from_str::<serde_json::Value>(o.trim()).is_ok_and(|v| {
                    v.as_array()
                        .is_some_and(|routes| routes.len() == 3 && routes.iter().all(|r| r.get("rpki").is_some()))
                })
            },
        },
    ),
    ("keel show rpki", How::Run { phase: 2, check: |o| o.contains("no RPKI cache configured") }),
    (
        "keel show rpki --json",
        How::Run {
            phase: 2,
            check: |o| {
                serde_json::from_str::<serde_json::Value>(o.trim())
                    .is_ok_and(|v| v["caches"].as_array().is_some_and(Vec::is_empty) && v["vrps"].is_null())
            },
        },
    ),
    // Readiness audit.
    (
        "keel check --config /etc/keel/keel.toml",
        How::Exits { phase: 2, codes: &[0, 1], check: |o| o.contains("gr-disabled") },
    ),
    ("keel check", How::Exits { phase: 2, codes: &[0, 1], check: |o| o.contains("restart-time-short") }),
    ("keel check --live", How::Exits { phase: 2, codes: &[0, 1], check: |o| o.contains("restart-verdict") }),
    ("keel check --config /etc/keel/keel.toml --live --json", How::Exits { phase: 2, codes: &[0, 1], check: is_json }),
    // keel decode (an indented block in "What works today").
    (
        "cargo run --bin keel -- decode 'ffffffffffffffffffffffffffffffff 0017 02 0000 0000'",
        How::Run { phase: 2, check: |o| o.contains("\"end_of_rib\"") },
    ),
    // Fuzzing.
    (
        "cargo install cargo-fuzz",
        How::Elsewhere("fuzz/README.md: cargo-fuzz's instrumented builds take 8 minutes and more"),
    ),
    (
        "cargo fuzz run update -s none -- -max_total_time=60",
        How::Elsewhere("libFuzzer is not in the test command; session_fuzz runs the session target's corpus"),
    ),
    (
        "RUSTC_BOOTSTRAP=1 cargo fuzz run session corpus/session seeds/session",
        How::Elsewhere(
            "libFuzzer is not in the test command; session_fuzz runs the same harness over a bounded corpus",
        ),
    ),
    ("cargo fuzz list", How::Elsewhere("cargo-fuzz is not installed by the test command")),
    // Restart rehearsal.
    ("cargo build --release --locked", How::Elsewhere("the package test builds the release binaries")),
    ("./target/release/keel lab", How::Elsewhere("lab:: runs `keel lab` with fewer routes (minutes in a debug build)")),
    (
        "./target/release/keel lab --routes 5000 --scenarios restart,crash --json",
        How::Run { phase: 2, check: |o| lab_verdict(o, 4) },
    ),
];

/// `keel lab --json`'s verdict is pass with `runs` scenario runs, every one as expected.
fn lab_verdict(out: &str, runs: usize) -> bool {
    serde_json::from_str::<serde_json::Value>(out.trim()).is_ok_and(|v| {
        v["verdict"] == "pass"
            && v["scenarios"].as_array().is_some_and(|s| s.len() == runs && s.iter().all(|r| r["as_expected"] == true))
    })
}

/// The commands of README.md's `sh` code blocks (indented ones too), in order: continuation
/// lines joined, comment lines and trailing comments left out.
fn readme_commands() -> Vec<String> {
    let text = include_str!("../../../README.md");
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_block = trimmed == "```sh";
            continue;
        }
        if !in_block || trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let code = strip_comment(trimmed);
        if let Some(head) = code.strip_suffix('\\') {
            pending += head;
            continue;
        }
        commands.push(format!("{pending}{code}").split_whitespace().collect::<Vec<_>>().join(" "));
        pending.clear();
    }
    commands
}

/// A shell line without its trailing comment: `#` after a blank, outside quotes.
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double, mut prev_blank) = (false, false, true);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_blank => return line[..i].trim_end(),
            _ => {}
        }
        prev_blank = c.is_whitespace();
    }
    line.trim_end()
}

fn normalized(command: &str) -> String {
    command.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_readme_command_is_listed() {
    let readme = readme_commands();
    assert!(readme.len() >= 20, "only {} commands read from README.md", readme.len());
    for c in &readme {
        assert!(
            COMMANDS.iter().any(|(listed, _)| normalized(listed) == *c),
            "README.md shows `{c}`, which no test runs: add it to readme::COMMANDS"
        );
    }
    for (listed, how) in COMMANDS {
        assert!(
            readme.contains(&normalized(listed)),
            "readme::COMMANDS lists `{listed}`, which README.md no longer shows"
        );
        if let How::Elsewhere(why) = how {
            assert!(why.len() > 20, "`{listed}`: say which test runs it, or why none does");
        }
    }
}

/// A `bash` that reads commands from a pipe, so that a command's `export` and `&` stay for the
/// next one; each command's output is read up to a marker line with its exit status.
struct Session {
    bash: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Session {
    fn start(root: &Path, bin: &Path, home: &Path, stderr: &Path) -> Session {
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let mut bash = Command::new("bash")
            .args(["--noprofile", "--norc", "-s"])
            .current_dir(root)
            .env("PATH", path)
            .env("HOME", home)
            .env_remove("KEEL_API")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr).expect("stderr file"))
            .spawn()
            .expect("bash");
        let stdin = bash.stdin.take().expect("bash stdin");
        let stdout = bash.stdout.take().expect("bash stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Session { bash, stdin, lines }
    }

    /// Runs `command`: (exit status, output).
    fn run(&mut self, command: &str) -> (i32, String) {
        const MARK: &str = "__readme_exit_status=";
        writeln!(self.stdin, "{command} </dev/null\nprintf '\\n{MARK}%d\\n' $?").expect("write to bash");
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut out = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => match line.strip_prefix(MARK) {
                    Some(code) => return (code.parse().unwrap_or(-1), out.trim_end().to_string()),
                    None => out += &format!("{line}\n"),
                },
                Err(_) => panic!("`{command}` did not finish in 300 s; output so far:\n{out}"),
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.bash.kill();
        let _ = self.bash.wait();
    }
}

/// The walkthrough's processes, ended by their pid files should the test stop half-way.
fn stop_leftovers(dir: &Path) {
    for file in ["keel/keeld.lock", "bird.pid", "frr/bgpd.pid"] {
        let pid = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

struct Leftovers(PathBuf);

impl Drop for Leftovers {
    fn drop(&mut self) {
        stop_leftovers(&self.0);
    }
}

#[test]
fn readme_commands_run_as_written() {
    preflight();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = keel_bin().parent().expect("keel's directory").to_path_buf();
    let walkthrough = PathBuf::from("/tmp/keel-first-peer");
    stop_leftovers(&walkthrough);
    let _ = std::fs::remove_dir_all(&walkthrough);
    let _cleanup = Leftovers(walkthrough.clone());
    let dir = test_dir("readme");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut session = Session::start(&root, &bin, &home, &dir.join("bash.stderr"));
    let readme = readme_commands();
    let mut steps: Vec<(u8, usize, &str, &How)> = COMMANDS
        .iter()
        .filter_map(|(command, how)| {
            let phase = match how {
                How::Run { phase, .. } | How::Exits { phase, .. } => *phase,
                How::Elsewhere(_) => return None,
            };
            let order = readme.iter().position(|c| *c == normalized(command)).unwrap_or(usize::MAX);
            Some((phase, order, *command, how))
        })
        .collect();
    steps.sort_by_key(|s| (s.0, s.1));
    for (_, _, command, how) in steps {
        let shell = normalized(command)
            .replace("./target/release/", &format!("{}/", bin.display()))
            .replace("cargo run --bin keel --", &bin.join("keel").display().to_string())
            .replace("/etc/keel/keel.toml", "contrib/keel.toml");
        let (codes, check): (&[i32], fn(&str) -> bool) = match how {
            How::Run { check, .. } => (&[0], *check),
            How::Exits { codes, check, .. } => (codes, *check),
            How::Elsewhere(_) => continue,
        };
        let started = Instant::now();
        loop {
            let (code, out) = session.run(&shell);
            if codes.contains(&code) && check(&out) {
                eprintln!("ok ({:.1} s): {command}", started.elapsed().as_secs_f64());
                break;
            }
            if started.elapsed() > SETTLE {
                let stderr = std::fs::read_to_string(dir.join("bash.stderr")).unwrap_or_default();
                let keeld = std::fs::read_to_string(walkthrough.join("keeld.log")).unwrap_or_default();
                panic!(
                    "README command `{command}` (run as `{shell}`): exit {code}, output:\n{out}\nstderr:\n{stderr}\n\
                     keeld's log:\n{keeld}"
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    // The completion scripts the README's commands wrote where each shell reads them.
    for file in [".local/share/bash-completion/completions/keel", ".zfunc/_keel", ".config/fish/completions/keel.fish"]
    {
        let script = std::fs::read_to_string(home.join(file)).unwrap_or_default();
        assert!(script.contains("keel") && script.contains("lab"), "~/{file}:\n{script}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README's example configuration (the `toml` block that starts with
/// `# /etc/keel/keel.toml`) passes `keeld --check-config`, and `keel check` finds nothing to
/// warn about but the restart nobody has measured yet. Its `api_group = "keel"` is read as
/// `"root"`: the group `keel` exists where the package is installed, not on the test machine.
#[test]
fn readme_example_configuration_is_valid_and_checks_clean() {
    let text = include_str!("../../../README.md");
    let start = text.find("```toml\n# /etc/keel/keel.toml").expect("README's example configuration");
    let body = &text[start + "```toml\n".len()..];
    let example = &body[..body.find("```").expect("end of the example")];
    assert!(example.contains("api_group = \"keel\""), "the mapping below is stale:\n{example}");
    let dir = test_dir("readme-example");
    let file = dir.join("keel.toml");
    std::fs::write(&file, example.replace("api_group = \"keel\"", "api_group = \"root\"")).unwrap();
    let out = Command::new(keeld_bin()).arg("--check-config").arg(&file).output().expect("keeld");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(keel_bin()).args(["check", "--json", "--config"]).arg(&file).output().expect("keel");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("keel check --json");
    let not_passed: Vec<&serde_json::Value> =
        report["findings"].as_array().into_iter().flatten().filter(|f| f["level"] != "PASS").collect();
    assert!(
        not_passed.iter().all(|f| f["id"] == "restart-time-short" && f["level"] == "WARN"),
        "keel check on the README's example: {not_passed:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
