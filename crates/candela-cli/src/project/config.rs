//! `candela.toml`: where a project's tests run (network, PKP, wallet), and
//! how to find the project's root directory.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// The settings file (kept out of version control).
pub const CONFIG_FILE: &str = "candela.toml";
/// The committed template of [`CONFIG_FILE`].
pub const EXAMPLE_FILE: &str = "candela.example.toml";

/// The text `candela init` writes to both `candela.toml` and
/// `candela.example.toml`.
pub const TEMPLATE: &str = r#"# Settings of this Candela action project. candela.toml is listed in
# .gitignore: keep your own settings there and commit candela.example.toml.

[network]
# network.json of the network `candela test` runs against (relative to this
# file). When it is missing or no node answers, `candela test` starts a local
# devnet of `devnet_nodes` nodes in `devnet_dir` for the run (its state is
# kept there, so the next start reuses the same keys).
network_json = ".candela/devnet/network.json"
devnet_dir = ".candela/devnet"
devnet_nodes = 3

[pkp]
# PKP public key (0x04...) the tests sign with; test files write it as
# "$PKP_PUBLIC_KEY" in jsParams. Empty: `candela test` mints a PKP owned by
# the wallet and, with keep = true, keeps it (and the random wallet that
# owns it, when no wallet is set) in .candela/test-pkp.json, so later runs
# on the same network sign with the same key and address.
public_key = ""
keep = true

[wallet]
# Environment variable holding the wallet's private key (hex) that
# authorises the tests' requests. When it is unset, `candela test` uses a
# fresh random wallet (enough for a devnet).
private_key_env = "CANDELA_PRIVATE_KEY"
"#;

/// The parsed settings.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// Which network the tests use.
    #[serde(default)]
    pub network: NetworkSettings,
    /// The PKP the tests sign with.
    #[serde(default)]
    pub pkp: PkpSettings,
    /// The wallet that authorises requests.
    #[serde(default)]
    pub wallet: WalletSettings,
}

/// `[network]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSettings {
    /// network.json, relative to the project root.
    pub network_json: PathBuf,
    /// Where an on-demand devnet keeps its state, relative to the project root.
    pub devnet_dir: PathBuf,
    /// Nodes of an on-demand devnet.
    pub devnet_nodes: usize,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            network_json: PathBuf::from(".candela/devnet/network.json"),
            devnet_dir: PathBuf::from(".candela/devnet"),
            devnet_nodes: 3,
        }
    }
}

/// `[pkp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PkpSettings {
    /// Uncompressed public key in hex; empty to mint one.
    pub public_key: String,
    /// Keep a minted PKP for later runs (in [`KEPT_PKP_FILE`]) instead of
    /// minting one per run.
    pub keep: bool,
}

impl Default for PkpSettings {
    fn default() -> Self {
        PkpSettings {
            public_key: String::new(),
            keep: true,
        }
    }
}

/// Where `candela test` keeps the PKP it minted (and the random wallet that
/// owns it), relative to the project root; inside the git-ignored
/// `.candela/`.
pub const KEPT_PKP_FILE: &str = ".candela/test-pkp.json";

/// `[wallet]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletSettings {
    /// Name of the environment variable holding the private key.
    pub private_key_env: String,
}

impl Default for WalletSettings {
    fn default() -> Self {
        WalletSettings {
            private_key_env: "CANDELA_PRIVATE_KEY".into(),
        }
    }
}

/// A project on disk: its root and settings.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `candela.toml` (or `candela.example.toml`).
    pub root: PathBuf,
    /// The settings.
    pub config: ProjectConfig,
}

impl Project {
    /// The project containing `start` (it or its nearest ancestor with a
    /// `candela.toml` or `candela.example.toml`).
    pub fn find(start: &Path) -> anyhow::Result<Project> {
        let start = std::fs::canonicalize(start)
            .with_context(|| format!("{} does not exist", start.display()))?;
        let root = start
            .ancestors()
            .find(|d| d.join(CONFIG_FILE).is_file() || d.join(EXAMPLE_FILE).is_file())
            .map(Path::to_path_buf);
        let Some(root) = root else {
            bail!(
                "{} is not inside a Candela project (no {CONFIG_FILE} here or above); \
                 create one with `candela init NAME`",
                start.display()
            );
        };
        let own = root.join(CONFIG_FILE);
        let path = if own.is_file() {
            own
        } else {
            eprintln!(
                "[candela] no {CONFIG_FILE} in {}: using {EXAMPLE_FILE} (copy it to {CONFIG_FILE} to change settings)",
                root.display()
            );
            root.join(EXAMPLE_FILE)
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let config = parse(&text).with_context(|| format!("in {}", path.display()))?;
        Ok(Project { root, config })
    }

    /// `actions/`.
    pub fn actions_dir(&self) -> PathBuf {
        self.root.join("actions")
    }

    /// `tests/`.
    pub fn tests_dir(&self) -> PathBuf {
        self.root.join("tests")
    }

    /// `dist/`.
    pub fn dist_dir(&self) -> PathBuf {
        self.root.join("dist")
    }

    /// A path of the settings, resolved against the project root.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }
}

/// Parse the text of a `candela.toml`.
pub fn parse(text: &str) -> anyhow::Result<ProjectConfig> {
    let config: ProjectConfig = toml::from_str(text).context("invalid candela.toml")?;
    if !(3..=10).contains(&config.network.devnet_nodes) {
        bail!(
            "[network] devnet_nodes must be between 3 and 10, got {}",
            config.network.devnet_nodes
        );
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_to_the_defaults() {
        let c = parse(TEMPLATE).expect("template parses");
        assert_eq!(c.network.devnet_nodes, 3);
        assert_eq!(c.network.devnet_dir, PathBuf::from(".candela/devnet"));
        assert_eq!(c.pkp.public_key, "");
        assert!(c.pkp.keep, "a minted PKP is kept by default");
        assert_eq!(c.wallet.private_key_env, "CANDELA_PRIVATE_KEY");
    }

    #[test]
    fn an_unknown_setting_is_refused() {
        assert!(parse("[network]\nnetwork = \"x\"\n").is_err());
    }
}
