//! Interoperability tests: keeld against BIRD 2, FRR bgpd, GoBGP and ExaBGP, the StayRTR RPKI
//! cache, raw peers that send broken messages, TCP MD5, configuration checking and reload.
//!
//! Every daemon runs in its own temporary directory, bound to its own 127.0.0.x address on
//! port 179, and is ended by its pid when the test ends (also when it fails). The daemons are
//! required: a missing binary fails the test. Install them with
//! `apt-get install -y --no-install-recommends $(cat scripts/test-packages.txt)`.
//!
//! Addresses (keel first, then its peers), distinct per test so the tests run in parallel:
//!
//! | test | addresses |
//! |---|---|
//! | bird | 127.0.0.111, .112 |
//! | frr | 127.0.0.121, .122 |
//! | gobgp | 127.0.0.131, .132 (gRPC API on .132:50051) |
//! | exabgp | 127.0.0.141, .142 |
//! | errors: OPEN | 127.0.0.151, .152, bystander .153 |
//! | errors: UPDATE | 127.0.0.161, .162, bystander .163 |
//! | errors: hold timer | 127.0.0.171, .172, bystander .173 |
//! | md5 | 127.0.0.181, .182 (right password), .183 (wrong password) |
//! | reload | 127.0.0.191, .192, .193, .194 |
//! | check that nothing holds *:179 | 127.0.0.199 |
//! | gr_helper: BIRD graceful restart | 127.0.0.201, BIRD .202, observer BIRD .203 |
//! | gr_helper: BIRD kill -9 | 127.0.0.204, BIRD .205, observer BIRD .206 |
//! | gr_helper: BIRD without N bit | 127.0.0.207, BIRD .208, observer BIRD .209 |
//! | gr_helper: FRR kill -9 | 127.0.0.211, FRR .212, observer BIRD .213 |
//! | gr_helper: FRR clear soft/graceful/hard | 127.0.0.214, FRR .215, observer BIRD .216 |
//! | gr_helper: ExaBGP without End-of-RIB | 127.0.0.217, ExaBGP .218, observer BIRD .219 |
//! | gr_helper: GoBGP -r | 127.0.0.221, GoBGP .222 (gRPC .222:50051), observer BIRD .223 |
//! | gr_helper: GoBGP without -r (F=0) | 127.0.0.224, GoBGP .225 (gRPC .225:50051), observer BIRD .226 |
//! | gr_helper: ExaBGP restart timer | 127.0.0.227, ExaBGP .228, observer BIRD .229 |
//! | gr_helper: ExaBGP without GR in new OPEN | 127.0.0.231, ExaBGP .232, observer GoBGP .233 (gRPC .233:50051) |
//! | propagation: slow consumer | 127.0.0.236, upstream .237, stuck .238, reader .239 |
//! | propagation: best paths | 127.0.0.240, BIRD .241, GoBGP .242 (gRPC .242:50051), FRR .243 |
//! | propagation: route reflector | 127.0.0.245, BIRD .246, FRR .247 |
//! | propagation: route server | 127.0.0.250, BIRD .251, GoBGP .252 (gRPC .252:50051) |
//! | check: keel check --live | 127.0.2.1, BIRD without GR .2, BIRD with GR .3 |
//! | llgr: BIRD goes away and returns | 127.0.1.1, BIRD .2, GoBGP .3 (gRPC .3:50051), observers BIRD .4, FRR .5 |
//! | llgr: FRR goes away and returns | 127.0.1.11, FRR .12, observers BIRD .13, GoBGP .14 (gRPC .14:50051), ExaBGP .15 |
//! | llgr: GoBGP's stale time ends | 127.0.1.21, GoBGP .22 (gRPC .22:50051), observers BIRD .23, FRR .24 |
//! | llgr: partial deployment | 127.0.1.31, BIRD .32, observers FRR .33 and .34 (internal), ExaBGP .35 |
//! | llgr: lost again before End-of-RIB | 127.0.1.41, BIRD .42, observer BIRD .43 |
//! | llgr: stale time 0 | 127.0.1.51, FRR .52, observer BIRD .53 |
//! | policy: import/export policy and reload | 127.0.3.1, BIRD .2, FRR .3 |
//! | rpki: RTR cache | 127.0.4.1, BIRD .2, BIRD .4 (through an RPKI policy), StayRTR .3:8282 |

mod bird;
mod check_live;
mod common;
mod config;
mod daemons;
mod errors;
mod exabgp;
mod frr;
mod gobgp;
mod gr_helper;
mod llgr;
mod md5;
mod policy;
mod propagation;
mod raw_peer;
mod rpki;
