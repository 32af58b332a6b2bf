//! `candela pkp ...`: mint and sign.
use std::path::PathBuf;

use anyhow::{bail, Context};
use candela_api::network::RegistryLocation;
use candela_client::Client;
use candela_crypto::derive;
use candela_registry::{Registry, SqliteRegistry};
use clap::Subcommand;
use k256::ecdsa::SigningKey;
use serde_json::json;

#[derive(Subcommand)]
pub enum PkpCommand {
    /// Mint a PKP owned by the given Ethereum key's address.
    Mint {
        /// network.json.
        #[arg(long)]
        network: PathBuf,
        /// The owner's Ethereum private key (hex).
        #[arg(long, env = "CANDELA_PRIVATE_KEY")]
        private_key: String,
        /// Permit the action with this CID to sign with the PKP (repeatable).
        #[arg(long = "permit-action")]
        permit_actions: Vec<String>,
        /// Give the PKP away to the zero address in the same transaction, so
        /// that only the permitted actions can ever use it.
        #[arg(long, requires = "permit_actions")]
        burn: bool,
    },
    /// Sign a 32-byte hash with a PKP you own.
    Sign {
        /// network.json.
        #[arg(long)]
        network: PathBuf,
        /// The owner's Ethereum private key (hex).
        #[arg(long, env = "CANDELA_PRIVATE_KEY")]
        private_key: String,
        /// The PKP public key (hex).
        #[arg(long)]
        pkp: String,
        /// The 32-byte hash, 0x-hex.
        #[arg(long)]
        hash: String,
    },
}

/// Parse a hex private key.
pub fn signing_key(hex_key: &str) -> anyhow::Result<SigningKey> {
    let bytes =
        hex::decode(hex_key.trim().trim_start_matches("0x")).context("private key is not hex")?;
    SigningKey::from_slice(&bytes).context("private key is not a valid secp256k1 scalar")
}

/// Parse a 0x-hex 32-byte hash.
pub fn parse_hash(h: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(h.trim().trim_start_matches("0x")).context("hash is not hex")?;
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(a) => Ok(a),
        Err(_) => bail!("hash must be 32 bytes, got {}", bytes.len()),
    }
}

/// Open the network's registry.
pub fn registry(client: &Client) -> anyhow::Result<SqliteRegistry> {
    let RegistryLocation::Sqlite { path } = &client.network().registry;
    Ok(SqliteRegistry::open(std::path::Path::new(path))?)
}

/// Mint a PKP for `owner`; returns the JSON the CLI prints.
pub fn mint(
    client: &Client,
    owner: &SigningKey,
) -> anyhow::Result<(candela_registry::PkpRecord, serde_json::Value)> {
    mint_with_actions(client, owner, &[], false)
}

/// Mint a PKP for `owner`, permit `actions` and optionally burn it, in one
/// registry transaction; returns the JSON the CLI prints.
pub fn mint_with_actions(
    client: &Client,
    owner: &SigningKey,
    actions: &[&str],
    burn: bool,
) -> anyhow::Result<(candela_registry::PkpRecord, serde_json::Value)> {
    let reg = registry(client)?;
    let rec = reg.mint_with_actions(owner, client.root_public_key(), actions, burn)?;
    let out = json!({
        "tokenId": format!("0x{}", hex::encode(rec.token_id)),
        "publicKey": derive::public_key_hex(&rec.public_key),
        "ethAddress": derive::checksum_address(&rec.eth_address()),
        "owner": derive::checksum_address(&rec.owner),
        "permittedActions": reg.permitted_actions(&rec.token_id)?,
        "burned": burn,
    });
    Ok((rec, out))
}

/// The JSON printed for a signature.
pub fn signature_json(o: &candela_client::SignOutcome) -> serde_json::Value {
    let s = &o.signature;
    json!({
        "r": format!("0x{}", hex::encode(s.r_bytes())),
        "s": format!("0x{}", hex::encode(s.s_bytes())),
        "recid": s.recid,
        "signature": format!("0x{}", hex::encode(s.to_eth_bytes())),
        "publicKey": derive::public_key_hex(&o.public_key),
        "ethAddress": derive::checksum_address(&derive::eth_address(&o.public_key)),
        "requestId": o.request_id,
        "faultyNodes": o.faults,
    })
}

pub async fn run(cmd: PkpCommand) -> anyhow::Result<()> {
    match cmd {
        PkpCommand::Mint {
            network,
            private_key,
            permit_actions,
            burn,
        } => {
            let client = Client::from_file(&network)?;
            let actions: Vec<&str> = permit_actions.iter().map(String::as_str).collect();
            let (_, out) = mint_with_actions(&client, &signing_key(&private_key)?, &actions, burn)?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        PkpCommand::Sign {
            network,
            private_key,
            pkp,
            hash,
        } => {
            let client = Client::from_file(&network)?;
            let pk = derive::parse_public_key(&pkp).context("--pkp is not a public key")?;
            let outcome = client
                .pkp_sign(&signing_key(&private_key)?, &pk, parse_hash(&hash)?)
                .await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&signature_json(&outcome))?
            );
        }
    }
    Ok(())
}
