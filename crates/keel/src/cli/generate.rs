//! `keel completions SHELL [PROGRAM]` prints a shell completion script; `keel manpages DIR`
//! (hidden: for packaging) writes the man pages. Both come from the clap definitions, keel's
//! ([`super::Cli`]) and keeld's ([`super::keeld::KeeldArgs`]), so they never drift from what
//! the binaries accept and nothing generated is checked in.
//!
//! Why a subcommand rather than a build script or an extra binary: the package is built from
//! the binaries it ships, so `scripts/package-deb` runs the `keel` it just built; a build
//! script would run clap at every build and write outside `OUT_DIR`, and an extra `[[bin]]` or
//! example is one more link for the same few lines. The cost is clap_mangen in `keel` (tens of
//! kilobytes).

use super::keeld::KeeldArgs;
use super::Cli;
use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `keel completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    pub shell: Shell,
    /// The program the script completes.
    #[arg(value_enum, default_value_t = Program::Keel)]
    pub program: Program,
}

/// `keel manpages`.
#[derive(Debug, Clone, Args)]
pub struct ManpagesArgs {
    /// Directory to write keel.1, one keel-SUBCOMMAND.1 per subcommand and keeld.8 into
    /// (created when missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// The two programs keel ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Program {
    /// The command line tool.
    Keel,
    /// The daemon.
    Keeld,
}

impl Program {
    /// The program's clap command, as its binary parses its arguments.
    pub fn command(self) -> clap::Command {
        match self {
            Program::Keel => Cli::command(),
            Program::Keeld => KeeldArgs::command(),
        }
    }

    /// The binary's name.
    pub fn name(self) -> &'static str {
        match self {
            Program::Keel => "keel",
            Program::Keeld => "keeld",
        }
    }
}

/// The completion script of `program` for `shell`.
pub fn completions(shell: Shell, program: Program) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut program.command(), program.name(), &mut script);
    script
}

/// Writes the man pages into `dir`: keel(1) with a page per subcommand (keel(1) names them as
/// keel-SUBCOMMAND(1)), and keeld(8). Returns the files written, sorted.
pub fn manpages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Program::Keel.command(), dir)?;
    clap_mangen::Man::new(Program::Keeld.command()).section("8").generate_to(dir)?;
    let mut written: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name == "keeld.8" || (name.starts_with("keel") && name.ends_with(".1"))
        })
        .collect();
    written.sort();
    Ok(written)
}

/// Runs `keel completions`: the script on stdout.
pub fn run_completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(&completions(args.shell, args.program))?;
    out.flush()?;
    Ok(())
}

/// Runs `keel manpages`: the pages into the directory, their number on stdout.
pub fn run_manpages(args: &ManpagesArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let written = manpages(&args.dir).with_context(|| format!("cannot write man pages to {}", args.dir.display()))?;
    println!("{} man pages written to {}", written.len(), args.dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shell's script for keel names keel's subcommands; keeld's names its options.
    #[test]
    fn completions_name_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
            let keel = String::from_utf8(completions(shell, Program::Keel)).expect("utf-8");
            for word in ["keel", "show", "check", "reload", "restart", "stop", "completions", "neighbors"] {
                assert!(keel.contains(word), "{shell:?} script for keel without {word:?}");
            }
            let keeld = String::from_utf8(completions(shell, Program::Keeld)).expect("utf-8");
            for word in ["keeld", "check-config", "log-json"] {
                assert!(keeld.contains(word), "{shell:?} script for keeld without {word:?}");
            }
        }
    }

    /// keel.1 and keeld.8 are written, with a page for each subcommand keel.1 refers to.
    #[test]
    fn manpages_writes_keel_1_and_keeld_8() {
        let dir = std::env::temp_dir().join(format!("keel-manpages-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let written = manpages(&dir).expect("man pages");
        let names: Vec<String> = written.iter().filter_map(|p| p.file_name()?.to_str().map(str::to_string)).collect();
        for page in ["keel.1", "keeld.8", "keel-show.1", "keel-show-neighbors.1", "keel-completions.1"] {
            assert!(names.iter().any(|n| n == page), "{page} not in {names:?}");
        }
        assert!(!names.iter().any(|n| n == "keel-manpages.1"), "the hidden subcommand has no page: {names:?}");
        let keel = std::fs::read_to_string(dir.join("keel.1")).expect("keel.1");
        assert!(keel.starts_with(".ie") || keel.contains(".TH keel 1"), "{keel}");
        // Every keel-SUBCOMMAND(1) that keel.1 names is there.
        for reference in keel.split_whitespace().filter(|w| w.starts_with("keel\\-") && w.ends_with("(1)")) {
            let file = reference.replace("\\-", "-").replace("(1)", ".1");
            assert!(names.contains(&file), "keel.1 names {reference}, not written");
        }
        let keeld = std::fs::read_to_string(dir.join("keeld.8")).expect("keeld.8");
        assert!(keeld.contains(".TH keeld 8") && keeld.contains("check\\-config"), "{keeld}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
