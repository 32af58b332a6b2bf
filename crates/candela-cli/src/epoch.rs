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
    /// On an operator's own machine: create a node's storage key, identity
    /// and config in `--dir` for the network of `--network`, listening on
    /// `--listen` and reachable at `--url`. Prints the member's public
    /// facts (JSON) for the network's administrator, who adds it with
    /// `epoch advance --member FILE`; then start it with
    /// `candela node --config DIR/config.json`.
    InitNode(InitNodeArgs),
    /// Kick member `--node` out of a devnet's committee as its
    /// administrator (the nodes do this themselves by vote when started
    /// with `kickAfterSecs`): it keeps its index, empty; the threshold
    /// becomes ⌊2m/3⌋ + 1 of the m members left, and the nodes move every
    /// key to them. `epoch replace --node I` later puts a new machine in
    /// its place. Prints the new committee as JSON.
    Kick(KickArgs),
    /// The registry's epoch, committee, kicked members and every kick vote
    /// recorded, as JSON.
    Status(StatusArgs),
}

/// Arguments of `epoch kick`.
#[derive(clap::Args, Debug, Clone)]
pub struct KickArgs {
    /// The devnet's directory.
    #[arg(long, default_value = "devnet")]
    pub dir: PathBuf,
    /// The index of the member to kick.
    #[arg(long)]
    pub node: u32,
    /// The registry administrator's key (hex).
    #[arg(long, env = "CANDELA_DEPLOYER_KEY")]
    pub admin_key: Option<String>,
}

/// Arguments of `epoch status`.
#[derive(clap::Args, Debug, Clone)]
pub struct StatusArgs {
    /// network.json of the network (its registry location).
    #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
    pub network: PathBuf,
}

/// Arguments of `epoch init-node`.
#[derive(clap::Args, Debug, Clone)]
pub struct InitNodeArgs {
    /// The node's directory (created; must not hold an identity).
    #[arg(long)]
    pub dir: PathBuf,
    /// The URL the other nodes and clients reach this node at.
    #[arg(long)]
    pub url: String,
    /// The address to listen on (default: the URL's host and port).
    #[arg(long)]
    pub listen: Option<String>,
    /// network.json of the network to join (its registry location).
    #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
    pub network: PathBuf,
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
    /// Add the member a file describes (what `epoch init-node` printed on
    /// the operator's machine), after the last index. Repeatable.
    #[arg(long)]
    pub member: Vec<PathBuf>,
    /// The registry administrator's key (hex), for a devnet on a chain it
    /// did not start itself, e.g. the `Staking` owner's.
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
    /// The registry administrator's key (hex), for a devnet on a chain it
    /// did not start itself (SQLite and anvil devnets know theirs).
    #[arg(long, env = "CANDELA_DEPLOYER_KEY")]
    pub admin_key: Option<String>,
}

/// Run an `epoch` command: each prints its outcome as JSON.
pub async fn run(cmd: EpochCommand) -> anyhow::Result<()> {
    let out = match cmd {
        EpochCommand::Replace(args) => replace(&args)?,
        EpochCommand::InitNode(args) => init_node(&args)?,
        EpochCommand::Advance(args) => advance(&args)?,
        EpochCommand::Kick(args) => kick(&args)?,
        EpochCommand::Status(args) => status(&args)?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Kick member `args.node` out of the committee of the devnet in
/// `args.dir`; the new committee as JSON.
pub fn kick(args: &KickArgs) -> anyhow::Result<serde_json::Value> {
    let (dir, network_path, mut network) = open_devnet(&args.dir)?;
    let registry = candela_registry::open(&network.registry)?;
    let mut set = registry
        .node_set()?
        .context("the registry has no node set yet")?;
    let committee = set.committee();
    if !committee.contains(&args.node) {
        bail!(
            "--node {}: not a member of the committee {committee:?}",
            args.node
        );
    }
    if committee.len() <= 3 {
        bail!("a network keeps at least 3 members");
    }
    set.kicked.insert(args.node);
    set.threshold = candela_crypto::threshold_for(committee.len() - 1);
    let admin = admin_of(&dir, &network.registry, args.admin_key.as_deref())?;
    registry.set_node_set(&admin, &set)?;
    write_network(&network_path, &mut network, &set)?;
    Ok(serde_json::json!({
        "kicked": args.node,
        "committee": set.committee(),
        "threshold": set.threshold,
    }))
}

/// The registry's epoch, committee, kicked members and kick votes.
pub fn status(args: &StatusArgs) -> anyhow::Result<serde_json::Value> {
    let network: NetworkInfo = serde_json::from_slice(
        &std::fs::read(&args.network)
            .with_context(|| format!("reading {}", args.network.display()))?,
    )?;
    let registry = candela_registry::open(&network.registry)?;
    let epoch = registry.epoch()?;
    let set = registry
        .node_set()?
        .context("the registry has no node set yet")?;
    let votes: Vec<serde_json::Value> = registry
        .kick_votes()?
        .into_iter()
        .map(|v| serde_json::json!({"epoch": v.epoch, "voter": v.voter, "target": v.target}))
        .collect();
    Ok(serde_json::json!({
        "epoch": epoch,
        "members": set.nodes.len(),
        "committee": set.committee(),
        "threshold": set.threshold,
        "kicked": set.kicked,
        "kickVotes": votes,
    }))
}

/// Write the devnet's network.json for the registry's `set`: the
/// committee's members and threshold.
fn write_network(
    path: &Path,
    network: &mut NetworkInfo,
    set: &candela_registry::RegisteredNodeSet,
) -> anyhow::Result<()> {
    network.nodes = candela_node::node::committee_infos(set);
    network.threshold = set.threshold;
    write_atomic(path, &serde_json::to_vec_pretty(network)?)
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

/// The devnet directory `dir` (canonical), its network.json path and
/// contents.
fn open_devnet(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf, NetworkInfo)> {
    let dir = std::fs::canonicalize(dir)
        .with_context(|| format!("{} is not a devnet directory", dir.display()))?;
    let network_path = dir.join("network.json");
    let network: NetworkInfo = serde_json::from_slice(
        &std::fs::read(&network_path)
            .with_context(|| format!("reading {}", network_path.display()))?,
    )?;
    Ok((dir, network_path, network))
}

/// Replace member `args.node` of the devnet in `args.dir`; the new member
/// as JSON.
pub fn replace(args: &ReplaceArgs) -> anyhow::Result<serde_json::Value> {
    let (dir, network_path, mut network) = open_devnet(&args.dir)?;
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
    // a kicked member's place taken by a new machine: the committee grows
    if set.kicked.remove(&(i as u32)) {
        set.threshold = candela_crypto::threshold_for(set.committee().len());
    }
    let admin = admin_of(&dir, &network.registry, args.admin_key.as_deref())?;
    registry.set_node_set(&admin, &set)?;

    let infos = candela_node::node::node_infos(&set);
    write_network(&network_path, &mut network, &set)?;
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
    let (dir, network_path, mut network) = open_devnet(&args.dir)?;
    if network.ecdsa_protocol == candela_node::config::DKLS23_NAME {
        bail!(
            "this network's ECDSA key is a DKLs23 key, whose shares carry pairwise state that \
             is not reshared yet: its node set cannot change"
        );
    }
    let registry = candela_registry::open(&network.registry)?;
    let mut set = registry
        .node_set()?
        .context("the registry has no node set yet")?;
    let n = set.nodes.len();
    let kicked = set.kicked.len();
    let given: Vec<RegisteredNode> = args
        .member
        .iter()
        .map(|path| read_member(path))
        .collect::<anyhow::Result<_>>()?;
    (n + args.add + given.len())
        .checked_sub(args.remove)
        .filter(|&s| args.remove < n && s >= 3 + kicked)
        .with_context(|| {
            format!(
                "{n} members, +{} -{}: a network keeps at least 3 members",
                args.add, args.remove
            )
        })?;
    if args.add == 0 && args.remove == 0 && given.is_empty() {
        bail!("nothing to change: give --add N, --member FILE and/or --remove N");
    }
    let removed: Vec<usize> = (n - args.remove..n).collect();
    set.nodes.truncate(n - args.remove);
    set.kicked.retain(|&k| (k as usize) < set.nodes.len());
    if set.committee().len() < 3 {
        bail!("a network keeps at least 3 members");
    }
    let ports = crate::devnet::free_ports(args.add)?;
    let mut added = Vec::new();
    for member in given {
        let i = set.nodes.len();
        added.push(serde_json::json!({"index": i, "url": member.url}));
        set.nodes.push(member);
    }
    for port in ports {
        let i = set.nodes.len();
        let member = new_member(&dir, i, &format!("http://127.0.0.1:{port}"), n)?;
        set.nodes.push(member);
        added.push(serde_json::json!({
            "index": i,
            "config": dir.join(format!("node-{i}/config.json")),
        }));
    }
    set.threshold = candela_crypto::threshold_for(set.committee().len());
    let admin = admin_of(&dir, &network.registry, args.admin_key.as_deref())?;
    registry.set_node_set(&admin, &set)?;
    write_network(&network_path, &mut network, &set)?;
    Ok(serde_json::json!({
        "size": set.committee().len(),
        "threshold": set.threshold,
        "added": added,
        "removed": removed,
    }))
}

/// A member's public facts as `epoch init-node` prints them.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemberFacts {
    url: String,
    identity_key: String,
    encryption_key: String,
    wallet_address: String,
}

fn read_member(path: &Path) -> anyhow::Result<RegisteredNode> {
    let facts: MemberFacts = serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{}: not a member's facts", path.display()))?;
    let bytes = |what: &str, hex_value: &str| -> anyhow::Result<Vec<u8>> {
        hex::decode(hex_value.trim_start_matches("0x"))
            .with_context(|| format!("{}: {what} is not hex", path.display()))
    };
    let fixed = |what: &str, v: Vec<u8>| -> anyhow::Result<[u8; 32]> {
        v.try_into()
            .map_err(|_| anyhow::anyhow!("{}: {what} is not 32 bytes", path.display()))
    };
    let wallet: [u8; 20] = bytes("walletAddress", &facts.wallet_address)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("{}: walletAddress is not 20 bytes", path.display()))?;
    Ok(RegisteredNode {
        url: facts.url,
        identity_key: fixed("identityKey", bytes("identityKey", &facts.identity_key)?)?,
        encryption_key: fixed(
            "encryptionKey",
            bytes("encryptionKey", &facts.encryption_key)?,
        )?,
        wallet_address: wallet,
    })
}

/// Create a node for the network of `args.network` in `args.dir`; its
/// public facts as JSON.
pub fn init_node(args: &InitNodeArgs) -> anyhow::Result<serde_json::Value> {
    let network: NetworkInfo = serde_json::from_slice(
        &std::fs::read(&args.network)
            .with_context(|| format!("reading {}", args.network.display()))?,
    )?;
    if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
        bail!("--url {:?} is not http(s)", args.url);
    }
    let listen = match &args.listen {
        Some(l) => l.clone(),
        None => args
            .url
            .split("://")
            .nth(1)
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string(),
    };
    std::fs::create_dir_all(&args.dir)?;
    let dir = std::fs::canonicalize(&args.dir)?;
    if dir.join("identity.key").exists() {
        bail!("{} already holds a node's identity", dir.display());
    }
    let mut storage_key = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut storage_key);
    write_secret(&dir.join("storage.key"), &hex::encode(storage_key))?;
    let identity = Identity::generate();
    identity.write_sealed(&dir.join("identity.key"), &storage_key)?;
    let cfg: NodeConfig = serde_json::from_value(serde_json::json!({
        "listen": listen,
        "dataDir": dir,
        "registry": network.registry,
        "identityFile": dir.join("identity.key"),
        "storageKeyFile": dir.join("storage.key"),
    }))?;
    write_atomic(&dir.join("config.json"), &serde_json::to_vec_pretty(&cfg)?)?;
    let facts = MemberFacts {
        url: args.url.clone(),
        identity_key: hex::encode(identity.identity_key_bytes()),
        encryption_key: hex::encode(identity.encryption_key_bytes()),
        wallet_address: hex::encode(identity.wallet_address()),
    };
    Ok(serde_json::to_value(facts)?)
}
