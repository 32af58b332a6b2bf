//! `candela pkp ...`: mint, grant, revoke, transfer, burn, show, list and sign.
use std::path::PathBuf;

use anyhow::{bail, Context};
use candela_client::Client;
use candela_crypto::derive;
use candela_registry::signed_op::{GrantWire, RegistryChange, SignedChange};
use candela_registry::{
    AuthMethod, Permission, PkpKeyType, PkpRecord, Registry, BURNED_OWNER, SCOPE_SIGN_ANYTHING,
};
use clap::Subcommand;
use k256::ecdsa::SigningKey;
use serde_json::{json, Value};

/// Which PKP a command is about: `--token-id` or `--pkp` (its public key).
#[derive(clap::Args, Clone)]
#[group(required = true, multiple = false)]
pub struct PkpRef {
    /// The PKP's token id (0x-hex or decimal).
    #[arg(long)]
    pub token_id: Option<String>,
    /// The PKP's public key (hex).
    #[arg(long)]
    pub pkp: Option<String>,
}

/// What a grant or revoke is about: one action, address or auth method.
#[derive(clap::Args, Clone)]
#[group(required = true, multiple = false)]
pub struct MethodRef {
    /// An action, by CIDv0.
    #[arg(long)]
    pub action: Option<String>,
    /// An Ethereum address.
    #[arg(long)]
    pub address: Option<String>,
    /// Any auth method, as TYPE:ID_HEX (type as a number, e.g. 6:0xabcd...).
    #[arg(long, value_name = "TYPE:ID")]
    pub auth_method: Option<String>,
}

/// The network, the owner's key and the output form of a change.
#[derive(clap::Args, Clone)]
pub struct OwnerArgs {
    /// network.json of the network (default: $CANDELA_NETWORK, else the
    /// devnet's `devnet/network.json`).
    #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
    pub network: PathBuf,
    /// The owner's Ethereum private key (hex).
    #[arg(long, env = "CANDELA_PRIVATE_KEY")]
    pub private_key: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The network and the output form of a read.
#[derive(clap::Args, Clone)]
pub struct ReadArgs {
    /// network.json of the network (default: $CANDELA_NETWORK, else the
    /// devnet's `devnet/network.json`).
    #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
    pub network: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum PkpCommand {
    /// Mint a PKP owned by the given Ethereum key's address, optionally
    /// permitting actions and addresses and burning it, in one operation.
    Mint {
        #[command(flatten)]
        owner: OwnerArgs,
        /// Permit the action with this CID to sign with the PKP, scope 1
        /// (repeatable).
        #[arg(long = "permit-action")]
        permit_actions: Vec<String>,
        /// Permit this address to sign with the PKP, scope 1 (repeatable).
        #[arg(long = "permit-address")]
        permit_addresses: Vec<String>,
        /// Give the PKP away to the zero address in the same operation, so
        /// that only what was permitted can ever use it, and nothing about it
        /// can change.
        #[arg(long)]
        burn: bool,
        /// The key type, which fixes what the PKP signs with: K256 (ECDSA,
        /// Ethereum), Ed25519 (Solana), K256Taproot (Bitcoin P2TR) or
        /// Bls12381G1 (BLS).
        #[arg(long, default_value = "K256")]
        key_type: PkpKeyType,
    },
    /// Permit an action, address or auth method on a PKP you own, with
    /// scopes (added to the ones it has).
    Grant {
        #[command(flatten)]
        owner: OwnerArgs,
        #[command(flatten)]
        pkp: PkpRef,
        #[command(flatten)]
        method: MethodRef,
        /// Scope ids (0 none, 1 sign anything, 2 personal sign); repeatable.
        #[arg(long = "scope", default_values_t = [1u64])]
        scopes: Vec<u64>,
        /// The auth method's user public key (hex), where it has one.
        #[arg(long)]
        user_pubkey: Option<String>,
    },
    /// Remove an action, address or auth method (and its scopes) from a PKP
    /// you own.
    Revoke {
        #[command(flatten)]
        owner: OwnerArgs,
        #[command(flatten)]
        pkp: PkpRef,
        #[command(flatten)]
        method: MethodRef,
    },
    /// Give a PKP you own to another address.
    Transfer {
        #[command(flatten)]
        owner: OwnerArgs,
        #[command(flatten)]
        pkp: PkpRef,
        /// The new owner's address.
        #[arg(long)]
        to: String,
    },
    /// Run an action that claims keys (`Lit.Actions.claimKey({keyId})`) and
    /// mint each claimed PKP (Lit's v7 claim flow): its key id is
    /// keccak256("{actionCid}_{keyId}"), so its public key is the one the
    /// network derives for it; the registry mints it only on the
    /// signatures of at least the threshold of nodes, once per key id (on
    /// an EVM registry by `PKPNFT.claimAndMint`, which checks the nodes'
    /// wallet signatures on chain).
    Claim {
        #[command(flatten)]
        owner: OwnerArgs,
        /// The claiming action's file.
        #[arg(conflicts_with = "cid")]
        file: Option<PathBuf>,
        /// The claiming action's CID (deployed with `candela action deploy`).
        #[arg(long)]
        cid: Option<String>,
        /// The action's jsParams: inline JSON or @file.json.
        #[arg(long, default_value = "{}")]
        params: String,
        /// Mint only the key the action claimed under this key id (default:
        /// every key it claimed).
        #[arg(long)]
        key_id: Option<String>,
        /// Burn each minted PKP in the same operation.
        #[arg(long)]
        burn: bool,
    },
    /// Burn a PKP you own: no owner, permissions frozen forever.
    Burn {
        #[command(flatten)]
        owner: OwnerArgs,
        #[command(flatten)]
        pkp: PkpRef,
    },
    /// Show a PKP: keys, owner and every permission with its scopes.
    Show {
        #[command(flatten)]
        read: ReadArgs,
        #[command(flatten)]
        pkp: PkpRef,
    },
    /// List the PKPs an address owns (`--owner 0x000…0` lists burned ones).
    List {
        #[command(flatten)]
        read: ReadArgs,
        /// The owner's address.
        #[arg(long)]
        owner: String,
    },
    /// Sign with a PKP you own or are permitted to use: a 32-byte hash
    /// (ECDSA, taproot) or a message (Ed25519).
    Sign {
        /// network.json of the network (default: $CANDELA_NETWORK, else the
        /// devnet's `devnet/network.json`).
        #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
        network: PathBuf,
        /// The caller's Ethereum private key (hex).
        #[arg(long, env = "CANDELA_PRIVATE_KEY")]
        private_key: Option<String>,
        /// A session from `candela auth session` (instead of the key).
        #[arg(long)]
        session: Option<PathBuf>,
        /// The PKP public key (hex).
        #[arg(long)]
        pkp: String,
        /// The 32-byte hash, 0x-hex (EcdsaK256Sha256 and SchnorrK256Taproot;
        /// SchnorrEd25519Sha512 signs it as its message).
        #[arg(long, required_unless_present = "message")]
        hash: Option<String>,
        /// The message, 0x-hex, of any length up to 64 KiB
        /// (SchnorrEd25519Sha512 only).
        #[arg(long, conflicts_with = "hash")]
        message: Option<String>,
        /// The signing scheme, by Lit's name: EcdsaK256Sha256 (default),
        /// SchnorrEd25519Sha512 (Solana) or SchnorrK256Taproot (Bitcoin P2TR).
        #[arg(long, default_value = "EcdsaK256Sha256")]
        scheme: String,
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

/// Open the network's registry (the SQLite file or the EVM contracts).
pub fn registry(client: &Client) -> anyhow::Result<Box<dyn Registry>> {
    Ok(candela_registry::open(&client.network().registry)?)
}

/// Mint a PKP for `owner`; returns the JSON the CLI prints.
pub async fn mint(client: &Client, owner: &SigningKey) -> anyhow::Result<(PkpRecord, Value)> {
    mint_with_actions(client, owner, &[], false).await
}

/// Mint a PKP for `owner`, permit `actions` (scope 1) and optionally burn
/// it, in one registry operation; returns the JSON the CLI prints.
pub async fn mint_with_actions(
    client: &Client,
    owner: &SigningKey,
    actions: &[&str],
    burn: bool,
) -> anyhow::Result<(PkpRecord, Value)> {
    let grants = actions
        .iter()
        .map(|c| {
            Ok(Permission::new(
                AuthMethod::action(c)?,
                [SCOPE_SIGN_ANYTHING],
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    mint_with(client, owner, PkpKeyType::K256, &grants, burn).await
}

/// Whether the network's registry is a SQLite file the nodes write (then
/// changes go through the nodes), not contracts on a chain.
fn nodes_write_the_registry(client: &Client) -> bool {
    matches!(
        client.network().registry,
        candela_api::network::RegistryLocation::Sqlite { .. }
    )
}

/// Sign `change` with `owner` for this network and have a node apply it;
/// the node's answer.
async fn send_change(
    client: &Client,
    owner: &SigningKey,
    change: RegistryChange,
) -> anyhow::Result<Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let signed = SignedChange::sign(
        change,
        owner,
        &derive::public_key_hex(client.root_public_key()),
        now,
        CHANGE_TTL_MS,
    );
    Ok(client
        .apply_registry_change(&serde_json::to_value(&signed)?)
        .await?)
}

/// How long a signed registry change stays valid.
const CHANGE_TTL_MS: u64 = 2 * 60 * 1000;

/// Mint a PKP for `owner` with `grants`, optionally burned: through the
/// nodes on a SQLite registry, as a transaction on an EVM one.
pub async fn mint_with(
    client: &Client,
    owner: &SigningKey,
    key_type: PkpKeyType,
    grants: &[Permission],
    burn: bool,
) -> anyhow::Result<(PkpRecord, Value)> {
    if nodes_write_the_registry(client) {
        let change = RegistryChange::Mint {
            grants: grants.iter().map(GrantWire::from_permission).collect(),
            burn,
            key_type: (key_type != PkpKeyType::K256).then(|| key_type.as_str().to_string()),
        };
        let answer = send_change(client, owner, change).await?;
        let pkp = &answer["pkp"];
        let public_key = derive::parse_public_key(pkp["publicKey"].as_str().unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("the node answered no PKP key: {e}"))?;
        let token_id = parse_token_id(pkp["tokenId"].as_str().unwrap_or_default())?;
        let key_id = parse_hash(pkp["keyId"].as_str().unwrap_or_default())
            .context("the node answered no key id")?;
        // printed as the registry now holds it, where this machine can
        // read it; else as the node answered
        if let Ok(reg) = registry(client) {
            if let Ok(rec) = reg.by_token_id(&token_id) {
                let out = pkp_json(reg.as_ref(), &rec)?;
                return Ok((rec, out));
            }
        }
        let rec = PkpRecord {
            token_id,
            key_id,
            public_key,
            owner: if burn {
                BURNED_OWNER
            } else {
                candela_registry::signer_address(owner)
            },
            key_type,
        };
        // a node's answer is checked: the key derives from the key id
        rec.check_derivation(client.root_public_key())
            .context("the node answered a PKP that is not derived from the network's root key")?;
        let out = pkp.clone();
        return Ok((rec, out));
    }
    let reg = registry(client)?;
    let owner = owner.clone();
    let root = *client.root_public_key();
    let grants = grants.to_vec();
    let (rec, out) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let rec = reg.mint_typed(&owner, &root, key_type, &grants, burn)?;
        let out = pkp_json(reg.as_ref(), &rec)?;
        Ok((rec, out))
    })
    .await??;
    Ok((rec, out))
}

/// Add the key the PKP signs with (`signingKey`: its type, its public key
/// in the chain's encoding and its chain address), derived by the client
/// from root keys that at least t nodes report alike.
pub async fn add_signing_key(
    client: &Client,
    rec: &PkpRecord,
    out: &mut Value,
) -> anyhow::Result<()> {
    let key_type: candela_client::KeyType = rec
        .key_type
        .as_str()
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = client.typed_public_key(key_type, &rec.key_id).await?;
    out["keyType"] = json!(rec.key_type.as_str());
    out["signingKey"] = json!({
        "keyType": rec.key_type.as_str(),
        "publicKey": hex::encode(&key.public_key),
        "address": key.address,
        "scheme": candela_client::SigningScheme::ALL
            .into_iter()
            .find(|s| s.key_type() == key_type)
            .map(|s| s.as_str()),
    });
    Ok(())
}

/// A PKP as the CLI prints it: keys, owner, and every permission.
pub fn pkp_json(reg: &dyn Registry, rec: &PkpRecord) -> anyhow::Result<Value> {
    let permissions = reg.permissions(&rec.token_id)?;
    let burned = rec.owner == BURNED_OWNER;
    Ok(json!({
        "tokenId": format!("0x{}", hex::encode(rec.token_id)),
        "publicKey": derive::public_key_hex(&rec.public_key),
        "ethAddress": derive::checksum_address(&rec.eth_address()),
        "owner": derive::checksum_address(&rec.owner),
        "burned": burned,
        "keyType": rec.key_type.as_str(),
        "permittedActions": permissions.iter().filter_map(|p| p.method.ipfs_cid()).collect::<Vec<_>>(),
        "permittedAddresses": reg
            .permitted_addresses(&rec.token_id)?
            .iter()
            .map(derive::checksum_address)
            .collect::<Vec<_>>(),
        "permissions": permissions.iter().map(permission_json).collect::<Vec<_>>(),
    }))
}

fn permission_json(p: &Permission) -> Value {
    let m = &p.method;
    let mut v = json!({
        "authMethodType": m.auth_method_type,
        "id": format!("0x{}", hex::encode(&m.id)),
        "authMethodId": format!("0x{}", hex::encode(m.id_hash())),
        "scopes": p.scopes,
    });
    if let Some(cid) = m.ipfs_cid() {
        v["ipfsId"] = json!(cid);
    }
    if let Some(a) = m.eth_address() {
        v["address"] = json!(derive::checksum_address(&a));
    }
    if !m.user_pubkey.is_empty() {
        v["userPubkey"] = json!(format!("0x{}", hex::encode(&m.user_pubkey)));
    }
    v
}

/// Parse a token id given as 0x-hex or decimal.
pub fn parse_token_id(text: &str) -> anyhow::Result<[u8; 32]> {
    let text = text.trim();
    if let Some(h) = text.strip_prefix("0x") {
        let bytes = hex::decode(h).context("token id is not hex")?;
        if bytes.len() > 32 {
            bail!("token id is longer than 32 bytes");
        }
        let mut out = [0u8; 32];
        out[32 - bytes.len()..].copy_from_slice(&bytes);
        return Ok(out);
    }
    decimal_u256(text)
}

/// A decimal token id as 32 big-endian bytes.
fn decimal_u256(text: &str) -> anyhow::Result<[u8; 32]> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        bail!("token id {text:?} is neither 0x-hex nor decimal");
    }
    let mut out = [0u8; 32];
    for d in text.bytes().map(|b| u32::from(b - b'0')) {
        let mut carry = d;
        for b in out.iter_mut().rev() {
            let v = u32::from(*b) * 10 + carry;
            *b = (v & 0xff) as u8;
            carry = v >> 8;
        }
        if carry != 0 {
            bail!("token id {text} does not fit in 256 bits");
        }
    }
    Ok(out)
}

fn token_id_of(r: &PkpRef) -> anyhow::Result<[u8; 32]> {
    match (&r.token_id, &r.pkp) {
        (Some(t), _) => parse_token_id(t),
        (None, Some(pk)) => Ok(derive::token_id(
            &derive::parse_public_key(pk).context("--pkp is not a public key")?,
        )),
        (None, None) => bail!("give --token-id or --pkp"),
    }
}

fn address_arg(text: &str) -> anyhow::Result<[u8; 20]> {
    derive::parse_address(text).with_context(|| format!("{text:?} is not an Ethereum address"))
}

fn hex_arg(text: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    hex::decode(text.trim().trim_start_matches("0x")).with_context(|| format!("{what} is not hex"))
}

fn method_of(m: &MethodRef) -> anyhow::Result<AuthMethod> {
    match (&m.action, &m.address, &m.auth_method) {
        (Some(cid), _, _) => Ok(AuthMethod::action(cid)?),
        (_, Some(a), _) => Ok(AuthMethod::address(address_arg(a)?)),
        (_, _, Some(spec)) => {
            let (t, id) = spec
                .split_once(':')
                .context("--auth-method wants TYPE:ID_HEX")?;
            Ok(AuthMethod {
                auth_method_type: t.parse().context("auth method type is not a number")?,
                id: hex_arg(id, "auth method id")?,
                user_pubkey: Vec::new(),
            })
        }
        _ => bail!("give --action, --address or --auth-method"),
    }
}

/// Make one change to a PKP with the owner's key (through the nodes on a
/// SQLite registry, as a transaction on an EVM one), then print the PKP as
/// it now stands.
async fn change_pkp(owner: &OwnerArgs, pkp: &PkpRef, change: RegistryChange) -> anyhow::Result<()> {
    let client = crate::cli_io::open_network(&owner.network)?;
    let token = token_id_of(pkp)?;
    let key = signing_key(&owner.private_key)?;
    let change = with_token(change, &token);
    if nodes_write_the_registry(&client) {
        send_change(&client, &key, change).await?;
        let reg = registry(&client)?;
        return print(
            owner.json,
            &pkp_json(reg.as_ref(), &reg.by_token_id(&token)?)?,
            pkp_text,
        );
    }
    let reg = registry(&client)?;
    let out = tokio::task::spawn_blocking(move || -> anyhow::Result<Value> {
        apply_on_chain(reg.as_ref(), &key, &token, &change)?;
        pkp_json(reg.as_ref(), &reg.by_token_id(&token)?)
    })
    .await??;
    print(owner.json, &out, pkp_text)
}

/// `change` about the PKP `token`.
fn with_token(change: RegistryChange, token: &[u8; 32]) -> RegistryChange {
    let token_id = format!("0x{}", hex::encode(token));
    match change {
        RegistryChange::Grant { grant, .. } => RegistryChange::Grant { token_id, grant },
        RegistryChange::Revoke {
            auth_method_type,
            id,
            ..
        } => RegistryChange::Revoke {
            token_id,
            auth_method_type,
            id,
        },
        RegistryChange::Transfer { to, .. } => RegistryChange::Transfer { token_id, to },
        RegistryChange::Burn { .. } => RegistryChange::Burn { token_id },
        mint @ RegistryChange::Mint { .. } => mint,
    }
}

/// Send `change` to the chain's contracts, signed by `key`.
fn apply_on_chain(
    reg: &dyn Registry,
    key: &SigningKey,
    token: &[u8; 32],
    change: &RegistryChange,
) -> anyhow::Result<()> {
    match change {
        RegistryChange::Grant { grant, .. } => reg.grant(key, token, &grant.to_permission()?)?,
        RegistryChange::Revoke {
            auth_method_type,
            id,
            ..
        } => reg.revoke(key, token, *auth_method_type, &hex::decode(id)?)?,
        RegistryChange::Transfer { to, .. } => {
            reg.transfer(key, token, candela_registry::signed_op::address_of(to)?)?
        }
        RegistryChange::Burn { .. } => reg.burn(key, token)?,
        RegistryChange::Mint { .. } => bail!("a mint is not a change to an existing PKP"),
    }
    Ok(())
}

/// Print `value` as JSON, or `text` for people.
fn print(json_out: bool, value: &Value, text: impl FnOnce(&Value) -> String) -> anyhow::Result<()> {
    if json_out {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text(value));
    }
    Ok(())
}

/// A PKP for people.
fn pkp_text(v: &Value) -> String {
    let mut out = format!(
        "PKP {}\n  token id    {}\n  public key  {}\n  owner       {}{}\n",
        v["ethAddress"].as_str().unwrap_or_default(),
        v["tokenId"].as_str().unwrap_or_default(),
        v["publicKey"].as_str().unwrap_or_default(),
        v["owner"].as_str().unwrap_or_default(),
        if v["burned"] == json!(true) {
            " (burned: permissions are frozen)"
        } else {
            ""
        },
    );
    let key = &v["signingKey"];
    if let Some(kt) = key["keyType"].as_str() {
        out.push_str(&format!(
            "  key type    {kt} (signs with {})\n  signing key {}\n",
            key["scheme"].as_str().unwrap_or_default(),
            key["publicKey"].as_str().unwrap_or_default(),
        ));
        if let Some(a) = key["address"].as_str() {
            out.push_str(&format!("  address     {a}\n"));
        }
    }
    let perms = v["permissions"].as_array().cloned().unwrap_or_default();
    if perms.is_empty() {
        out.push_str("  permissions none\n");
    }
    for p in perms {
        let what = match (p["ipfsId"].as_str(), p["address"].as_str()) {
            (Some(cid), _) => format!("action  {cid}"),
            (_, Some(a)) => format!("address {a}"),
            _ => format!(
                "auth method type {} id {}",
                p["authMethodType"],
                p["id"].as_str().unwrap_or_default()
            ),
        };
        out.push_str(&format!("  permits {what} scopes {}\n", p["scopes"]));
    }
    out.trim_end().to_string()
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

/// The JSON printed for a Schnorr signature.
pub fn schnorr_json(o: &candela_client::SchnorrOutcome) -> serde_json::Value {
    let address_kind = match o.scheme {
        candela_client::SigningScheme::SchnorrEd25519Sha512 => "solanaAddress",
        _ => "p2trAddress",
    };
    json!({
        "signingScheme": o.scheme.as_str(),
        "signature": format!("0x{}", hex::encode(&o.signature)),
        "publicKey": format!("0x{}", hex::encode(&o.public_key)),
        address_kind: o.address,
        "requestId": o.request_id,
        "faultyNodes": o.faults,
    })
}

pub async fn run(cmd: PkpCommand) -> anyhow::Result<()> {
    match cmd {
        PkpCommand::Mint {
            owner:
                OwnerArgs {
                    network,
                    private_key,
                    json,
                },
            permit_actions,
            permit_addresses,
            burn,
            key_type,
        } => {
            let client = crate::cli_io::open_network(&network)?;
            let mut grants = Vec::new();
            for cid in &permit_actions {
                grants.push(Permission::new(
                    AuthMethod::action(cid)?,
                    [SCOPE_SIGN_ANYTHING],
                ));
            }
            for a in &permit_addresses {
                grants.push(Permission::new(
                    AuthMethod::address(address_arg(a)?),
                    [SCOPE_SIGN_ANYTHING],
                ));
            }
            let (rec, mut out) = mint_with(
                &client,
                &signing_key(&private_key)?,
                key_type,
                &grants,
                burn,
            )
            .await?;
            add_signing_key(&client, &rec, &mut out).await?;
            print(json, &out, pkp_text)?;
        }
        PkpCommand::Grant {
            owner,
            pkp,
            method,
            scopes,
            user_pubkey,
        } => {
            let mut m = method_of(&method)?;
            if let Some(pk) = &user_pubkey {
                m.user_pubkey = hex_arg(pk, "--user-pubkey")?;
            }
            let grant = GrantWire::from_permission(&Permission::new(m, scopes));
            let change = RegistryChange::Grant {
                token_id: String::new(),
                grant,
            };
            change_pkp(&owner, &pkp, change).await?;
        }
        PkpCommand::Revoke { owner, pkp, method } => {
            let m = method_of(&method)?;
            let change = RegistryChange::Revoke {
                token_id: String::new(),
                auth_method_type: m.auth_method_type,
                id: hex::encode(&m.id),
            };
            change_pkp(&owner, &pkp, change).await?;
        }
        PkpCommand::Transfer { owner, pkp, to } => {
            let to = address_arg(&to)?;
            let change = RegistryChange::Transfer {
                token_id: String::new(),
                to: format!("0x{}", hex::encode(to)),
            };
            change_pkp(&owner, &pkp, change).await?;
        }
        PkpCommand::Claim {
            owner:
                OwnerArgs {
                    network,
                    private_key,
                    json: json_out,
                },
            file,
            cid,
            params,
            key_id,
            burn,
        } => {
            let source = match (file, cid) {
                (Some(f), None) => candela_client::ActionSource::Code(
                    String::from_utf8(
                        std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?,
                    )
                    .context("the action is not UTF-8")?,
                ),
                (None, Some(c)) => {
                    candela_cid::parse_cid_v0(&c).context("--cid is not a CIDv0")?;
                    candela_client::ActionSource::IpfsId(c)
                }
                _ => bail!("give the claiming action as FILE or --cid CID"),
            };
            let js_params = crate::action::parse_params(&params)?;
            let client = crate::cli_io::open_network(&network)?;
            let owner_key = signing_key(&private_key)?;
            let out = client
                .execute(&source, Some(js_params), &owner_key)
                .await
                .context("running the claiming action")?;
            let mut claims = out.claims;
            if let Some(k) = &key_id {
                claims.retain(|id, _| id == k);
            }
            if claims.is_empty() {
                bail!(
                    "the action claimed no key{} (it calls Lit.Actions.claimKey({{keyId}}))",
                    key_id
                        .map(|k| format!(" under key id {k:?}"))
                        .unwrap_or_default()
                );
            }
            let reg = registry(&client)?;
            let mut minted = Vec::new();
            for (id, claim) in &claims {
                let rec = client
                    .mint_claimed(reg.as_ref(), &owner_key, claim, &[], burn)
                    .with_context(|| format!("key id {id:?}"))?;
                let mut v = pkp_json(reg.as_ref(), &rec)?;
                v["claimedKeyId"] = json!(id);
                v["derivedKeyId"] = json!(format!("0x{}", hex::encode(claim.derived_key_id)));
                minted.push(v);
            }
            let all = Value::Array(minted);
            print(json_out, &all, |v| {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .map(|p| {
                                format!(
                                    "claimed key id {}\n{}",
                                    p["claimedKeyId"].as_str().unwrap_or_default(),
                                    pkp_text(p)
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default()
            })?;
        }
        PkpCommand::Burn { owner, pkp } => {
            let change = RegistryChange::Burn {
                token_id: String::new(),
            };
            change_pkp(&owner, &pkp, change).await?;
        }
        PkpCommand::Show {
            read: ReadArgs { network, json },
            pkp,
        } => {
            let client = crate::cli_io::open_network(&network)?;
            let reg = registry(&client)?;
            let rec = reg.by_token_id(&token_id_of(&pkp)?)?;
            let mut out = pkp_json(reg.as_ref(), &rec)?;
            add_signing_key(&client, &rec, &mut out).await?;
            print(json, &out, pkp_text)?;
        }
        PkpCommand::List {
            read: ReadArgs { network, json },
            owner,
        } => {
            let client = crate::cli_io::open_network(&network)?;
            let reg = registry(&client)?;
            let list = reg
                .owned_by(address_arg(&owner)?)?
                .iter()
                .map(|r| pkp_json(reg.as_ref(), r))
                .collect::<anyhow::Result<Vec<_>>>()?;
            print(json, &json!(list), |v| {
                let items = v.as_array().cloned().unwrap_or_default();
                if items.is_empty() {
                    return format!("{owner} owns no PKP");
                }
                items.iter().map(pkp_text).collect::<Vec<_>>().join("\n")
            })?;
        }
        PkpCommand::Sign {
            network,
            private_key,
            session,
            pkp,
            hash,
            message,
            scheme,
        } => {
            let scheme: candela_client::SigningScheme = scheme
                .parse()
                .map_err(|e| anyhow::anyhow!("--scheme: {e}; expected EcdsaK256Sha256, SchnorrEd25519Sha512 or SchnorrK256Taproot"))?;
            let client = crate::cli_io::open_network(&network)?;
            let pk = derive::parse_public_key(&pkp).context("--pkp is not a public key")?;
            let auth =
                crate::auth::request_auth(&client, session.as_deref(), private_key.as_deref())?;
            let json = match scheme {
                candela_client::SigningScheme::EcdsaK256Sha256 => {
                    let Some(hash) = hash else {
                        bail!("EcdsaK256Sha256 signs a 32-byte --hash, not a --message");
                    };
                    signature_json(&client.pkp_sign_with(&auth, &pk, parse_hash(&hash)?).await?)
                }
                scheme if scheme.is_frost() => {
                    let text = message.or(hash).unwrap_or_default();
                    let bytes = hex::decode(text.trim().trim_start_matches("0x"))
                        .context("the message is not hex")?;
                    if scheme == candela_client::SigningScheme::SchnorrK256Taproot
                        && bytes.len() != 32
                    {
                        bail!("SchnorrK256Taproot signs a 32-byte hash (a sighash), got {} bytes", bytes.len());
                    }
                    schnorr_json(&client.pkp_sign_schnorr(&auth, &pk, scheme, &bytes).await?)
                }
                other => bail!("{other} is not served by pkp sign; expected EcdsaK256Sha256, SchnorrEd25519Sha512 or SchnorrK256Taproot"),
            };
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
    }
    Ok(())
}
