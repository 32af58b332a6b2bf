//! `candela encrypt` and `candela decrypt`: access-control encryption to
//! the network's BLS key, decrypted with the nodes' shares only when the
//! conditions hold for the caller.
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candela_client::{Client, Encrypted};

/// `candela encrypt`.
#[derive(clap::Args)]
pub struct EncryptArgs {
    /// network.json of the network (default: $CANDELA_NETWORK, else the
    /// devnet's `devnet/network.json`).
    #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
    pub network: PathBuf,
    /// The conditions: a JSON file holding an object with one of
    /// `accessControlConditions`, `evmContractConditions`,
    /// `unifiedAccessControlConditions`, or a bare array (taken as
    /// `accessControlConditions`).
    #[arg(long)]
    pub conditions: PathBuf,
    /// Encrypt this file.
    #[arg(long, conflicts_with = "string", required_unless_present = "string")]
    pub file: Option<PathBuf>,
    /// Encrypt this string.
    #[arg(long)]
    pub string: Option<String>,
    /// Write the JSON here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write Lit's ciphertext format (one time-lock ciphertext, what the Lit
    /// JS SDK's `encrypt` writes and its `decrypt` reads) instead of
    /// Candela's streamed container; the whole file is held in memory.
    #[arg(long)]
    pub lit: bool,
    /// Encrypt even when the network cannot evaluate the conditions today
    /// (a chain they read is configured on fewer than threshold nodes).
    #[arg(long)]
    pub force: bool,
}

/// `candela decrypt`.
#[derive(clap::Args)]
pub struct DecryptArgs {
    /// network.json of the network (default: $CANDELA_NETWORK, else the
    /// devnet's `devnet/network.json`).
    #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
    pub network: PathBuf,
    /// What `candela encrypt` printed, or the Lit JS SDK's `encrypt` result
    /// (`{ciphertext, dataToEncryptHash}`) with its conditions.
    #[arg(long)]
    pub input: PathBuf,
    /// The caller's Ethereum private key (hex); the conditions are
    /// evaluated for its address.
    #[arg(long, env = "CANDELA_PRIVATE_KEY")]
    pub private_key: Option<String>,
    /// A session from `candela auth session` (instead of the key).
    #[arg(long)]
    pub session: Option<PathBuf>,
    /// Write the plaintext here instead of stdout (written to a temporary
    /// file first, renamed only once all of it authenticates).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Read a conditions file into the request object.
fn read_conditions(path: &Path) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    Ok(match value {
        serde_json::Value::Array(_) => serde_json::json!({ "accessControlConditions": value }),
        other => other,
    })
}

/// Chains that `conditions` read and that fewer than `threshold` of the
/// nodes that answered have configured: the nodes could not evaluate the
/// conditions, so nobody could decrypt.
fn chains_missing(
    conditions: &candela_conditions::Conditions,
    node_chains: &[Vec<String>],
    threshold: usize,
) -> Vec<String> {
    conditions
        .chains_read()
        .into_iter()
        .filter(|chain| node_chains.iter().filter(|c| c.contains(chain)).count() < threshold)
        .collect()
}

/// Refuse conditions the network cannot evaluate (unless `--force`).
async fn check_network_can_evaluate(
    client: &Client,
    conditions: &serde_json::Value,
) -> anyhow::Result<()> {
    let parsed = candela_conditions::Conditions::from_request(conditions)
        .map_err(|e| anyhow::anyhow!("the conditions are not valid: {e}"))?;
    if parsed.chains_read().is_empty() {
        return Ok(());
    }
    let threshold = client.network().threshold;
    let node_chains: Vec<Vec<String>> = client
        .statuses()
        .await
        .into_iter()
        .flatten()
        .filter(|s| s.ready)
        .map(|s| s.chains)
        .collect();
    if node_chains.len() < threshold {
        bail!(
            "cannot check that the network can evaluate these conditions: {} of {} nodes are ready, it needs {threshold} (--force encrypts anyway)",
            node_chains.len(),
            client.network().nodes.len()
        );
    }
    let missing = chains_missing(&parsed, &node_chains, threshold);
    if !missing.is_empty() {
        let mut configured: Vec<&String> = node_chains.iter().flatten().collect();
        configured.sort();
        configured.dedup();
        bail!(
            "nobody could decrypt this: the conditions read the chain{} {} which fewer than {threshold} nodes have configured (configured: {}); start the nodes with --chain-rpc NAME=URL, fix the conditions' \"chain\", or pass --force",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if configured.is_empty() {
                "none".to_string()
            } else {
                configured.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
            }
        );
    }
    Ok(())
}

/// Run `candela encrypt`.
pub async fn encrypt(args: EncryptArgs) -> anyhow::Result<()> {
    let client = crate::cli_io::open_network(&args.network)?;
    let conditions = read_conditions(&args.conditions)?;
    if !args.force {
        check_network_can_evaluate(&client, &conditions)
            .await
            .with_context(|| format!("conditions in {}", args.conditions.display()))?;
    }
    let plaintext = match (&args.file, &args.string) {
        (Some(f), _) => std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
        (None, Some(s)) => s.as_bytes().to_vec(),
        (None, None) => bail!("give --file F or --string S"),
    };
    let enc = if args.lit {
        client.encrypt_lit(&conditions, &plaintext)
    } else {
        client.encrypt(&conditions, &plaintext)
    };
    let enc = enc.with_context(|| format!("conditions in {}", args.conditions.display()))?;
    let json = serde_json::to_vec_pretty(&enc)?;
    match &args.out {
        Some(path) => crate::devnet::write_atomic(path, &json)?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&json)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// Run `candela decrypt`.
pub async fn decrypt(args: DecryptArgs) -> anyhow::Result<()> {
    let client = crate::cli_io::open_network(&args.network)?;
    let bytes =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let enc: Encrypted = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not what `candela encrypt` prints ({{ciphertext, dataToEncryptHash, accessControlConditions}})",
            args.input.display()
        )
    })?;
    let auth = crate::auth::request_auth(
        &client,
        args.session.as_deref(),
        args.private_key.as_deref(),
    )?;
    let faults = match &args.out {
        Some(path) => decrypt_to_file(&client, &enc, &auth, path).await?,
        None => {
            let d = client.decrypt(&enc, &auth).await?;
            std::io::stdout().lock().write_all(&d.plaintext)?;
            d.faulty_nodes
        }
    };
    for f in faults {
        let kind = if f.misbehaved {
            "misbehaved"
        } else {
            "left out"
        };
        eprintln!("warning: node {} ({}) {kind}: {}", f.node, f.url, f.reason);
    }
    Ok(())
}

/// Decrypt into `path`: written to `path.partial` first and renamed only
/// once all of it authenticates; on any error the partial file is removed.
async fn decrypt_to_file(
    client: &Client,
    enc: &Encrypted,
    auth: &candela_client::RequestAuth,
    path: &Path,
) -> anyhow::Result<Vec<candela_client::NodeFault>> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = async {
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        let faults = client.decrypt_to(enc, auth, &mut writer).await?;
        writer.flush()?;
        anyhow::Ok(faults)
    }
    .await;
    match written {
        Ok(faults) => {
            std::fs::rename(&partial, path)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(faults)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_is_missing_when_fewer_than_threshold_nodes_read_it() {
        let conditions = candela_conditions::Conditions::from_request(&serde_json::json!({
            "accessControlConditions": [{
                "contractAddress": "", "standardContractType": "", "chain": "anvil",
                "method": "eth_getBalance", "parameters": [":userAddress", "latest"],
                "returnValueTest": {"comparator": ">=", "value": "1"}
            }]
        }))
        .expect("conditions");
        let anvil = || vec!["anvil".to_string()];
        assert!(chains_missing(&conditions, &[anvil(), anvil(), vec![]], 2).is_empty());
        assert_eq!(
            chains_missing(&conditions, &[anvil(), vec![], vec![]], 2),
            vec!["anvil".to_string()]
        );
    }
}
