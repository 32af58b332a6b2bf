//! `candela auth ...`: reusable sessions.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use candela_client::{Ability, Client, PkpAuth, RequestAuth, ResourceAbilityRequest, Session};

/// `candela auth ...`.
#[derive(clap::Subcommand)]
pub enum AuthCommand {
    /// Make a session key and have the wallet delegate to it; prints the
    /// session (secret included: keep it private) for `candela action run --session FILE` (and `pkp sign`, `decrypt`).
    Session {
        /// network.json of the network (default: $CANDELA_NETWORK, else the
        /// devnet's `devnet/network.json`).
        #[arg(long, env = "CANDELA_NETWORK", default_value = crate::cli_io::DEFAULT_NETWORK)]
        network: PathBuf,
        /// The wallet's Ethereum private key (hex).
        #[arg(long, env = "CANDELA_PRIVATE_KEY")]
        private_key: String,
        /// ABILITY:RESOURCE pairs, comma separated; abilities are
        /// pkp-signing, lit-action-execution, access-control-condition-decryption,
        /// access-control-condition-signing; a resource is an id or `*`.
        #[arg(
            long,
            default_value = "pkp-signing:*,lit-action-execution:*,access-control-condition-decryption:*"
        )]
        resources: String,
        /// How long the session lasts: 30s, 10m, 1h, 1d.
        #[arg(long, default_value = "1h")]
        expires: String,
        /// Make a session for this PKP (public key hex) instead: the network
        /// signs its capability once the wallet proves to be a permitted
        /// auth method of the PKP; requests then come from the PKP itself.
        #[arg(long)]
        pkp: Option<String>,
    },
}

/// Parse 30s / 10m / 1h / 1d.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let (n, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = n
        .parse()
        .with_context(|| format!("{text:?} is not a duration like 30s, 10m, 1h or 1d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("{text:?} is not a duration like 30s, 10m, 1h or 1d"),
    };
    Ok(Duration::from_secs(secs))
}

/// Parse `ability:resource,...`.
pub fn parse_resources(text: &str) -> anyhow::Result<Vec<ResourceAbilityRequest>> {
    text.split(',')
        .map(|pair| {
            let (ability, resource) = pair
                .trim()
                .split_once(':')
                .with_context(|| format!("{pair:?} is not ABILITY:RESOURCE"))?;
            let ability =
                Ability::parse(ability).with_context(|| format!("unknown ability {ability:?}"))?;
            Ok(ResourceAbilityRequest::new(ability, resource))
        })
        .collect()
}

/// The auth a command uses: a saved session, or the wallet key (through
/// the client's cached session).
pub fn request_auth(
    client: &Client,
    session: Option<&Path>,
    private_key: Option<&str>,
) -> anyhow::Result<RequestAuth> {
    match (session, private_key) {
        (Some(path), _) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let file: candela_api::session::SessionFile = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a session file", path.display()))?;
            let s = Session::from_file(&file)?;
            if s.expires_within(time::Duration::seconds(0)) {
                bail!("the session in {} has expired", path.display());
            }
            Ok(RequestAuth::Session(Arc::new(s)))
        }
        (None, Some(key)) => Ok(RequestAuth::Session(
            client.session(&crate::pkp::signing_key(key)?),
        )),
        (None, None) => bail!("give --private-key (or CANDELA_PRIVATE_KEY) or --session FILE"),
    }
}

/// Run an `auth` command.
pub async fn run(cmd: AuthCommand) -> anyhow::Result<()> {
    match cmd {
        AuthCommand::Session {
            network,
            private_key,
            resources,
            expires,
            pkp,
        } => {
            let client = crate::cli_io::open_network(&network)?;
            let wallet = crate::pkp::signing_key(&private_key)?;
            let (requests, ttl) = (parse_resources(&resources)?, parse_duration(&expires)?);
            let file = match pkp {
                Some(pk) => {
                    let pk = candela_crypto::derive::parse_public_key(&pk)
                        .context("--pkp is not a public key")?;
                    client
                        .pkp_session(PkpAuth::Wallet(&wallet), &pk, requests, ttl)
                        .await?
                        .to_file()
                }
                None => client.new_session(&wallet, requests, ttl).to_file(),
            };
            println!("{}", serde_json::to_string_pretty(&file)?);
        }
    }
    Ok(())
}
