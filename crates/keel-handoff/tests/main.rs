//! keel-handoff's integration tests, one binary; the state format's contract in [`state`].

mod state;
