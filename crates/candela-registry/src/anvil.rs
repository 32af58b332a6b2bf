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

/// The `@foundry-rs/anvil` version Candela pins (as `contracts/package.json`).
pub const ANVIL_VERSION: &str = "1.7.1";

/// The npm package holding the anvil binary for this platform.
pub fn platform_package() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("@foundry-rs/anvil-{}-{arch}", std::env::consts::OS)
}

/// Where [`install`] puts anvil: `<cache>/anvil-VERSION`.
pub fn install_dir() -> Option<PathBuf> {
    crate::locate::cache_dir().map(|c| c.join(format!("anvil-{ANVIL_VERSION}")))
}

fn in_prefix(prefix: &Path) -> PathBuf {
    prefix.join(format!("node_modules/{}/bin/anvil", platform_package()))
}

/// The anvil binary: `$CANDELA_ANVIL`, the platform package under a
/// checkout's `contracts/node_modules` (found from the working directory or
/// the executable), `anvil` on the PATH, or the copy [`install`] made. The
/// platform package holds the binary itself; `.bin/anvil` is a Node wrapper
/// that would outlive a kill.
pub fn binary() -> Result<PathBuf, RegistryError> {
    if let Ok(p) = std::env::var("CANDELA_ANVIL") {
        return Ok(PathBuf::from(p));
    }
    let package = format!("contracts/node_modules/{}/bin/anvil", platform_package());
    if let Some(p) = crate::locate::in_checkout(&package) {
        return Ok(p);
    }
    if let Some(p) = on_path("anvil") {
        return Ok(p);
    }
    if let Some(p) = install_dir().map(|d| in_prefix(&d)).filter(|p| p.exists()) {
        return Ok(p);
    }
    Err(RegistryError::Chain(format!(
        "anvil not found (looked at $CANDELA_ANVIL, a checkout's contracts/node_modules, the \
         PATH and {}): `candela devnet --chain anvil` installs it with npm, or install \
         Foundry's anvil yourself (npm install {}@{ANVIL_VERSION}, or foundryup) and set \
         CANDELA_ANVIL to the binary",
        install_dir().map_or_else(|| "~/.cache/candela".into(), |d| d.display().to_string()),
        platform_package()
    )))
}

/// `name` in a directory of the PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The anvil binary, installed first with npm into [`install_dir`] when
/// [`binary`] finds none; `progress` hears what is happening. Without npm,
/// the error names what is missing and how to get it.
pub fn binary_or_install(progress: impl Fn(&str)) -> Result<PathBuf, RegistryError> {
    if let Ok(p) = binary() {
        return Ok(p);
    }
    let dir = install_dir().ok_or_else(|| {
        RegistryError::Chain(
            "anvil not found and no place to install it (neither $CANDELA_HOME nor $HOME is \
             set): set CANDELA_ANVIL to an anvil binary"
                .into(),
        )
    })?;
    let Some(npm) = on_path("npm") else {
        return Err(RegistryError::Chain(format!(
            "anvil not found, and npm (needed to install it) is not on the PATH: install \
             Node.js 20+ with npm, or Foundry's anvil (foundryup), and set CANDELA_ANVIL to the \
             binary; the package is {}@{ANVIL_VERSION}",
            platform_package()
        )));
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| RegistryError::Chain(format!("creating {}: {e}", dir.display())))?;
    let spec = format!("{}@{ANVIL_VERSION}", platform_package());
    progress(&format!(
        "anvil not found: installing {spec} with npm into {}",
        dir.display()
    ));
    let out = Command::new(npm)
        .args([
            "install",
            "--no-save",
            "--no-package-lock",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--prefer-offline",
            "--prefix",
        ])
        .arg(&dir)
        .arg(&spec)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| RegistryError::Chain(format!("running npm: {e}")))?;
    let bin = in_prefix(&dir);
    if !out.status.success() || !bin.exists() {
        return Err(RegistryError::Chain(format!(
            "npm install {spec} failed ({}): {}; set CANDELA_ANVIL to an anvil binary instead",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(bin)
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

/// Test tokens on a local anvil: the ERC20, ERC721 and ERC1155 of
/// `contracts/src/test/` (compiled into `contracts/out/` by
/// `contracts/scripts/build.mjs`, run here if they are missing), deployed
/// and minted from anvil's development account 0. For tests of chain
/// conditions and chain events.
pub mod test_tokens {
    use std::path::PathBuf;

    use alloy::network::TransactionBuilder;
    use alloy::primitives::{Address, Bytes, U256};
    use alloy::providers::{Provider, ProviderBuilder};
    use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
    use alloy::signers::local::PrivateKeySigner;
    use alloy::sol;
    use alloy::sol_types::{SolCall, SolValue};

    use crate::RegistryError;

    sol! {
        interface ITestERC20 {
            function mint(address to, uint256 amount) external;
            function transfer(address to, uint256 amount) external returns (bool);
        }
        interface ITestERC721 {
            function mint(address to, uint256 tokenId) external;
        }
        interface ITestERC1155 {
            function mint(address to, uint256 id, uint256 amount) external;
        }
    }

    /// The three test token contracts on one chain.
    #[derive(Debug, Clone)]
    pub struct TestTokens {
        /// JSON-RPC URL of the chain.
        pub url: String,
        /// `TestERC20` ("Test", "TST").
        pub erc20: Address,
        /// `TestERC721` ("Test", "TST").
        pub erc721: Address,
        /// `TestERC1155`.
        pub erc1155: Address,
    }

    fn chain_err(what: &str, e: impl std::fmt::Display) -> RegistryError {
        RegistryError::Chain(format!("{what}: {e}"))
    }

    /// The creation bytecode of `contracts/out/NAME.json`.
    fn bytecode(name: &str) -> Result<Vec<u8>, RegistryError> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts");
        let path = dir.join(format!("out/{name}.json"));
        if !path.exists() {
            let status = std::process::Command::new("node")
                .arg("scripts/build.mjs")
                .current_dir(&dir)
                .status()
                .map_err(|e| chain_err("running contracts/scripts/build.mjs (needs node)", e))?;
            if !status.success() {
                return Err(RegistryError::Chain(
                    "contracts/scripts/build.mjs failed: run `bash contracts/setup.sh`".into(),
                ));
            }
        }
        let text = std::fs::read_to_string(&path).map_err(|e| chain_err(name, e))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| RegistryError::Encoding(e.to_string()))?;
        hex::decode(
            v["bytecode"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches("0x"),
        )
        .map_err(|e| RegistryError::Encoding(format!("{name}: {e}")))
    }

    /// Send `tx` from development account 0 and wait for its receipt; a
    /// reverted transaction is an error.
    pub async fn send(
        url: &str,
        tx: TransactionRequest,
    ) -> Result<TransactionReceipt, RegistryError> {
        let signer = PrivateKeySigner::from_signing_key(super::dev_key(0));
        let from = signer.address();
        let provider = ProviderBuilder::new()
            .wallet(signer)
            .connect_http(url.parse().map_err(|e| chain_err(url, e))?);
        let receipt = provider
            .send_transaction(tx.with_from(from))
            .await
            .map_err(|e| chain_err("sending a transaction", e))?
            .get_receipt()
            .await
            .map_err(|e| chain_err("waiting for a receipt", e))?;
        if !receipt.status() {
            return Err(RegistryError::Chain(format!(
                "transaction {} reverted",
                receipt.transaction_hash
            )));
        }
        Ok(receipt)
    }

    /// Send `wei` from development account 0 to `to` (e.g. a node wallet
    /// that pays for its kick votes).
    pub async fn fund(url: &str, to: [u8; 20], wei: u128) -> Result<(), RegistryError> {
        let tx = TransactionRequest::default()
            .with_to(Address::from(to))
            .with_value(U256::from(wei));
        send(url, tx).await.map(|_| ())
    }

    fn call(to: Address, data: Vec<u8>) -> TransactionRequest {
        TransactionRequest::default()
            .with_to(to)
            .with_input(Bytes::from(data))
    }

    async fn deploy(url: &str, name: &str, args: Vec<u8>) -> Result<Address, RegistryError> {
        let mut code = bytecode(name)?;
        code.extend(args);
        send(
            url,
            TransactionRequest::default().with_deploy_code(Bytes::from(code)),
        )
        .await?
        .contract_address
        .ok_or_else(|| RegistryError::Chain(format!("deploying {name}: no contract address")))
    }

    impl TestTokens {
        /// Deploy the three token contracts to the chain at `url`.
        pub async fn deploy(url: &str) -> Result<TestTokens, RegistryError> {
            let names = ("Test".to_string(), "TST".to_string()).abi_encode_params();
            Ok(TestTokens {
                url: url.to_string(),
                erc20: deploy(url, "TestERC20", names.clone()).await?,
                erc721: deploy(url, "TestERC721", names).await?,
                erc1155: deploy(url, "TestERC1155", vec![]).await?,
            })
        }

        /// Mint `amount` ERC20 tokens to `to`.
        pub async fn mint_erc20(
            &self,
            to: impl Into<Address>,
            amount: u64,
        ) -> Result<TransactionReceipt, RegistryError> {
            let data = ITestERC20::mintCall {
                to: to.into(),
                amount: U256::from(amount),
            };
            send(&self.url, call(self.erc20, data.abi_encode())).await
        }

        /// Transfer `amount` ERC20 tokens from account 0 to `to` (emits
        /// `Transfer`).
        pub async fn transfer_erc20(
            &self,
            to: impl Into<Address>,
            amount: u64,
        ) -> Result<TransactionReceipt, RegistryError> {
            let data = ITestERC20::transferCall {
                to: to.into(),
                amount: U256::from(amount),
            };
            send(&self.url, call(self.erc20, data.abi_encode())).await
        }

        /// Mint ERC721 token `token_id` to `to`.
        pub async fn mint_erc721(
            &self,
            to: impl Into<Address>,
            token_id: u64,
        ) -> Result<TransactionReceipt, RegistryError> {
            let data = ITestERC721::mintCall {
                to: to.into(),
                tokenId: U256::from(token_id),
            };
            send(&self.url, call(self.erc721, data.abi_encode())).await
        }

        /// Mint `amount` of ERC1155 token `id` to `to`.
        pub async fn mint_erc1155(
            &self,
            to: impl Into<Address>,
            id: u64,
            amount: u64,
        ) -> Result<TransactionReceipt, RegistryError> {
            let data = ITestERC1155::mintCall {
                to: to.into(),
                id: U256::from(id),
                amount: U256::from(amount),
            };
            send(&self.url, call(self.erc1155, data.abi_encode())).await
        }
    }
}

#[cfg(test)]
mod pin_tests {
    #[test]
    fn the_pinned_anvil_version_is_the_one_contracts_package_json_installs() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/package.json"),
        )
        .expect("contracts/package.json");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            v["devDependencies"]["@foundry-rs/anvil"].as_str(),
            Some(super::ANVIL_VERSION)
        );
    }
}
