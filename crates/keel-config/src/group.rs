//! The system's group database, asked for `[global] api_group`.

/// The gid of group `name`, `None` when there is no such group.
pub fn group_gid(name: &str) -> Result<Option<u32>, String> {
    match nix::unistd::Group::from_name(name) {
        Ok(g) => Ok(g.map(|g| g.gid.as_raw())),
        Err(e) => Err(format!("cannot look up group {name:?}: {e}")),
    }
}
