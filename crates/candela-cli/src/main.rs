//! The `candela` command.
mod action;
mod auth;
mod bench;
mod chain;
mod chaos;
mod devnet;
mod encrypt;
mod listen;
mod pkp;
mod project;
mod replay;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "candela",
    version,
    about = "Candela: a decentralized key-management and compute network"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one node from its configuration file.
    Node {
        /// The node's config.json.
        #[arg(long)]
        config: PathBuf,
    },
    /// Start a local network of N node processes, generate its keys, and run
    /// until interrupted.
    Devnet(devnet::DevnetArgs),
    /// Start a devnet, deploy a prime-checking action, mint a PKP bound to it
    /// (mint-grant-burn), run it with a prime and a non-prime: the whole loop.
    Quickstart(devnet::QuickstartArgs),
    /// Show every node's readiness and presignature pool.
    Status {
        /// network.json of the network.
        #[arg(long)]
        network: PathBuf,
    },
    /// Programmable Key Pairs.
    #[command(subcommand)]
    Pkp(pkp::PkpCommand),
    /// Actions: CIDs, deploying and running them.
    #[command(subcommand)]
    Action(action::ActionCommand),
    /// Sessions: a key the wallet delegates to, reusable until it expires.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Encrypt data to the network under access-control conditions; prints
    /// `{ciphertext, dataToEncryptHash, <conditions>}`.
    Encrypt(encrypt::EncryptArgs),
    /// Decrypt what `encrypt` printed, with decryption shares the nodes
    /// give only if the conditions hold for the caller.
    Decrypt(encrypt::DecryptArgs),
    /// The registry's EVM contracts.
    #[command(subcommand)]
    Contracts(chain::ContractsCommand),
    /// Load generators and benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Action projects: init, new, build, watch, test.
    #[command(flatten)]
    Project(project::ProjectCommand),
    /// Run actions when events happen (cron, intervals, webhooks, EVM
    /// blocks and logs, polled URLs); `listen status` shows each trigger.
    Listen(listen::ListenArgs),
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CANDELA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Node { config } => {
            init_tracing("info");
            let bytes =
                std::fs::read(&config).with_context(|| format!("reading {}", config.display()))?;
            let cfg: candela_node::NodeConfig = serde_json::from_slice(&bytes)
                .with_context(|| format!("parsing {}", config.display()))?;
            candela_node::run(cfg).await
        }
        Command::Devnet(args) => {
            init_tracing("warn");
            devnet::run(args).await
        }
        Command::Quickstart(args) => {
            init_tracing("warn");
            devnet::quickstart(args).await
        }
        Command::Status { network } => {
            let client = candela_client::Client::from_file(&network)?;
            let statuses = client.statuses().await;
            let out: Vec<serde_json::Value> = client
                .network()
                .nodes
                .iter()
                .zip(statuses)
                .map(|(n, s)| serde_json::json!({"node": n.index, "url": n.url, "status": s}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::Pkp(cmd) => pkp::run(cmd).await,
        Command::Action(cmd) => action::run(cmd).await,
        Command::Encrypt(args) => encrypt::encrypt(args),
        Command::Decrypt(args) => encrypt::decrypt(args).await,
        Command::Contracts(cmd) => chain::run_contracts(cmd).await,
        Command::Auth(cmd) => auth::run(cmd).await,
        Command::Project(cmd) => project::run(cmd).await,
        Command::Bench(cmd) => {
            init_tracing("warn");
            bench::run(cmd).await
        }
        Command::Listen(args) => listen::run(args).await,
    }
}
