//! BGP Role negotiation (RFC 9234 §4): which pairs of roles may form a session, and what a
//! received OPEN's Role capabilities mean for a speaker with a configured role.
//!
//! A configured role is the speaker's **own** role on the session (RFC 9234 §4: "the Role
//! of the local AS"): `customer` means "I am this neighbor's customer". BIRD's `local role`
//! and FRR's `local-role` mean the same.
//!
//! RFC 9234 §4.2, Table 2, the allowed (local, remote) pairs:
//!
//! | local | remote |
//! |---|---|
//! | Provider | Customer |
//! | Customer | Provider |
//! | RS | RS-Client |
//! | RS-Client | RS |
//! | Peer | Peer |

use super::{Capability, Role};

/// RFC 9234 §4.2, Table 2: true when a speaker with role `local` may form a session with one
/// that announced `remote`. Unknown values (5-255) match nothing.
pub fn allowed_pair(local: Role, remote: Role) -> bool {
    matches!(
        (local, remote),
        (Role::Provider, Role::Customer)
            | (Role::Customer, Role::Provider)
            | (Role::RouteServer, Role::RouteServerClient)
            | (Role::RouteServerClient, Role::RouteServer)
            | (Role::Peer, Role::Peer)
    )
}

/// Why a session is refused with Role Mismatch (OPEN Message Error subcode 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// The neighbor announced a role that does not pair with ours (§4.2, Table 2).
    Pair { local: Role, remote: Role },
    /// Several Role capabilities, not all with the same value (§4.2).
    Conflicting,
    /// Strict mode, and the neighbor sent no Role capability (§4.2).
    Missing,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Pair { local, remote } => write!(
                f,
                "role {} does not pair with the neighbor's role {} (RFC 9234 §4.2)",
                local.name(),
                remote_name(*remote)
            ),
            Mismatch::Conflicting => f.write_str("several Role capabilities with different values (RFC 9234 §4.2)"),
            Mismatch::Missing => f.write_str("strict_role: the neighbor sent no Role capability (RFC 9234 §4.2)"),
        }
    }
}

fn remote_name(r: Role) -> String {
    match r {
        Role::Other(v) => format!("unknown ({v})"),
        r => r.name().to_string(),
    }
}

/// The neighbor's role from its OPEN's capabilities: `None` when it sent no Role capability;
/// `Err` when it sent several that differ (RFC 9234 §4.2: "If multiple BGP Role Capabilities
/// are received and not all of them have the same value, then the BGP speaker MUST reject the
/// connection"; several with the same value count as one).
pub fn received(capabilities: &[Capability]) -> Result<Option<Role>, Mismatch> {
    let mut found = None;
    for c in capabilities {
        if let Capability::Role(r) = c {
            match found {
                Some(f) if f != *r => return Err(Mismatch::Conflicting),
                _ => found = Some(*r),
            }
        }
    }
    Ok(found)
}

/// RFC 9234 §4.2 for a speaker configured with role `local`, given the neighbor's OPEN
/// capabilities: the neighbor's role (`None`: it sent none and `strict` is off, so the session
/// goes on with the local role alone, "for backward compatibility"), or the reason to send
/// Role Mismatch. Without a local role keel sends no capability and checks nothing.
pub fn check(local: Option<Role>, strict: bool, capabilities: &[Capability]) -> Result<Option<Role>, Mismatch> {
    let Some(local) = local else { return Ok(None) };
    match received(capabilities)? {
        Some(remote) if allowed_pair(local, remote) => Ok(Some(remote)),
        Some(remote) => Err(Mismatch::Pair { local, remote }),
        None if strict => Err(Mismatch::Missing),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Role; 6] =
        [Role::Provider, Role::RouteServer, Role::RouteServerClient, Role::Customer, Role::Peer, Role::Other(5)];

    /// RFC 9234 §4.2, Table 2: exactly five pairs, each the other's mirror.
    #[test]
    fn pair_table() {
        let allowed: Vec<(Role, Role)> =
            ALL.iter().flat_map(|&l| ALL.iter().map(move |&r| (l, r))).filter(|&(l, r)| allowed_pair(l, r)).collect();
        assert_eq!(
            allowed,
            [
                (Role::Provider, Role::Customer),
                (Role::RouteServer, Role::RouteServerClient),
                (Role::RouteServerClient, Role::RouteServer),
                (Role::Customer, Role::Provider),
                (Role::Peer, Role::Peer),
            ]
        );
        for (l, r) in allowed {
            assert!(allowed_pair(r, l), "mirror of {l:?}-{r:?}");
        }
    }

    /// RFC 9234 §4.2: match, mismatch, missing with and without strict mode, duplicates.
    #[test]
    fn negotiation_outcomes() {
        let role = |r| Capability::Role(r);
        let c = Role::Customer;
        let p = Role::Provider;
        // Match.
        assert_eq!(check(Some(c), false, &[role(p)]), Ok(Some(p)));
        assert_eq!(check(Some(c), true, &[role(p)]), Ok(Some(p)));
        // Impossible pair, with or without strict.
        assert_eq!(check(Some(c), false, &[role(Role::Peer)]), Err(Mismatch::Pair { local: c, remote: Role::Peer }));
        assert_eq!(check(Some(c), false, &[role(c)]), Err(Mismatch::Pair { local: c, remote: c }));
        // An unknown value pairs with nothing.
        assert!(check(Some(Role::Peer), false, &[role(Role::Other(9))]).is_err());
        // Missing: goes on with the local role alone, unless strict.
        assert_eq!(check(Some(c), false, &[Capability::RouteRefresh]), Ok(None));
        assert_eq!(check(Some(c), true, &[Capability::RouteRefresh]), Err(Mismatch::Missing));
        // Several with the same value count as one; differing values are a mismatch.
        assert_eq!(check(Some(c), false, &[role(p), role(p)]), Ok(Some(p)));
        assert_eq!(check(Some(c), false, &[role(p), role(Role::Peer)]), Err(Mismatch::Conflicting));
        // No local role: nothing checked, whatever the neighbor sent.
        assert_eq!(check(None, true, &[role(c), role(p)]), Ok(None));
    }
}
