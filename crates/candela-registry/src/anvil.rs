//! A real local EVM node for devnets, tests and benchmarks: the anvil binary
//! of the npm package `@foundry-rs/anvil` (installed by
//! `contracts/setup.sh`), started on a loopback port.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::RegistryError;

/// Anvil's well-known development keys 0 to 2 (funded on every anvil).
pub const DEV_KEYS: [&str; 3] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];

/// Anvil's development key `i` (0 to 2).
pub fn dev_key(i: usize) -> crate::SigningKey {
    let bytes = hex::decode(DEV_KEYS[i % DEV_KEYS.len()]).unwrap_or_default();
    crate::SigningKey::from_slice(&bytes).unwrap_or_else(|_| unreachable!("a valid constant key"))
}

/// The anvil binary: `$CANDELA_ANVIL`, the platform package under
/// `contracts/node_modules` (of the working directory or of this source
/// tree), or `anvil` on the PATH. The platform package holds the binary
/// itself; `.bin/anvil` is a Node wrapper that would outlive a kill.
pub fn binary() -> Result<PathBuf, RegistryError> {
    if let Ok(p) = std::env::var("CANDELA_ANVIL") {
        return Ok(PathBuf::from(p));
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let package = format!(
        "contracts/node_modules/@foundry-rs/anvil-{}-{arch}/bin/anvil",
        std::env::consts::OS
    );
    let source_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for base in [PathBuf::from("."), source_tree] {
        let p = base.join(&package);
        if p.exists() {
            return Ok(p);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("anvil");
            if p.exists() {
                return Ok(p);
            }
        }
    }
    Err(RegistryError::Chain(
        "anvil not found: run `bash contracts/setup.sh` (installs @foundry-rs/anvil) or set CANDELA_ANVIL".into(),
    ))
}

/// The arguments that run anvil quietly on loopback `port`.
pub fn args(port: u16) -> Vec<String> {
    [
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--silent",
    ]
    .map(String::from)
    .to_vec()
}

/// A free loopback port.
pub fn free_port() -> Result<u16, RegistryError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| RegistryError::Chain(format!("no free port: {e}")))
}

/// Wait until something accepts connections on loopback `port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> Result<(), RegistryError> {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(RegistryError::Chain(format!(
                "anvil did not start on port {port}"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A running anvil on a free loopback port, killed when dropped.
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: String,
}

impl Anvil {
    /// Start anvil and wait until it answers.
    pub fn start() -> Result<Anvil, RegistryError> {
        let port = free_port()?;
        let child = Command::new(binary()?)
            .args(args(port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| RegistryError::Chain(format!("starting anvil: {e}")))?;
        let mut anvil = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        if let Err(e) = wait_for_port(port, Duration::from_secs(30)) {
            let _ = anvil.child.kill();
            return Err(e);
        }
        Ok(anvil)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
