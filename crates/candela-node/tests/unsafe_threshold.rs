//! A node refuses to start on a node set whose threshold is not more than
//! two thirds of its size (issue 15, item 5): a real SQLite registry, a
//! real sealed identity, `Node::start` as `candela node` calls it.

use candela_api::network::RegistryLocation;
use candela_node::config::{ActionsConfig, AuthConfig, NodeConfig, PoolConfig};
use candela_node::node::Node;
use candela_node::peer::Identity;
use candela_registry::{RegisteredNode, RegisteredNodeSet, SigningKey};

fn start_node_of_a_set_with_threshold(n: usize, t: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let registry_path = dir.path().join("registry.sqlite");
    let location = RegistryLocation::Sqlite {
        path: registry_path.to_string_lossy().into_owned(),
    };
    let storage_key = [7u8; 32];
    let mut nodes = Vec::new();
    let mut first = None;
    for i in 0..n {
        let id = Identity::generate();
        nodes.push(RegisteredNode {
            url: format!("http://127.0.0.1:{}", 47100 + i),
            identity_key: id.identity_key_bytes(),
            encryption_key: id.encryption_key_bytes(),
            wallet_address: id.wallet_address(),
        });
        first.get_or_insert(id);
    }
    let registry = candela_registry::open(&location)?;
    let admin = SigningKey::from_slice(&[9u8; 32])?;
    registry.set_node_set(
        &admin,
        &RegisteredNodeSet {
            nodes,
            threshold: t,
            ..Default::default()
        },
    )?;
    let identity_file = dir.path().join("identity.key");
    first
        .expect("at least one node")
        .write_sealed(&identity_file, &storage_key)?;
    let storage_key_file = dir.path().join("storage.key");
    std::fs::write(&storage_key_file, hex::encode(storage_key))?;
    let cfg = NodeConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("node"),
        registry: location,
        identity_file,
        storage_key_file: Some(storage_key_file),
        pool: PoolConfig {
            target: 0,
            ..PoolConfig::default()
        },
        max_body_bytes: 1024 * 1024,
        peer_timeout_ms: 500,
        actions: ActionsConfig::default(),
        auth: AuthConfig::default(),
        misbehave: None,
        ecdsa: Default::default(),
        refresh_interval_secs: None,
        kick_after_secs: None,
    };
    Node::start(cfg).map(|_| ())
}

#[tokio::test]
async fn a_node_set_whose_threshold_is_two_thirds_or_less_is_refused_at_start() {
    for (n, t) in [(3, 2), (4, 2), (6, 4), (7, 4)] {
        let why = start_node_of_a_set_with_threshold(n, t)
            .expect_err("an unsafe threshold must stop the node")
            .to_string();
        assert!(
            why.contains(&format!("threshold {t} for {n} nodes is not safe"))
                && why.contains("floor(2n/3)+1"),
            "n = {n}, t = {t}: {why}"
        );
    }
    // the same set with a safe threshold starts
    start_node_of_a_set_with_threshold(4, 3).expect("t = 3 of 4 is safe");
}
