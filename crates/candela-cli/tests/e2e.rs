//! The candela-cli tests: end-to-end tests that start real node processes
//! on loopback (and anvil, npm and node where a test says so), the CLI's
//! help and the TypeScript declarations. Each file is a module of this one
//! test binary; run one file's tests with
//! `cargo nextest run -p candela-cli --test e2e e2e_epoch::`.
mod common;

mod e2e_action_schemes;
mod e2e_actions;
mod e2e_auth;
mod e2e_bad_input;
mod e2e_byzantine;
mod e2e_chaos;
mod e2e_cli;
mod e2e_credentials;
mod e2e_defi;
mod e2e_dkls;
mod e2e_encryption;
mod e2e_epoch;
mod e2e_explain;
mod e2e_forgery;
mod e2e_installed;
mod e2e_kick;
mod e2e_listen;
mod e2e_lit_ops;
mod e2e_lit_scripts;
mod e2e_permissions;
mod e2e_project;
mod e2e_refresh;
mod e2e_registry_changes;
mod e2e_repair;
mod e2e_replace;
mod e2e_rollback;
mod e2e_run_records;
mod e2e_schnorr;
mod e2e_security;
mod e2e_signing;
mod help_flags;
mod typescript_declarations;
