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

/// Run `candela encrypt`.
pub fn encrypt(args: EncryptArgs) -> anyhow::Result<()> {
    let client = crate::cli_io::open_network(&args.network)?;
    let conditions = read_conditions(&args.conditions)?;
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
