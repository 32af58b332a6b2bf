//! The Candela event listener: triggers that run actions when events
//! happen.
//!
//! A trigger binds a source (cron, interval, signed webhook, new EVM blocks,
//! EVM contract logs, a polled URL that changes) to an action, a `jsParams`
//! template and the wallet key that authenticates the runs. Events and
//! source cursors are kept in SQLite ([`store`]); delivery retries with
//! exponential backoff ([`backoff`]) and ends failures in a dead-letter
//! list ([`status`]).
//!
//! Start with [`engine`] (the tasks and the delivery step), then
//! [`store`] (the delivery guarantee). The pure parts — [`config`],
//! [`schedule`], [`signature`], [`template`], [`backoff`] and the planning
//! half of [`sources`] — are tested without sockets.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backoff;
pub mod config;
pub mod engine;
pub mod runner;
pub mod schedule;
pub mod signature;
pub mod sources;
pub mod status;
pub mod store;
pub mod template;

pub use config::{Config, ConfigError};
pub use engine::{deliver_next, ListenError, Listener, Prepared, Step};
pub use runner::{ActionRun, ActionRunner, ClientRunner, RunError, RunOutput};
pub use store::{Store, StoreError};
