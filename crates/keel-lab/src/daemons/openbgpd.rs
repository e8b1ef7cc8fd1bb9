//! OpenBGPD (package `openbgpd`): `bgpd -d -f CONFIG` in the foreground. Its processes chroot
//! into user _openbgpd's home, /run/openbgpd, which only its systemd unit would create; it
//! needs `nexthop qualify via default` to use next hops that are not on a connected network.

use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// OpenBGPD's bgpd (FRR's is /usr/lib/frr/bgpd).
pub const BGPD: &str = "/usr/sbin/bgpd";

/// `bgpd -d -f CONFIG`, after creating its chroot directory.
pub fn command(config: &Path) -> Result<Command> {
    std::fs::create_dir_all("/run/openbgpd").context("cannot create /run/openbgpd")?;
    let mut c = Command::new(BGPD);
    c.arg("-d").arg("-f").arg(config);
    Ok(c)
}
