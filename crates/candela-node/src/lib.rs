//! A Candela node.
pub mod config;
pub mod peer;
pub mod runner;
pub mod store;
