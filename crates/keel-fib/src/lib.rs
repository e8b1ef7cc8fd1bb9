//! keel-fib: the forwarding table (Linux netlink backend, in-memory backend for tests).
//! Filled in by its own issue.
