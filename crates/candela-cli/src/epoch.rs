//! `candela epoch`: changes of a running network's node set.
//!
//! `epoch replace` gives a member's index to a new machine: a fresh
//! identity, encryption key, storage key and (optionally) URL, recorded in
//! the registry by its administrator. The running nodes follow the
//! registry (they adopt the new identity and refuse the old one); the new
//! node starts with an empty store and is repaired by the others, so it
//! holds new shares of the same keys.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candela_api::network::{NetworkInfo, RegistryLocation};
use candela_node::config::NodeConfig;
use candela_node::peer::Identity;
use candela_registry::{RegisteredNode, SigningKey};
use rand_core::RngCore;

use crate::devnet::{write_atomic, write_secret};

/// `candela epoch …`
#[derive(clap::Subcommand)]
pub enum EpochCommand {
    /// Replace member `--node` of a devnet by a new machine under the same
    /// index: new identity and keys in `DIR/node-I` (which must be gone:
    /// this is for a node whose disk was lost), recorded in the registry.
    /// Start it with `candela node --config DIR/node-I/config.json`; it is
    /// repaired by the others. Prints the new member as JSON.
    Replace(ReplaceArgs),
}

/// Arguments of `epoch replace`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReplaceArgs {
    /// The devnet's directory.
    #[arg(long, default_value = "devnet")]
    pub dir: PathBuf,
    /// The index of the member to replace.
    #[arg(long)]
    pub node: usize,
    /// The new machine's URL (default: the old member's).
    #[arg(long)]
    pub url: Option<String>,
    /// The registry administrator's key (hex), for a devnet on a chain
    /// given by `--rpc-url` (SQLite and anvil devnets know theirs).
    #[arg(long, env = "CANDELA_DEPLOYER_KEY")]
    pub admin_key: Option<String>,
}

/// Run an `epoch` command.
pub async fn run(cmd: EpochCommand) -> anyhow::Result<()> {
    match cmd {
        EpochCommand::Replace(args) => {
            let out = replace(&args)?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
    }
}

/// The registry administrator of a devnet directory.
fn admin_of(
    dir: &Path,
    location: &RegistryLocation,
    given: Option<&str>,
) -> anyhow::Result<SigningKey> {
    if let Some(key) = given {
        return crate::pkp::signing_key(key);
    }
    match location {
        RegistryLocation::Sqlite { .. } => {
            let path = dir.join("admin.key");
            let hex_key = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            crate::pkp::signing_key(&hex_key)
        }
        // `devnet --chain anvil` administers its contracts with anvil's
        // first account; another chain needs --admin-key
        _ => Ok(candela_registry::anvil::dev_key(0)),
    }
}

/// Replace member `args.node` of the devnet in `args.dir`; the new member
/// as JSON.
pub fn replace(args: &ReplaceArgs) -> anyhow::Result<serde_json::Value> {
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("{} is not a devnet directory", args.dir.display()))?;
    let network_path = dir.join("network.json");
    let mut network: NetworkInfo = serde_json::from_slice(
        &std::fs::read(&network_path)
            .with_context(|| format!("reading {}", network_path.display()))?,
    )?;
    let registry = candela_registry::open(&network.registry)?;
    let mut set = registry
        .node_set()?
        .context("the registry has no node set yet")?;
    let i = args.node;
    if i >= set.nodes.len() {
        bail!(
            "--node {i}: the network has members 0 to {}",
            set.nodes.len() - 1
        );
    }
    let node_dir = dir.join(format!("node-{i}"));
    if node_dir.join("identity.key").exists() {
        bail!(
            "{} still holds member {i}'s identity: replace is for a machine that is gone; stop \
             the node and remove its directory first (a node that only lost its store restarts \
             as itself and is repaired)",
            node_dir.display()
        );
    }
    // the new machine's config: another member's, with this member's paths
    let template = (0..set.nodes.len())
        .filter(|&j| j != i)
        .map(|j| dir.join(format!("node-{j}/config.json")))
        .find(|p| p.exists())
        .context("no other member's config.json to start from")?;
    let mut cfg: NodeConfig = serde_json::from_slice(&std::fs::read(&template)?)?;
    let url = args.url.clone().unwrap_or_else(|| set.nodes[i].url.clone());
    let Some(listen) = url.strip_prefix("http://") else {
        bail!("--url {url:?}: a devnet node listens on http://HOST:PORT");
    };
    std::fs::create_dir_all(&node_dir)?;
    let mut storage_key = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut storage_key);
    write_secret(&node_dir.join("storage.key"), &hex::encode(storage_key))?;
    let identity = Identity::generate();
    identity.write_sealed(&node_dir.join("identity.key"), &storage_key)?;
    cfg.listen = listen.to_string();
    cfg.data_dir = node_dir.clone();
    cfg.identity_file = node_dir.join("identity.key");
    cfg.storage_key_file = Some(node_dir.join("storage.key"));
    cfg.misbehave = None;
    write_atomic(
        &node_dir.join("config.json"),
        &serde_json::to_vec_pretty(&cfg)?,
    )?;

    let member = RegisteredNode {
        url: url.clone(),
        identity_key: identity.identity_key_bytes(),
        encryption_key: identity.encryption_key_bytes(),
        wallet_address: identity.wallet_address(),
    };
    set.nodes[i] = member;
    let admin = admin_of(&dir, &network.registry, args.admin_key.as_deref())?;
    registry.set_node_set(&admin, &set)?;

    let infos = candela_node::node::node_infos(&set);
    network.nodes = infos.clone();
    write_atomic(&network_path, &serde_json::to_vec_pretty(&network)?)?;
    Ok(serde_json::json!({
        "replaced": i,
        "member": infos[i],
        "config": node_dir.join("config.json"),
    }))
}
