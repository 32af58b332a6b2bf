//! The registry a devnet runs on: the embedded SQLite file, a local anvil
//! the devnet starts (contracts deployed to it), or any EVM chain by URL.
//!
//! `DIR/registry.json` remembers the choice, so a restart on the same DIR
//! finds the same registry (and restarts anvil on the same port with the
//! same state file).
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use candela_api::network::{EvmContracts, RegistryLocation};
use candela_registry::{anvil, EvmAddresses, EvmRegistry, Registry};
use k256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};

/// Which registry `candela devnet --chain` runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainKind {
    /// One SQLite file in the devnet directory.
    Sqlite,
    /// A local anvil, started and stopped with the devnet.
    Anvil,
    /// An EVM chain given by `--rpc-url` (chosen by that flag, not by name).
    #[value(skip)]
    Rpc,
}

/// What `DIR/registry.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Remembered {
    kind: ChainKind,
    location: RegistryLocation,
    /// The anvil port, for `anvil`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anvil_port: Option<u16>,
}

/// The registry of a running devnet.
pub struct DevnetChain {
    /// Where the nodes read the registry.
    pub location: RegistryLocation,
    kind: ChainKind,
    admin: SigningKey,
    anvil: Option<tokio::process::Child>,
}

/// Start anvil on loopback `port`, keeping its chain in `state` across
/// restarts; waits until it answers.
pub async fn start_anvil(port: u16, state: &Path) -> anyhow::Result<tokio::process::Child> {
    let binary = tokio::task::spawn_blocking(|| {
        anvil::binary_or_install(|what| eprintln!("[devnet] {what}"))
    })
    .await??;
    let child = tokio::process::Command::new(binary)
        .args(anvil::args(port))
        .arg("--state")
        .arg(state)
        .args(["--state-interval", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting anvil")?;
    tokio::task::spawn_blocking(move || anvil::wait_for_port(port, Duration::from_secs(30)))
        .await??;
    Ok(child)
}

fn evm_location(rpc_url: &str, a: &EvmAddresses) -> RegistryLocation {
    RegistryLocation::Evm {
        rpc_url: rpc_url.to_string(),
        contracts: EvmContracts {
            chain_id: a.chain_id,
            deployer: a.deployer.to_string(),
            pkp_nft: a.pkp_nft.to_string(),
            pkp_permissions: a.pkp_permissions.to_string(),
            staking: a.staking.to_string(),
            key_deriver: a.key_deriver.to_string(),
        },
    }
}

/// Deploy the contracts to `rpc_url` with `key` (blocking: run it off the
/// async workers).
async fn deploy(rpc_url: &str, key: &SigningKey) -> anyhow::Result<EvmAddresses> {
    let (url, key) = (rpc_url.to_string(), key.clone());
    let addresses =
        tokio::task::spawn_blocking(move || EvmRegistry::deploy_contracts(&url, &key)).await??;
    Ok(addresses)
}

/// Open the registry `DIR/registry.json` names, or create the one the
/// arguments ask for.
pub async fn open_or_create(
    args: &crate::devnet::DevnetArgs,
    dir: &Path,
) -> anyhow::Result<DevnetChain> {
    let wanted = if args.rpc_url.is_some() {
        ChainKind::Rpc
    } else {
        args.chain
    };
    let path = dir.join("registry.json");
    let remembered: Option<Remembered> = match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).context("reading registry.json")?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(r) = &remembered {
        if r.kind != wanted {
            bail!(
                "{} runs on the {:?} registry, not {wanted:?}; use another --dir",
                dir.display(),
                r.kind
            );
        }
    }
    let admin_path = dir.join("admin.key");
    let (admin, anvil, location, anvil_port) = match wanted {
        ChainKind::Sqlite => {
            if !admin_path.exists() {
                let key = SigningKey::random(&mut rand_core::OsRng);
                crate::devnet::write_secret(&admin_path, &hex::encode(key.to_bytes()))?;
            }
            let admin = crate::pkp::signing_key(&std::fs::read_to_string(&admin_path)?)?;
            let location = RegistryLocation::Sqlite {
                path: dir.join("registry.sqlite").display().to_string(),
            };
            (admin, None, location, None)
        }
        ChainKind::Anvil => {
            let admin = anvil::dev_key(0);
            let state = dir.join("anvil-state.json");
            match &remembered {
                Some(r) => {
                    let port = r.anvil_port.context("registry.json: no anvil port")?;
                    let child = start_anvil(port, &state).await?;
                    (admin, Some(child), r.location.clone(), Some(port))
                }
                None => {
                    let port = crate::devnet::free_ports(1)?[0];
                    let child = start_anvil(port, &state).await?;
                    let url = format!("http://127.0.0.1:{port}");
                    let addresses = deploy(&url, &admin).await?;
                    (
                        admin,
                        Some(child),
                        evm_location(&url, &addresses),
                        Some(port),
                    )
                }
            }
        }
        ChainKind::Rpc => {
            let key = args
                .deployer_key
                .as_deref()
                .context("--rpc-url needs --deployer-key (or CANDELA_DEPLOYER_KEY)")?;
            let admin = crate::pkp::signing_key(key)?;
            match &remembered {
                Some(r) => (admin, None, r.location.clone(), None),
                None => {
                    let url = args.rpc_url.clone().unwrap_or_default();
                    let addresses = deploy(&url, &admin).await?;
                    (admin, None, evm_location(&url, &addresses), None)
                }
            }
        }
    };
    if remembered.is_none() {
        let r = Remembered {
            kind: wanted,
            location: location.clone(),
            anvil_port,
        };
        crate::devnet::write_atomic(&path, &serde_json::to_vec_pretty(&r)?)?;
    }
    Ok(DevnetChain {
        location,
        kind: wanted,
        admin,
        anvil,
    })
}

/// Ether given to each node wallet on a devnet's anvil (10 ETH, in wei).
const NODE_FUNDS: u128 = 10_000_000_000_000_000_000;

impl DevnetChain {
    /// Open the registry (as the nodes do).
    pub fn registry(&self) -> anyhow::Result<Box<dyn Registry>> {
        Ok(candela_registry::open(&self.location)?)
    }

    /// The key that administers the node set.
    pub fn admin_key(&self) -> anyhow::Result<SigningKey> {
        Ok(self.admin.clone())
    }

    /// The chain's URL, when the devnet started it (an anvil), for actions.
    pub fn action_rpc_url(&self) -> Option<String> {
        match (&self.location, self.kind) {
            (RegistryLocation::Evm { rpc_url, .. }, ChainKind::Anvil) => Some(rpc_url.clone()),
            _ => None,
        }
    }

    /// On an anvil the devnet started: give each node wallet of `set` ether
    /// from development account 0, so that nodes pay for their kick votes
    /// (on a real chain, the operator funds its node's wallet).
    pub async fn fund_node_wallets(
        &self,
        set: &candela_registry::RegisteredNodeSet,
    ) -> anyhow::Result<()> {
        let Some(url) = self.action_rpc_url() else {
            return Ok(());
        };
        for node in &set.nodes {
            if node.wallet_address != [0u8; 20] {
                candela_registry::anvil::test_tokens::fund(&url, node.wallet_address, NODE_FUNDS)
                    .await?;
            }
        }
        Ok(())
    }

    /// Record the network's root key where the registry needs it: the EVM
    /// registry derives every PKP key from it on-chain (set once).
    pub fn record_root_key(&self, root_hex: &str) -> anyhow::Result<()> {
        let RegistryLocation::Evm { rpc_url, contracts } = &self.location else {
            return Ok(());
        };
        let root = candela_crypto::derive::parse_public_key(root_hex)?;
        let addresses: EvmAddresses = serde_json::from_value(serde_json::to_value(contracts)?)?;
        let reg = EvmRegistry::connect(rpc_url, addresses)?;
        if reg.root_pubkey()? != Some(root) {
            reg.set_root_pubkey(&self.admin, &root)?;
        }
        Ok(())
    }

    /// Stop the anvil the devnet started (SIGTERM, so it saves its state).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.anvil.take() {
            if let Some(pid) = child.id() {
                crate::devnet::send_signal(pid, libc::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}

/// `candela contracts ...`.
#[derive(clap::Subcommand)]
pub enum ContractsCommand {
    /// Deploy PKPNFT, PKPPermissions, Staking and the key deriver to any
    /// Ethereum-compatible chain and print where they are (the JSON a
    /// network's registry location holds).
    Deploy {
        /// The chain's JSON-RPC URL.
        #[arg(long)]
        rpc_url: String,
        /// The deployer's private key (hex); it administers the contracts.
        #[arg(long, env = "CANDELA_DEPLOYER_KEY")]
        private_key: String,
        /// The network root key to set now (it can be set once, later).
        #[arg(long)]
        root_public_key: Option<String>,
    },
    /// Hide a node from the node set Lit's SDK reads (Staking's "kicked"
    /// validators), e.g. while it is down: the SDK handshakes with, and
    /// waits for, every node it sees, so SDK apps then work with the
    /// others. The node keeps its index and key share; `rejoin` shows it
    /// again. Prints the kicked nodes' indices.
    Kick(NodeAdmin),
    /// Show a kicked node to Lit's SDK again.
    Rejoin(NodeAdmin),
    /// Start Staking's next epoch (`advanceEpoch`): the kicked nodes leave
    /// the committee, keeping their index, and the nodes move every key to
    /// the members left. Prints the epoch, committee and threshold.
    AdvanceEpoch(EpochAdmin),
}

/// A network with an EVM registry, and the key of its `Staking` owner.
#[derive(clap::Args, Debug)]
pub struct EpochAdmin {
    /// network.json of the network (default: $CANDELA_NETWORK, else the
    /// devnet's `devnet/network.json`).
    #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
    network: PathBuf,
    /// The `Staking` owner's private key (hex).
    #[arg(long, env = "CANDELA_DEPLOYER_KEY")]
    private_key: String,
}

/// A node of a network with an EVM registry, and the key of its `Staking`
/// owner.
#[derive(clap::Args, Debug)]
pub struct NodeAdmin {
    /// network.json of the network (default: $CANDELA_NETWORK, else the
    /// devnet's `devnet/network.json`).
    #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
    network: PathBuf,
    /// The node's index in network.json.
    #[arg(long)]
    node: usize,
    /// The `Staking` owner's private key (hex): the deployer; anvil's
    /// account 0 on `devnet --chain anvil`.
    #[arg(long, env = "CANDELA_DEPLOYER_KEY")]
    private_key: String,
}

/// Run a `contracts` command.
pub async fn run_contracts(cmd: ContractsCommand) -> anyhow::Result<()> {
    match cmd {
        ContractsCommand::Deploy {
            rpc_url,
            private_key,
            root_public_key,
        } => {
            let key = crate::pkp::signing_key(&private_key)?;
            let addresses = deploy(&rpc_url, &key).await?;
            if let Some(root) = root_public_key {
                let root = candela_crypto::derive::parse_public_key(&root)
                    .context("--root-public-key is not a public key")?;
                let url = rpc_url.clone();
                tokio::task::spawn_blocking(move || {
                    EvmRegistry::connect(&url, addresses)?.set_root_pubkey(&key, &root)
                })
                .await??;
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&evm_location(&rpc_url, &addresses))?
            );
        }
        ContractsCommand::Kick(a) => println!("{}", kick_or_rejoin(a, true).await?),
        ContractsCommand::Rejoin(a) => println!("{}", kick_or_rejoin(a, false).await?),
        ContractsCommand::AdvanceEpoch(a) => {
            let net = crate::cli_io::open_network(&a.network)
                .with_context(|| format!("reading {}", a.network.display()))?
                .network()
                .clone();
            let key = crate::pkp::signing_key(&a.private_key)?;
            let out = tokio::task::spawn_blocking(move || -> anyhow::Result<serde_json::Value> {
                let reg = candela_registry::open_evm(&net.registry)?;
                reg.advance_epoch(&key)?;
                let set = candela_registry::Registry::node_set(&reg)?
                    .context("the registry has no node set")?;
                Ok(serde_json::json!({
                    "epoch": candela_registry::Registry::epoch(&reg)?,
                    "committee": set.committee(),
                    "kicked": set.kicked,
                    "threshold": set.threshold,
                }))
            })
            .await??;
            println!("{out}");
        }
    }
    Ok(())
}

/// Kick (or let back) node `a.node`; answers `{"kicked": [indices]}` after.
async fn kick_or_rejoin(a: NodeAdmin, kick: bool) -> anyhow::Result<String> {
    let net = crate::cli_io::open_network(&a.network)
        .with_context(|| format!("reading {}", a.network.display()))?
        .network()
        .clone();
    let key = crate::pkp::signing_key(&a.private_key)?;
    let identity = |n: &candela_api::network::NodeInfo| -> anyhow::Result<[u8; 32]> {
        hex::decode(&n.identity_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("node {} has no 32-byte identity key", n.index))
    };
    let node = net
        .nodes
        .iter()
        .find(|n| n.index as usize == a.node)
        .with_context(|| {
            let listed: Vec<u32> = net.nodes.iter().map(|n| n.index).collect();
            format!("--node {}: the network's nodes are {listed:?}", a.node)
        })?;
    let target = identity(node)?;
    let keys = net
        .nodes
        .iter()
        .map(|n| Ok((n.index as usize, identity(n)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let location = net.registry.clone();
    let kicked = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<usize>> {
        let reg = candela_registry::open_evm(&location)?;
        if kick {
            reg.kick_node(&key, &target)?;
        } else {
            reg.rejoin_node(&key, &target)?;
        }
        let kicked = reg.kicked_nodes()?;
        Ok(keys
            .iter()
            .filter(|(_, k)| kicked.contains(k))
            .map(|(i, _)| *i)
            .collect())
    })
    .await??;
    Ok(serde_json::json!({ "kicked": kicked }).to_string())
}
