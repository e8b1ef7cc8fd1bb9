//! keel-bfdd: keel's BFD sessions, in a process that outlives keeld (crate keel-bfdd).

fn main() -> std::process::ExitCode {
    keel_bfdd::cli::main()
}
