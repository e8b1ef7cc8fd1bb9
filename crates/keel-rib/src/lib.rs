//! keel-rib: Adj-RIB-In, Loc-RIB, the decision process (RFC 4271 §9.1) and Adj-RIB-Out.
//! Pure: no I/O, no clock. Filled in by its own issue.
