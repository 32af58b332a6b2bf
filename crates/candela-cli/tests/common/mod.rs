//! A real devnet for end-to-end tests: `candela devnet` as a child process,
//! node processes on loopback ports, torn down on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use candela_client::Client;

pub const BIN: &str = env!("CARGO_BIN_EXE_candela");

pub struct TestNet {
    pub dir: tempfile::TempDir,
    pub devnet: Option<Child>,
    pub extra: Vec<Child>,
    pub nodes: usize,
    pub args: Vec<String>,
}

pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a process this test started; no memory effects.
    unsafe {
        libc::kill(pid, sig);
    }
}

pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

impl TestNet {
    /// Start a devnet of `n` nodes with a small pool (extra devnet flags may override).
    pub fn start(n: usize, extra_args: &[&str]) -> TestNet {
        let mut args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        for (flag, value) in [
            ("--pool-target", "8"),
            ("--pool-batch", "2"),
            ("--pool-concurrency", "1"),
        ] {
            if !extra_args.contains(&flag) {
                args.push(flag.into());
                args.push(value.into());
            }
        }
        // A fresh devnet picks free ports and binds them a moment later; with
        // many tests in parallel another process can take one in between.
        // Such a start fails at once: retry it with new ports.
        let mut attempt = 0;
        loop {
            let mut net = TestNet {
                dir: tempfile::tempdir().expect("tempdir"),
                devnet: None,
                extra: Vec::new(),
                nodes: n,
                args: args.clone(),
            };
            match net.try_launch() {
                Ok(()) => return net,
                Err(e) if attempt < 2 => {
                    eprintln!("devnet start failed ({e}); retrying with new ports");
                    attempt += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn network_path(&self) -> PathBuf {
        self.path().join("network.json")
    }

    /// Start `candela devnet` on this directory and wait for network.json.
    pub fn launch(&mut self) {
        if let Err(e) = self.try_launch() {
            panic!("{e}");
        }
    }

    /// Like [`TestNet::launch`], but an early exit of the devnet is an error.
    pub fn try_launch(&mut self) -> Result<(), String> {
        let _ = std::fs::remove_file(self.network_path());
        let child = Command::new(BIN)
            .arg("devnet")
            .arg("--nodes")
            .arg(self.nodes.to_string())
            .arg("--dir")
            .arg(self.path())
            .arg("--base-port")
            .arg("0")
            .arg("--quiet")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn devnet");
        self.devnet = Some(child);
        let deadline = Instant::now() + Duration::from_secs(600);
        while !self.network_path().exists() {
            if let Some(c) = self.devnet.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    return Err(format!("devnet exited early: {status}"));
                }
            }
            assert!(Instant::now() < deadline, "devnet not ready in time");
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    pub fn client(&self) -> Client {
        Client::from_file(&self.network_path()).expect("client")
    }

    pub fn node_pid(&self, i: usize) -> i32 {
        std::fs::read_to_string(self.path().join(format!("node-{i}/pid")))
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid")
    }

    /// Run `candela ARGS --dir <this devnet>`, which must succeed; its
    /// standard output as JSON.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new(BIN)
            .args(args)
            .arg("--dir")
            .arg(self.path())
            .output()
            .unwrap_or_else(|e| panic!("candela {args:?}: {e}"));
        assert!(
            out.status.success(),
            "candela {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    }

    /// Print the last lines of the first `n` nodes' logs (presignature and
    /// debug lines left out), for a test about to fail.
    pub fn dump_logs(&self, n: usize) {
        for j in 0..n {
            let log = std::fs::read_to_string(self.path().join(format!("node-{j}/node.log")))
                .unwrap_or_default();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| !l.contains("presign") && !l.contains("DEBUG"))
                .collect();
            eprintln!(
                "--- node {j}\n{}",
                lines[lines.len().saturating_sub(15)..].join("\n")
            );
        }
    }

    /// SIGKILL node i (a crash).
    pub fn crash_node(&self, i: usize) {
        let pid = self.node_pid(i);
        signal(pid, libc::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start node i again from its config, as the test's own child.
    pub fn restart_node(&mut self, i: usize) {
        let cfg = self.path().join(format!("node-{i}/config.json"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join(format!("node-{i}/node.log")))
            .expect("log");
        let child = Command::new(BIN)
            .arg("node")
            .arg("--config")
            .arg(cfg)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("restart node");
        std::fs::write(
            self.path().join(format!("node-{i}/pid")),
            child.id().to_string(),
        )
        .expect("pid");
        self.extra.push(child);
    }

    /// Stop the devnet gracefully (SIGTERM) and wait for it and its nodes.
    pub fn stop(&mut self) {
        let pids: Vec<i32> = (0..self.nodes)
            .filter_map(|i| {
                std::fs::read_to_string(self.path().join(format!("node-{i}/pid")))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            })
            .collect();
        if let Some(mut c) = self.devnet.take() {
            signal(c.id() as i32, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for mut c in self.extra.drain(..) {
            signal(c.id() as i32, libc::SIGTERM);
            let _ = c.wait();
        }
        for pid in pids {
            if alive(pid) {
                signal(pid, libc::SIGKILL);
            }
        }
    }

    /// Wait until the pool holds at least `min_free` presignatures (a test
    /// precondition, not a property under test).
    pub async fn wait_pool(&self, min_free: u64) {
        let client = self.client();
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let free = client
                .statuses()
                .await
                .iter()
                .flatten()
                .map(|s| s.presignatures_free)
                .max()
                .unwrap_or(0);
            if free >= min_free {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pool stuck at {free} presignatures"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Wait until every live node sees `expected_live` peers.
    pub async fn wait_live(&self, expected_live: usize) {
        let client = self.client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let st = client.statuses().await;
            let ok = st
                .iter()
                .flatten()
                .all(|s| s.live_peers.len() == expected_live)
                && st.iter().flatten().count() == expected_live;
            if ok || Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A random owner key.
pub fn owner() -> k256::ecdsa::SigningKey {
    k256::ecdsa::SigningKey::random(&mut rand_core::OsRng)
}

/// Mint through the CLI and parse its JSON.
pub fn mint_cli(net: &TestNet, owner: &k256::ecdsa::SigningKey) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["pkp", "mint", "--json", "--network"])
        .arg(net.network_path())
        .arg("--private-key")
        .arg(hex::encode(owner.to_bytes()))
        .output()
        .expect("mint");
    assert!(
        out.status.success(),
        "mint failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("mint json")
}

pub fn random_digest() -> [u8; 32] {
    use rand_core::RngCore;
    let mut d = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut d);
    d
}

/// `err` says `valid` shares verified, and names exactly `liar` as the node
/// that misbehaved.
pub fn assert_only_liar_named(err: candela_client::ClientError, valid: usize, liar: u32) {
    match err {
        candela_client::ClientError::NotEnoughShares {
            faults, valid: got, ..
        } => {
            assert_eq!(got, valid);
            let named: Vec<_> = faults
                .iter()
                .filter(|f| f.misbehaved)
                .map(|f| f.node)
                .collect();
            assert_eq!(named, vec![liar], "{faults:?}");
        }
        other => panic!("{other}"),
    }
}

/// The network's registry, as the nodes open it.
pub fn registry(client: &Client) -> Box<dyn candela_registry::Registry> {
    candela_registry::open(&client.network().registry).expect("registry")
}

/// Serve `app` on a free loopback port in the background; its address.
pub async fn serve_loopback(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Wait until every node is ready and reports both FROST roots.
pub async fn wait_schnorr(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let st = client.statuses().await;
        let all = st.iter().all(|s| {
            s.as_ref().is_some_and(|s| {
                s.ready && s.ed25519_public_key.is_some() && s.k256_taproot_public_key.is_some()
            })
        });
        if all {
            let keys: std::collections::BTreeSet<_> = st
                .iter()
                .flatten()
                .map(|s| {
                    (
                        s.ed25519_public_key.clone(),
                        s.k256_taproot_public_key.clone(),
                    )
                })
                .collect();
            assert_eq!(keys.len(), 1, "every node holds the same FROST roots");
            return;
        }
        assert!(Instant::now() < deadline, "FROST roots not ready: {st:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Access-control conditions that only `owner`'s wallet meets.
pub fn owner_only_conditions(owner: &k256::ecdsa::SigningKey) -> serde_json::Value {
    let address = candela_crypto::derive::checksum_address(&candela_crypto::derive::eth_address(
        owner.verifying_key().as_affine(),
    ));
    serde_json::json!({"accessControlConditions": [{
        "contractAddress": "",
        "standardContractType": "",
        "chain": "ethereum",
        "method": "",
        "parameters": [":userAddress"],
        "returnValueTest": {"comparator": "=", "value": address}
    }]})
}

/// Mint an Ed25519 PKP owned by `owner` (no grants).
pub fn mint_ed25519(
    client: &Client,
    owner: &k256::ecdsa::SigningKey,
) -> candela_registry::PkpRecord {
    registry(client)
        .mint_typed(
            owner,
            client.root_public_key(),
            candela_registry::PkpKeyType::Ed25519,
            &[],
            false,
        )
        .expect("mint an Ed25519 PKP")
}

/// Sign `msg` with the Ed25519 PKP `pkp` and check the signature with
/// ed25519-dalek under the PKP's key.
pub async fn sign_ed25519_verified(
    client: &Client,
    auth: &candela_client::RequestAuth,
    pkp: &k256::AffinePoint,
    msg: &[u8],
) {
    let ed = client
        .pkp_sign_schnorr(
            auth,
            pkp,
            candela_client::SigningScheme::SchnorrEd25519Sha512,
            msg,
        )
        .await
        .expect("Ed25519 signature");
    let vk = ed25519_dalek::VerifyingKey::from_bytes(
        ed.public_key.as_slice().try_into().expect("32 bytes"),
    )
    .expect("ed25519 key");
    vk.verify_strict(
        msg,
        &ed25519_dalek::Signature::from_slice(&ed.signature).expect("64 bytes"),
    )
    .expect("the Ed25519 signature verifies under the PKP's key");
}

/// Node `i`'s status once it answers ready with every root key.
pub async fn ready_status(client: &Client, i: usize) -> candela_api::v7::NodeStatus {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(Some(s)) = client.statuses().await.into_iter().nth(i) {
            if s.ready && s.bls_public_key.is_some() && s.ed25519_public_key.is_some() {
                return s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node {i} not ready again in time"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What a test makes before it changes the network's shares: an owner, an
/// ECDSA and an Ed25519 PKP of theirs, and a secret encrypted so that only
/// the owner may decrypt it.
pub struct KeptKeys {
    pub owner: k256::ecdsa::SigningKey,
    pub ecdsa: candela_registry::PkpRecord,
    pub ed25519: candela_registry::PkpRecord,
    pub secret: Vec<u8>,
    pub encrypted: candela_client::Encrypted,
}

impl KeptKeys {
    /// Mint both PKPs and encrypt `secret` on the network of `client`.
    pub fn make(client: &Client, secret: &[u8]) -> KeptKeys {
        let owner = owner();
        let ecdsa = registry(client)
            .mint(&owner, client.root_public_key())
            .expect("mint");
        let ed25519 = mint_ed25519(client, &owner);
        let encrypted = client
            .encrypt(&owner_only_conditions(&owner), secret)
            .expect("encrypt");
        KeptKeys {
            owner,
            ecdsa,
            ed25519,
            secret: secret.to_vec(),
            encrypted,
        }
    }

    /// Every key of before still works on `client`'s network (`when` names
    /// the moment in failures): the secret decrypts with no node named as
    /// misbehaving, and both PKPs sign under the keys they were minted with.
    pub async fn still_work(&self, net: &TestNet, client: &Client, when: &str) {
        let auth = candela_client::RequestAuth::Session(client.session(&self.owner));
        let plain = client
            .decrypt(&self.encrypted, &auth)
            .await
            .unwrap_or_else(|e| panic!("decrypt {when}: {e}"));
        assert_eq!(plain.plaintext, self.secret);
        assert!(
            plain.faulty_nodes.iter().all(|f| !f.misbehaved),
            "{when}: {:?}",
            plain.faulty_nodes
        );
        net.wait_pool(1).await;
        let digest = random_digest();
        let o = client
            .pkp_sign(&self.owner, &self.ecdsa.public_key, digest)
            .await
            .unwrap_or_else(|e| panic!("ECDSA {when}: {e}"));
        o.signature
            .verify(&self.ecdsa.public_key, &digest)
            .expect("the PKP's key of before verifies");
        let msg = format!("signed {when}");
        sign_ed25519_verified(client, &auth, &self.ed25519.public_key, msg.as_bytes()).await;
    }
}
