//! A Candela node: the HTTP API (Lit v7 paths), the peer protocol runner,
//! the presignature pool and encrypted share storage.
//!
//! Read [`node`] first: it holds the node's state and background loops;
//! [`signing`] is the path from a request to a signature share.
mod action_encryption;
pub mod actions;
mod auth_methods;
pub mod chain_blocks;
pub mod claim_key;
pub mod config;
pub mod contract_call;
pub mod decrypt;
mod dkls_signing;
pub mod error;
mod group_commit;
pub mod http;
pub mod limits;
mod lit_ops;
pub mod liveness;
pub mod membership;
pub mod node;
mod outbox;
pub mod peer;
pub mod permit;
pub mod reconcile;
pub mod registry_changes;
pub mod runner;
pub mod runs;
pub mod scheme_signing;
pub mod schnorr;
mod schnorr_stock;
pub mod session_key;
pub mod signing;
pub mod spent;
pub mod store;

pub use config::NodeConfig;
pub use node::Node;

/// Run a node until SIGINT or SIGTERM.
pub async fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    let node = Node::start(cfg)?;
    http::serve(node, shutdown_signal()).await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
