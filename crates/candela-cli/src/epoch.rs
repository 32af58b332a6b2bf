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
    /// Move a devnet to a new node set: add `--add` fresh members after
    /// the last index (their directories and configs are written) and/or
    /// remove the last `--remove` members; the threshold becomes
    /// ⌊2n/3⌋ + 1. The running nodes follow the registry and move every
    /// key to the new committee (same public keys, new shares); removed
    /// nodes erase their shares and stop. Start the added ones with
    /// `candela node --config DIR/node-I/config.json`. Prints the new
    /// committee as JSON.
    Advance(AdvanceArgs),
}

/// Arguments of `epoch advance`.
#[derive(clap::Args, Debug, Clone)]
pub struct AdvanceArgs {
    /// The devnet's directory.
    #[arg(long, default_value = "devnet")]
    pub dir: PathBuf,
    /// Members to add after the last index.
    #[arg(long, default_value_t = 0)]
    pub add: usize,
    /// Members to remove, from the last index down.
    #[arg(long, default_value_t = 0)]
    pub remove: usize,
    /// The registry administrator's key (hex), for a devnet on a chain
    /// given by `--rpc-url`.
    #[arg(long, env = "CANDELA_DEPLOYER_KEY")]
    pub admin_key: Option<String>,
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
        EpochCommand::Advance(args) => {
            let out = advance(&args)?;
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
    let url = args.url.clone().unwrap_or_else(|| set.nodes[i].url.clone());
    let member = new_member(&dir, i, &url, set.nodes.len())?;
    set.nodes[i] = member;
    let admin = admin_of(&dir, &network.registry, args.admin_key.as_deref())?;
    registry.set_node_set(&admin, &set)?;

    let infos = candela_node::node::node_infos(&set);
    network.nodes = infos.clone();
    write_atomic(&network_path, &serde_json::to_vec_pretty(&network)?)?;
    Ok(serde_json::json!({
        "replaced": i,
        "member": infos[i],
        "config": dir.join(format!("node-{i}/config.json")),
    }))
}

/// A new machine for index `i` of the devnet in `dir` (of `members`
/// members): storage key, identity and config in `dir/node-i`, which must
/// not hold an identity. Its public facts, for the registry.
fn new_member(dir: &Path, i: usize, url: &str, members: usize) -> anyhow::Result<RegisteredNode> {
    let node_dir = dir.join(format!("node-{i}"));
    if node_dir.join("identity.key").exists() {
        bail!(
            "{} holds an identity: a new member needs an empty directory (replace is for a \
             machine that is gone: stop the node and remove its directory first; a node that \
             only lost its store restarts as itself and is repaired)",
            node_dir.display()
        );
    }
    // the new machine's config: another member's, with this member's paths
    let template = (0..members.max(i))
        .filter(|&j| j != i)
        .map(|j| dir.join(format!("node-{j}/config.json")))
        .find(|p| p.exists())
        .context("no other member's config.json to start from")?;
    let mut cfg: NodeConfig = serde_json::from_slice(&std::fs::read(&template)?)?;
    let Some(listen) = url.strip_prefix("http://") else {
        bail!("URL {url:?}: a devnet node listens on http://HOST:PORT");
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
    Ok(RegisteredNode {
        url: url.to_string(),
        identity_key: identity.identity_key_bytes(),
        encryption_key: identity.encryption_key_bytes(),
        wallet_address: identity.wallet_address(),
    })
}

/// Move the devnet in `args.dir` to a new node set; the new committee as
/// JSON.
pub fn advance(args: &AdvanceArgs) -> anyhow::Result<serde_json::Value> {
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
    let n = set.nodes.len();
    let size = (n + args.add)
        .checked_sub(args.remove)
        .filter(|&s| s >= 3 && args.remove < n)
        .with_context(|| {
            format!(
                "{n} members, +{} -{}: a network keeps at least 3 members",
                args.add, args.remove
            )
        })?;
    if args.add == 0 && args.remove == 0 {
        bail!("nothing to change: give --add N and/or --remove N");
    }
    let removed: Vec<usize> = (n - args.remove..n).collect();
    set.nodes.truncate(n - args.remove);
    let ports = crate::devnet::free_ports(args.add)?;
    let mut added = Vec::new();
    for port in ports {
        let i = set.nodes.len();
        let member = new_member(&dir, i, &format!("http://127.0.0.1:{port}"), n)?;
        set.nodes.push(member);
        added.push(serde_json::json!({
            "index": i,
            "config": dir.join(format!("node-{i}/config.json")),
        }));
    }
    set.threshold = candela_crypto::threshold_for(size);
    let admin = admin_of(&dir, &network.registry, args.admin_key.as_deref())?;
    registry.set_node_set(&admin, &set)?;
    network.nodes = candela_node::node::node_infos(&set);
    network.threshold = set.threshold;
    write_atomic(&network_path, &serde_json::to_vec_pretty(&network)?)?;
    Ok(serde_json::json!({
        "size": size,
        "threshold": set.threshold,
        "added": added,
        "removed": removed,
    }))
}
