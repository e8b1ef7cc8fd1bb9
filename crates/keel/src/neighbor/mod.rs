//! One neighbor: its FSM, capability negotiation and the task that drives them.

pub mod fsm;
pub mod negotiate;
