//! Whether this keel-bfdd outlives keeld, which decides the C bit it sends (RFC 5880 §4.1:
//! "set if the local system's BFD implementation is independent of the control plane", read
//! by the neighbor as RFC 5882 §4.3 says).
//!
//! keel-bfdd is a separate process, so a keeld crash, `keel restart` (an exec in place) or an
//! upgrade leaves it running: C=1. The one setup where that is false is keel-bfdd inside
//! keeld's systemd unit: systemd ends every process of a unit's cgroup when the unit stops or
//! its main process dies. keeld starts keel-bfdd itself when it finds none running; under
//! systemd that child lands in keeld.service, so it sends C=0. The package's keel-bfdd.service
//! (pulled in by keeld.service) avoids that.

/// The C bit for a process whose `/proc/self/cgroup` reads `cgroup`: clear when it is in
/// keeld's systemd unit.
pub fn from_cgroup(cgroup: &str) -> bool {
    !cgroup.lines().any(|line| {
        let path = line.rsplit(':').next().unwrap_or("");
        path.split('/').any(|part| part == "keeld.service")
    })
}

/// The C bit for this process ([`from_cgroup`] on its own cgroup; set when it cannot be read,
/// as outside systemd).
pub fn of_this_process() -> bool {
    std::fs::read_to_string("/proc/self/cgroup").map_or(true, |c| from_cgroup(&c))
}

#[cfg(test)]
mod tests {
    use super::from_cgroup;

    #[test]
    fn inside_keelds_unit_the_c_bit_is_clear() {
        assert!(!from_cgroup("0::/system.slice/keeld.service\n"));
        assert!(from_cgroup("0::/system.slice/keel-bfdd.service\n"));
        assert!(from_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n"));
        assert!(!from_cgroup("12:pids:/system.slice/keeld.service\n1:name=systemd:/system.slice/keeld.service\n"));
    }
}
