//! `keel`: the command line tool (`keel decode`, more subcommands to come).

fn main() -> std::process::ExitCode {
    keel::cli::main()
}
