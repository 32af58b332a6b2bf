//! The action runtime's tests, each file a module of this one test binary
//! (one link instead of one per file). `ethers_missing.rs` and
//! `jwt_missing.rs` stay binaries of their own: they point an environment
//! variable at a missing bundle for their whole process.
mod common;

mod conformance;
mod ethers;
mod js_engine;
mod jwt;
mod lit_actions;
mod lit_conformance;
mod lit_ops;
mod lit_semantics;
mod modules;
mod randomness;
mod subtle;
mod wasm;
mod web_api;
