//! Who may change keeld through its API (issue 16).
//!
//! Two locks. The socket file is mode 0660 in `[global] api_group` (default: keeld's own
//! group), so the kernel lets only root, keeld's user and that group connect (unix(7):
//! connecting needs write permission on the socket). And each connection carries the
//! credentials of the process that opened it (SO_PEERCRED and SO_PEERGROUPS, socket(7)):
//! requests that change keeld are served only for uid 0, keeld's own uid (which could signal
//! keeld anyway) or a member of the group; reading stays open to whoever could connect, so an
//! operator may open the socket wider for monitoring without handing out `keel stop`.

use axum::extract::connect_info::Connected;
use axum::http::Method;
use axum::serve::IncomingStream;
use nix::unistd::{Gid, Group, Uid, User};
use std::os::fd::{AsRawFd, RawFd};
use tokio::net::UnixListener;

/// The API actions that change keeld, as the last segment of their paths. `upgrade` has no
/// route yet: it is listed so that whatever method it comes with, it is guarded from the
/// start. `graceful-shutdown` is `POST /v1/graceful-shutdown` (RFC 8326).
pub const MUTATING_ACTIONS: &[&str] = &["clear", "reload", "restart", "stop", "upgrade", "graceful-shutdown"];

/// Whether a request changes keeld: every method but GET and HEAD (so a route added later is
/// guarded unless it is a read), and the actions of [`MUTATING_ACTIONS`] whatever the method.
pub fn is_mutating(method: &Method, path: &str) -> bool {
    let action = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    !(method == Method::GET || method == Method::HEAD) || MUTATING_ACTIONS.contains(&action)
}

/// The process at the other end of an API connection, as the kernel recorded it at connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub pid: Option<i32>,
    pub uid: u32,
    /// Effective group.
    pub gid: u32,
    /// Supplementary groups (SO_PEERGROUPS, Linux 4.13); empty when the kernel cannot tell.
    pub groups: Vec<u32>,
}

/// Connection info for axum: the peer's credentials, `None` when the kernel would not give
/// them (then nothing that changes keeld is served).
#[derive(Debug, Clone)]
pub struct PeerCredentials(pub Option<Peer>);

impl Connected<IncomingStream<'_, UnixListener>> for PeerCredentials {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        let io = stream.io();
        PeerCredentials(io.peer_cred().ok().map(|c| Peer {
            pid: c.pid(),
            uid: c.uid(),
            gid: c.gid(),
            groups: peer_groups(io.as_raw_fd()).unwrap_or_default(),
        }))
    }
}

/// The supplementary groups of the process that connected to `fd` (SO_PEERGROUPS).
fn peer_groups(fd: RawFd) -> std::io::Result<Vec<u32>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    // Two rounds: the first ERANGE tells the size needed (socket(7)).
    for _ in 0..2 {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: `groups` holds `len` writable bytes; the kernel writes at most that many.
        let rc = unsafe {
            libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_PEERGROUPS, groups.as_mut_ptr().cast(), &mut len)
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(n);
            return Ok(groups);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) || n <= groups.len() {
            return Err(e);
        }
        groups.resize(n, 0);
    }
    Err(std::io::Error::from_raw_os_error(libc::ERANGE))
}

/// The groups the user database gives `uid`: its primary group and those listing it.
pub fn user_groups(uid: u32) -> Vec<u32> {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else { return Vec::new() };
    let Ok(name) = std::ffi::CString::new(user.name) else { return vec![user.gid.as_raw()] };
    match nix::unistd::getgrouplist(&name, user.gid) {
        Ok(groups) => groups.into_iter().map(Gid::as_raw).collect(),
        Err(_) => vec![user.gid.as_raw()],
    }
}

/// Who may change keeld.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admins {
    /// The socket's group (`api_group`, else keeld's own group).
    pub gid: u32,
    /// Its name, for messages.
    pub group: String,
    /// keeld's own uid.
    pub owner: u32,
}

impl Admins {
    /// From the configured group's gid, else keeld's effective group.
    pub fn new(gid: Option<u32>) -> Admins {
        let gid = gid.unwrap_or_else(|| nix::unistd::getegid().as_raw());
        let group = match Group::from_gid(Gid::from_raw(gid)) {
            Ok(Some(g)) => g.name,
            _ => gid.to_string(),
        };
        Admins { gid, group, owner: nix::unistd::geteuid().as_raw() }
    }

    /// Whether `peer` may change keeld; `database` gives the groups the user database lists
    /// for a uid (asked only when the credentials alone do not settle it). The error says why
    /// not.
    pub fn check(&self, peer: Option<&Peer>, database: impl FnOnce(u32) -> Vec<u32>) -> Result<(), String> {
        let Some(p) = peer else {
            return Err("the connection's peer credentials are unknown (SO_PEERCRED failed)".into());
        };
        if p.uid == 0 || p.uid == self.owner || p.gid == self.gid || p.groups.contains(&self.gid) {
            return Ok(());
        }
        if database(p.uid).contains(&self.gid) {
            return Ok(());
        }
        Err(format!(
            "uid {} (gid {}) is not root and not in group {:?} (gid {}), the group ([global] api_group) allowed to change keeld",
            p.uid, p.gid, self.group, self.gid
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_open_and_everything_else_is_guarded() {
        assert!(!is_mutating(&Method::GET, "/v1/neighbors/192.0.2.1"));
        assert!(!is_mutating(&Method::HEAD, "/v1/status"));
        assert!(!is_mutating(&Method::GET, "/v1/routes"));
        for path in ["/v1/stop", "/v1/reload", "/v1/restart", "/v1/neighbors/192.0.2.1/clear"] {
            assert!(is_mutating(&Method::POST, path), "{path}");
        }
        // A future route that changes keeld is guarded by its method, or by its name.
        assert!(is_mutating(&Method::POST, "/v1/something-new"));
        assert!(is_mutating(&Method::DELETE, "/v1/neighbors/192.0.2.1"));
        assert!(is_mutating(&Method::GET, "/v1/upgrade"));
        assert!(is_mutating(&Method::GET, "/v1/graceful-shutdown/"));
    }

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> Option<Peer> {
        Some(Peer { pid: Some(1), uid, gid, groups: groups.to_vec() })
    }

    #[test]
    fn root_owner_and_group_members_may_change_keeld() {
        let admins = Admins { gid: 990, group: "keel".into(), owner: 500 };
        let no_db = |_| Vec::new();
        assert_eq!(admins.check(peer(0, 0, &[]).as_ref(), no_db), Ok(()));
        assert_eq!(admins.check(peer(500, 500, &[]).as_ref(), no_db), Ok(()));
        assert_eq!(admins.check(peer(1000, 990, &[]).as_ref(), no_db), Ok(()));
        assert_eq!(admins.check(peer(1000, 1000, &[4, 990]).as_ref(), no_db), Ok(()));
        assert_eq!(
            admins.check(peer(1000, 1000, &[]).as_ref(), |uid| if uid == 1000 { vec![990] } else { vec![] }),
            Ok(())
        );
        let e = admins.check(peer(65534, 65534, &[100]).as_ref(), |_| vec![65534]).unwrap_err();
        assert!(e.contains("uid 65534") && e.contains("\"keel\"") && e.contains("990"), "{e}");
        assert!(admins.check(None, |_| vec![990]).is_err());
    }
}
