//! Wire formats shared by Candela nodes and clients.
//!
//! - [`network`]: `network.json`, the description of a network a client needs.
//! - [`auth`]: SIWE (EIP-4361) auth signatures signed with EIP-191.
//! - [`v7`]: request and response bodies of the node HTTP API, in the shapes
//!   of Lit's v7 node API, plus Candela's verification extension.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod assignment;
pub mod auth;
pub mod combine;
pub mod network;
pub mod schnorr;
pub mod session;
pub mod v7;

/// The header that carries the id shared by every node for one operation.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// The header by which a client asks the nodes to leave some nodes (ones it
/// caught lying) out of a request's signing sets: comma-separated indices.
/// Ignored when too few nodes would remain.
pub const EXCLUDE_HEADER: &str = "X-Candela-Exclude";

/// The header by which a client says how long (in milliseconds) it will wait
/// for a signature share: a node keeps the request in line for a
/// presignature until then (never longer than its own configured bound) and
/// answers `NodePresignaturePoolEmpty` just before the client would give up.
/// Without it the node waits its configured bound.
pub const MAX_WAIT_HEADER: &str = "X-Candela-Max-Wait-Ms";
