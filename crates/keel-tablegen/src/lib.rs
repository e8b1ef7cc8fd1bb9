//! keel-tablegen
