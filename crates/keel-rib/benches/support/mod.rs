//! What keel-rib's benchmarks share: a neighbor and a RIB loaded with a generated table.

use keel_rib::{AttrSet, PeerId, PeerInfo, Rib};
use keel_tablegen::Table;
use std::net::{IpAddr, Ipv4Addr};

/// Neighbor 127.0.0.`last` (router id 192.0.2.`last`) in AS `asn`, of keel AS 65000.
pub fn peer(last: u8, asn: u32) -> PeerInfo {
    PeerInfo::new(
        IpAddr::from([127, 0, 0, last]),
        asn,
        Ipv4Addr::new(192, 0, 2, last),
        65000,
        Ipv4Addr::new(192, 0, 2, 100),
        IpAddr::from([127, 0, 0, 100]),
    )
}

/// Announces every route of `table` from `from` (already added to `rib`); the changes are
/// taken, as the RIB task takes them.
pub fn load(rib: &mut Rib, from: PeerId, table: &Table) {
    for g in &table.groups {
        let set = rib.attrs.intern(AttrSet { attributes: g.attributes.clone(), next_hop: g.next_hop });
        for n in &g.prefixes {
            rib.announce(from, g.family, n.prefix, 0, set.clone());
        }
    }
    rib.take_changed();
}
