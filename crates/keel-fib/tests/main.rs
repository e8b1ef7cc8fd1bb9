//! keel-fib's integration tests. The netlink tests need root; each one runs in its own network
//! namespace (see `netns`), so they never touch the host's routes.

mod netlink;
mod netns;
