//! `candela devnet` and `candela quickstart`: a local network of real node
//! processes on loopback.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use candela_api::network::NetworkInfo;
use candela_client::Client;
use candela_node::config::{ActionsConfig, AuthConfig, EcdsaProtocol, NodeConfig, PoolConfig};
use candela_node::peer::Identity;
use candela_registry::{RegisteredNode, RegisteredNodeSet};
use rand_core::RngCore;
use tokio::process::Child;

#[derive(clap::Args, Clone)]
pub struct DevnetArgs {
    /// Number of nodes (3 to 10).
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Directory holding the network's state (reused on restart).
    #[arg(long, default_value = "devnet")]
    pub dir: PathBuf,
    /// First port; nodes listen on consecutive ports. 0 picks free ports.
    #[arg(long, default_value_t = 7470)]
    pub base_port: u16,
    /// Free presignatures the pool keeps in stock.
    #[arg(long, default_value_t = 64)]
    pub pool_target: usize,
    /// Presignatures generated per session.
    #[arg(long, default_value_t = 4)]
    pub pool_batch: usize,
    /// Generation sessions run at once.
    #[arg(long, default_value_t = 2)]
    pub pool_concurrency: usize,
    /// Wall-time limit of one action run, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub action_wall_time_ms: u64,
    /// Signatures one action run may ask for.
    #[arg(long, default_value_t = 10)]
    pub action_max_signatures: u32,
    /// A chain's JSON-RPC URL for actions (`Lit.Actions.getRpcUrl`,
    /// `getLatestNonce`), as NAME=URL; repeatable.
    #[arg(long = "chain-rpc", value_name = "NAME=URL")]
    pub chain_rpc: Vec<String>,
    /// Another chain whose recent block hashes nodes accept as SIWE nonces
    /// (besides the registry chain's), by JSON-RPC URL; repeatable. Give an
    /// Ethereum mainnet RPC so that Lit JS SDK apps with internet access
    /// keep working after the SDK's first 30 s (it then takes an Ethereum
    /// block hash from Lit's block indexer as its nonce).
    #[arg(long = "nonce-chain-rpc", value_name = "URL")]
    pub nonce_chain_rpc: Vec<String>,
    /// Where PKPs, permissions and the node set live: `sqlite` (one file in
    /// --dir) or `anvil` (a local anvil started with the devnet, the
    /// contracts of contracts/ deployed to it); for another EVM chain give
    /// --rpc-url instead.
    #[arg(long, value_enum, default_value_t = crate::chain::ChainKind::Sqlite)]
    pub chain: crate::chain::ChainKind,
    /// Run the registry on the EVM chain at this JSON-RPC URL: the contracts
    /// are deployed there with --deployer-key.
    #[arg(long, conflicts_with = "chain")]
    pub rpc_url: Option<String>,
    /// The deployer's key for --rpc-url (it administers the node set).
    #[arg(long, env = "CANDELA_DEPLOYER_KEY", requires = "rpc_url")]
    pub deployer_key: Option<String>,
    /// Requests one identity may make per minute, per node (0: unlimited).
    #[arg(long, default_value_t = 10_000)]
    pub rate_limit_per_minute: u32,
    /// Actions one identity may run at once, per node (0: unlimited).
    #[arg(long, default_value_t = 64)]
    pub max_concurrent_actions: u32,
    /// Print no progress.
    #[arg(long)]
    pub quiet: bool,
    /// Tests only: node INDEX misbehaves as MODE (e.g. `2=bad-bls-share`);
    /// repeatable.
    #[arg(long, value_name = "INDEX=MODE", hide = true)]
    pub misbehave: Vec<String>,
    /// The threshold-ECDSA protocol, fixed when the network is created
    /// (default cait-sith); a restarted devnet keeps its own.
    #[arg(long, value_enum)]
    pub ecdsa: Option<EcdsaChoice>,
    /// Proactively refresh every root key's shares every this many seconds
    /// (clock-aligned epochs; keys and addresses stay). Off when absent.
    #[arg(long = "refresh-every", value_name = "SECONDS")]
    pub refresh_every: Option<u64>,
    /// Each node votes to kick a member of the committee it has not heard
    /// from for this many seconds; the threshold of votes kicks it and the
    /// keys move to the members left. Off when absent.
    #[arg(long = "kick-after", value_name = "SECONDS")]
    pub kick_after: Option<u64>,
}

/// `--ecdsa`: the threshold-ECDSA protocol of a new network.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcdsaChoice {
    /// cait-sith: a presignature pool, one round at signing time.
    #[value(name = "cait-sith")]
    CaitSith,
    /// DKLs23: three rounds among t signers per signature, no pool.
    #[value(name = "dkls23")]
    Dkls23,
}

impl From<EcdsaChoice> for EcdsaProtocol {
    fn from(c: EcdsaChoice) -> Self {
        match c {
            EcdsaChoice::CaitSith => EcdsaProtocol::CaitSith,
            EcdsaChoice::Dkls23 => EcdsaProtocol::Dkls23,
        }
    }
}

/// File under the devnet's directory that records its ECDSA protocol.
const ECDSA_FILE: &str = "ecdsa-protocol.json";

/// The network's ECDSA protocol: the one recorded at its creation, or (for
/// a new network) `--ecdsa`, then recorded. A restart asking for another
/// protocol than the recorded one is refused.
fn ecdsa_protocol(
    dir: &Path,
    asked: Option<EcdsaChoice>,
    new: bool,
) -> anyhow::Result<EcdsaProtocol> {
    let path = dir.join(ECDSA_FILE);
    let asked = asked.map(EcdsaProtocol::from);
    if path.exists() {
        let recorded: EcdsaProtocol = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("reading {}", path.display()))?;
        if let Some(a) = asked.filter(|a| *a != recorded) {
            bail!(
                "{} holds a {} network, not {}; use another --dir",
                dir.display(),
                recorded.name(),
                a.name()
            );
        }
        return Ok(recorded);
    }
    // a network made before the protocol was recorded runs cait-sith
    let chosen = if new {
        asked.unwrap_or_default()
    } else {
        EcdsaProtocol::CaitSith
    };
    if !new && asked.is_some_and(|a| a != chosen) {
        bail!(
            "{} holds a cait-sith network; use another --dir",
            dir.display()
        );
    }
    write_atomic(&path, &serde_json::to_vec(&chosen)?)?;
    Ok(chosen)
}

#[derive(clap::Args)]
pub struct QuickstartArgs {
    #[command(flatten)]
    pub devnet: DevnetArgs,
    /// Owner key for the demo PKP (a random one if absent).
    #[arg(long)]
    pub private_key: Option<String>,
}

/// A running devnet.
pub struct Devnet {
    pub dir: PathBuf,
    pub network_path: PathBuf,
    pub children: Vec<Child>,
    /// The registry it runs on (and the anvil it started, if any).
    pub chain: crate::chain::DevnetChain,
}

pub fn write_secret(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    Ok(())
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()).unwrap_or(0))
        .collect())
}

fn progress(quiet: bool, line: &str) {
    if !quiet {
        eprint!("\r\x1b[2K[devnet] {line}");
        let _ = std::io::stderr().flush();
    }
}

/// Create (or reuse) the node set under `dir` and start every node.
pub async fn start(args: &DevnetArgs) -> anyhow::Result<Devnet> {
    if !(3..=10).contains(&args.nodes) {
        bail!("--nodes must be between 3 and 10, got {}", args.nodes);
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let mut rpc_urls = std::collections::BTreeMap::new();
    for entry in &args.chain_rpc {
        let Some((name, url)) = entry.split_once('=') else {
            bail!("--chain-rpc wants NAME=URL, got {entry:?}");
        };
        rpc_urls.insert(name.to_string(), url.to_string());
    }
    let chain = crate::chain::open_or_create(args, &dir).await?;
    if let Some(url) = chain.action_rpc_url() {
        // the registry's chain is also readable from actions, as "anvil"
        rpc_urls.entry("anvil".to_string()).or_insert(url);
    }
    let registry = chain.registry()?;
    let existing = registry.node_set()?;
    let ecdsa = ecdsa_protocol(&dir, args.ecdsa, existing.is_none())?;
    let set = match existing {
        Some(set) => {
            if set.nodes.len() != args.nodes {
                bail!(
                    "{} holds a network of {} nodes, not {}; use another --dir",
                    dir.display(),
                    set.nodes.len(),
                    args.nodes
                );
            }
            set
        }
        None => {
            let ports: Vec<u16> = if args.base_port == 0 {
                free_ports(args.nodes)?
            } else {
                (0..args.nodes as u16).map(|i| args.base_port + i).collect()
            };
            let mut nodes = Vec::new();
            for (i, port) in ports.iter().enumerate() {
                let node_dir = dir.join(format!("node-{i}"));
                std::fs::create_dir_all(&node_dir)?;
                let id = Identity::generate();
                let key_path = node_dir.join("storage.key");
                if !key_path.exists() {
                    let mut storage_key = [0u8; 32];
                    rand_core::OsRng.fill_bytes(&mut storage_key);
                    write_secret(&key_path, &hex::encode(storage_key))?;
                }
                let storage_key = hex::decode(std::fs::read_to_string(&key_path)?.trim())
                    .context("the storage key file is not hex")?;
                // the identity rests sealed with the storage key, like the
                // key shares in the node's store
                let id_path = node_dir.join("identity.key");
                if id_path.exists() {
                    std::fs::remove_file(&id_path)?;
                }
                id.write_sealed(&id_path, &storage_key)?;
                nodes.push(RegisteredNode {
                    url: format!("http://127.0.0.1:{port}"),
                    identity_key: id.identity_key_bytes(),
                    encryption_key: id.encryption_key_bytes(),
                    wallet_address: id.wallet_address(),
                });
            }
            let set = RegisteredNodeSet {
                nodes,
                threshold: candela_crypto::threshold_for(args.nodes),
                ..Default::default()
            };
            registry.set_node_set(&chain.admin_key()?, &set)?;
            chain.fund_node_wallets(&set).await?;
            set
        }
    };
    let nodes = candela_node::node::node_infos(&set);
    ports_free(&nodes)?;
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for n in &nodes {
        let node_dir = dir.join(format!("node-{}", n.index));
        let listen = n.url.trim_start_matches("http://").to_string();
        let cfg = NodeConfig {
            listen,
            data_dir: node_dir.clone(),
            registry: chain.location.clone(),
            identity_file: node_dir.join("identity.key"),
            storage_key_file: Some(node_dir.join("storage.key")),
            pool: PoolConfig {
                target: args.pool_target,
                refill_concurrency: args.pool_concurrency,
                batch: args.pool_batch,
                ..PoolConfig::default()
            },
            max_body_bytes: 1024 * 1024,
            peer_timeout_ms: 2000,
            actions: ActionsConfig {
                wall_time_ms: args.action_wall_time_ms,
                signatures: args.action_max_signatures,
                // a devnet lives on loopback: its actions may fetch from it
                fetch_allow_loopback: true,
                rpc_urls: rpc_urls.clone(),
                ..ActionsConfig::default()
            },
            auth: AuthConfig {
                // the domains Lit's SDK v7 writes by default: `localhost`
                // (wallet SIWE messages) and `litprotocol.com` (the SIWE
                // message of a PKP session, `signSessionKey`)
                allowed_domains: vec!["localhost".into(), "litprotocol.com".into()],
                check_nonce: true,
                nonce_chain_rpc_urls: args.nonce_chain_rpc.clone(),
                requests_per_minute: args.rate_limit_per_minute,
                concurrent_actions: args.max_concurrent_actions,
                ..AuthConfig::default()
            },
            misbehave: misbehaviour_of(&args.misbehave, n.index as usize)?,
            ecdsa,
            refresh_interval_secs: args.refresh_every,
            kick_after_secs: args.kick_after,
        };
        let cfg_path = node_dir.join("config.json");
        write_atomic(&cfg_path, &serde_json::to_vec_pretty(&cfg)?)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node_dir.join("node.log"))?;
        let child = tokio::process::Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(&cfg_path)
            .env(
                "CANDELA_LOG",
                std::env::var("CANDELA_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting a node process")?;
        if let Some(pid) = child.id() {
            std::fs::write(node_dir.join("pid"), pid.to_string())?;
        }
        children.push(child);
    }
    let network_path = dir.join("network.json");
    let mut devnet = Devnet {
        dir: dir.clone(),
        network_path: network_path.clone(),
        children,
        chain,
    };
    let probe = NetworkInfo {
        nodes,
        threshold: set.threshold,
        // A client view without a root key yet, for status polling only.
        root_public_key: candela_crypto::derive::public_key_hex(
            &candela_crypto::ProjectivePoint::GENERATOR.to_affine(),
        ),
        registry: devnet.chain.location.clone(),
        ecdsa_protocol: ecdsa.name().to_string(),
        bls_public_key: None,
        bls_public_shares: Default::default(),
        rpc_url: None,
        staking_address: None,
    };
    wait_until_ready(&mut devnet, probe, args.quiet).await?;
    Ok(devnet)
}

/// Refuse to start when a node's port is taken: another devnet (or any
/// program) listening there would otherwise answer for this one, and this
/// devnet would report that one's state as its own.
fn ports_free(nodes: &[candela_api::network::NodeInfo]) -> anyhow::Result<()> {
    for n in nodes {
        let addr = n.url.trim_start_matches("http://");
        if let Err(e) = std::net::TcpListener::bind(addr) {
            bail!(
                "node {}'s address {addr} is busy ({e}): another devnet or program listens there; \
                 stop it, or give this devnet another --dir with --base-port N (0 picks free ports)",
                n.index
            );
        }
    }
    Ok(())
}

async fn wait_until_ready(
    devnet: &mut Devnet,
    probe: NetworkInfo,
    quiet: bool,
) -> anyhow::Result<()> {
    let set = probe.clone();
    let client = Client::new(probe)?;
    let started = Instant::now();
    let n = set.nodes.len();
    loop {
        for (i, c) in devnet.children.iter_mut().enumerate() {
            if let Some(status) = c.try_wait()? {
                bail!(
                    "node {i} exited ({status}); see {}/node-{i}/node.log",
                    devnet.dir.display()
                );
            }
        }
        let st = client.statuses().await;
        let up = st.iter().filter(|s| s.is_some()).count();
        let ready: Vec<_> = st.iter().flatten().filter(|s| s.ready).collect();
        let roots: std::collections::BTreeSet<_> = ready
            .iter()
            .filter_map(|s| s.root_public_key.clone())
            .collect();
        let free = st
            .iter()
            .flatten()
            .map(|s| s.presignatures_free)
            .max()
            .unwrap_or(0);
        progress(
            quiet,
            &format!(
                "nodes up {up}/{n} · root key shares {}/{n} · presignatures ready {free}",
                ready.len()
            ),
        );
        let bls_roots: std::collections::BTreeSet<_> = ready
            .iter()
            .filter_map(|s| s.bls_public_key.clone())
            .collect();
        // every node must report the same public shares, one per node
        let bls_shares: std::collections::BTreeSet<_> =
            ready.iter().map(|s| s.bls_public_shares.clone()).collect();
        let shares_agree = bls_shares.len() == 1 && bls_shares.iter().all(|m| m.len() == n);
        // a DKLs23 network keeps no presignature pool
        let pool_ready = free >= 1 || set.ecdsa_protocol == candela_node::config::DKLS23_NAME;
        if ready.len() == n
            && roots.len() == 1
            && bls_roots.len() == 1
            && shares_agree
            && pool_ready
        {
            let root = roots.into_iter().next().unwrap_or_default();
            devnet.chain.record_root_key(&root)?;
            let (rpc_url, staking_address) = set.registry.chain_view();
            let info = NetworkInfo {
                nodes: set.nodes.clone(),
                threshold: set.threshold,
                root_public_key: root,
                bls_public_key: bls_roots.into_iter().next(),
                bls_public_shares: bls_shares.into_iter().next().unwrap_or_default(),
                registry: set.registry.clone(),
                ecdsa_protocol: set.ecdsa_protocol.clone(),
                rpc_url,
                staking_address,
            };
            write_atomic(&devnet.network_path, &serde_json::to_vec_pretty(&info)?)?;
            if !quiet {
                eprintln!();
            }
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!(
                "the network did not become ready in 10 minutes; see the node logs under {}",
                devnet.dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

impl Devnet {
    /// Stop every node: SIGTERM, then SIGKILL after 5 s.
    pub async fn stop(mut self) {
        for c in &self.children {
            if let Some(pid) = c.id() {
                // SAFETY-free: libc::kill only sends a signal to our own child.
                send_signal(pid, libc::SIGTERM);
            }
        }
        for c in &mut self.children {
            if tokio::time::timeout(Duration::from_secs(5), c.wait())
                .await
                .is_err()
            {
                let _ = c.kill().await;
            }
        }
        self.chain.stop().await;
    }
}

pub fn send_signal(pid: u32, sig: i32) {
    #[allow(unsafe_code)]
    // SAFETY: kill(2) with a pid of our own child process has no memory effects.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

pub async fn run(args: DevnetArgs) -> anyhow::Result<()> {
    let mut devnet = start(&args).await?;
    let info: NetworkInfo = serde_json::from_slice(&std::fs::read(&devnet.network_path)?)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "network": devnet.network_path,
            "nodes": info.nodes.iter().map(|n| &n.url).collect::<Vec<_>>(),
            "threshold": info.threshold,
            "rootPublicKey": info.root_public_key,
            "chain": chain_facts(&devnet),
        }))?
    );
    if let Some(rpc_url) = devnet.chain.action_rpc_url() {
        let (key, address) = funded_dev_key();
        eprintln!(
            "[devnet] chain: {rpc_url} (actions read it as chain \"anvil\": Lit.Actions.getRpcUrl({{chain: \"anvil\"}}))"
        );
        eprintln!(
            "[devnet] funded development key: {key} (address {address}); never use it elsewhere"
        );
    }
    eprintln!("[devnet] ready; press Ctrl-C to stop");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut reported = vec![false; devnet.children.len()];
    let shutdown = candela_node::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {
                for (i, c) in devnet.children.iter_mut().enumerate() {
                    if !reported[i] {
                        if let Ok(Some(status)) = c.try_wait() {
                            eprintln!("[devnet] node {i} exited ({status})");
                            reported[i] = true;
                        }
                    }
                }
            }
        }
    }
    eprintln!("[devnet] stopping nodes");
    devnet.stop().await;
    Ok(())
}

/// Anvil's development key 1 (key 0 administers the node set), funded on
/// every anvil: `(private key hex with 0x, checksummed address)`.
fn funded_dev_key() -> (String, String) {
    let key = candela_registry::anvil::dev_key(1);
    let address = candela_crypto::derive::checksum_address(&candela_crypto::derive::eth_address(
        key.verifying_key().as_affine(),
    ));
    (format!("0x{}", hex::encode(key.to_bytes())), address)
}

/// What `candela devnet` prints about its chain: the RPC URL, the name
/// actions use, and a funded development key (anvil only).
fn chain_facts(devnet: &Devnet) -> serde_json::Value {
    match devnet.chain.action_rpc_url() {
        Some(rpc_url) => {
            let (key, address) = funded_dev_key();
            serde_json::json!({
                "rpcUrl": rpc_url,
                "name": "anvil",
                "fundedKey": key,
                "fundedAddress": address,
            })
        }
        None => serde_json::Value::Null,
    }
}

/// The quickstart's action (also in `examples/actions/prime.js`).
pub const PRIME_ACTION: &str = include_str!("../../../examples/actions/prime.js");

/// Recover the Ethereum address that signed `digest`.
fn recover_address(
    sig: &candela_crypto::ecdsa::Signature,
    digest: &[u8; 32],
) -> anyhow::Result<String> {
    let eth = sig.to_eth_bytes();
    let s = k256::ecdsa::Signature::from_slice(&eth[..64])?;
    let recid = k256::ecdsa::RecoveryId::from_byte(sig.recid)
        .ok_or_else(|| anyhow::anyhow!("bad recovery id {}", sig.recid))?;
    let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(digest, &s, recid)?;
    Ok(candela_crypto::derive::checksum_address(
        &candela_crypto::derive::eth_address(vk.as_affine()),
    ))
}

pub async fn quickstart(args: QuickstartArgs) -> anyhow::Result<()> {
    let devnet = start(&args.devnet).await?;
    let result = async {
        let client = crate::cli_io::open_network(&devnet.network_path)?;
        let caller = match &args.private_key {
            Some(k) => crate::pkp::signing_key(k)?,
            None => k256::ecdsa::SigningKey::random(&mut rand_core::OsRng),
        };
        // 1. deploy the action to every node
        let (cid, _) = client.deploy_action(PRIME_ACTION.as_bytes()).await?;
        eprintln!("[quickstart] deployed the prime-checking action as {cid}");
        // 2. mint a PKP that only this action can use: mint, grant, burn
        let (rec, minted) = crate::pkp::mint_with_actions(&client, &caller, &[&cid], true).await?;
        eprintln!(
            "[quickstart] minted PKP {} bound to {cid} (owner burned)",
            minted["ethAddress"].as_str().unwrap_or_default()
        );
        use sha3::Digest;
        let message = "hello from candela";
        let digest: [u8; 32] = sha3::Keccak256::digest(message.as_bytes()).into();
        let pk = candela_crypto::derive::public_key_hex(&rec.public_key);
        let params =
            |n: u64| serde_json::json!({"number": n, "toSign": digest.to_vec(), "publicKey": pk});
        let source = candela_client::ActionSource::IpfsId(cid.clone());
        // 3. a prime: the action signs
        let prime = 7919u64;
        let yes = client
            .execute(&source, Some(params(prime)), &caller)
            .await?;
        let sig = yes
            .signatures
            .get("prime")
            .ok_or_else(|| anyhow::anyhow!("the action did not sign {prime}: {}", yes.response))?;
        // Independent check with plain k256: verify and recover the address.
        sig.signature.verify(&rec.public_key, &digest)?;
        let recovered = recover_address(&sig.signature, &digest)?;
        let expected = candela_crypto::derive::checksum_address(
            &candela_crypto::derive::eth_address(&rec.public_key),
        );
        if recovered != expected {
            anyhow::bail!("recovered {recovered}, expected the PKP address {expected}");
        }
        eprintln!("[quickstart] {prime} is prime: signed by {recovered}");
        // 4. not a prime: no signature, and the action says why
        let composite = 7917u64;
        let no = client
            .execute(&source, Some(params(composite)), &caller)
            .await?;
        if !no.signatures.is_empty() {
            anyhow::bail!("the action signed for {composite}, which is not prime");
        }
        let reason = serde_json::from_str::<serde_json::Value>(&no.response)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_string))
            .unwrap_or_else(|| no.response.clone());
        eprintln!("[quickstart] {composite}: no signature ({reason})");
        let out = serde_json::json!({
            "action": {"ipfsId": cid, "source": "examples/actions/prime.js"},
            "pkp": minted,
            "message": message,
            "digest": format!("0x{}", hex::encode(digest)),
            "prime": {
                "number": prime,
                "response": yes.response,
                "signature": crate::action::outcome_json(&yes)["signatures"]["prime"],
                "recoveredAddress": recovered,
                "verified": true,
            },
            "notPrime": {
                "number": composite,
                "response": no.response,
                "reason": reason,
                "signed": false,
            },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    devnet.stop().await;
    result
}

/// The misbehaviour `--misbehave INDEX=MODE` gives node `node`, if any.
fn misbehaviour_of(
    specs: &[String],
    node: usize,
) -> anyhow::Result<Option<candela_node::config::Misbehaviour>> {
    for spec in specs {
        let (index, mode) = spec
            .split_once('=')
            .with_context(|| format!("--misbehave {spec:?}: expected INDEX=MODE"))?;
        let index: usize = index
            .parse()
            .with_context(|| format!("--misbehave {spec:?}: {index:?} is not a node index"))?;
        if index == node {
            let mode = serde_json::from_value(serde_json::Value::String(mode.into()))
                .with_context(|| format!("--misbehave {spec:?}: unknown mode {mode:?}"))?;
            return Ok(Some(mode));
        }
    }
    Ok(None)
}
