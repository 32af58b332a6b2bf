//! The `candela` command.
mod action;
mod auth;
mod backends;
mod bench;
mod bench_schemes;
mod chain;
mod chaos;
mod cli_io;
mod devnet;
mod encrypt;
mod epoch;
mod key;
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
    /// On error, print each cause on its own line (and let RUST_BACKTRACE
    /// add a backtrace); without it an error is one line on stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
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
    /// Show every node's readiness and presignature pool; exits non-zero
    /// when the network cannot sign (fewer than its threshold ready).
    Status {
        /// network.json of the network (default: $CANDELA_NETWORK, else the
        /// devnet's `devnet/network.json`).
        #[arg(long, env = "CANDELA_NETWORK", default_value = cli_io::DEFAULT_NETWORK)]
        network: PathBuf,
        /// Print JSON only on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Ethereum keys for development: `key new` prints a fresh one.
    #[command(subcommand)]
    Key(key::KeyCommand),
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
    /// Changes of the node set: `epoch replace` gives a lost member's
    /// index to a new machine, which the others then repair.
    #[command(subcommand)]
    Epoch(epoch::EpochCommand),
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
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // colour codes only for a person at a terminal, not in log files
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> std::process::ExitCode {
    cli_io::quiet_broken_pipe();
    let cli = Cli::parse();
    let verbose = cli.verbose;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|rt| rt.block_on(run(cli.command)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", cli_io::error_text(&e, verbose));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
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
        Command::Status { network, json } => {
            let client = cli_io::open_network(&network)?;
            let statuses = client.statuses().await;
            let net = client.network();
            if json {
                let out: Vec<serde_json::Value> = net
                    .nodes
                    .iter()
                    .zip(&statuses)
                    .map(|(n, s)| serde_json::json!({"node": n.index, "url": n.url, "status": s}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", status_table(net, &statuses));
            }
            let ready = statuses.iter().flatten().filter(|s| s.ready).count();
            if ready < net.threshold {
                anyhow::bail!(
                    "the network cannot sign: {ready} of {} nodes ready, it needs {}",
                    net.nodes.len(),
                    net.threshold
                );
            }
            Ok(())
        }
        Command::Key(cmd) => key::run(cmd),
        Command::Pkp(cmd) => pkp::run(cmd).await,
        Command::Action(cmd) => action::run(cmd).await,
        Command::Encrypt(args) => encrypt::encrypt(args).await,
        Command::Decrypt(args) => encrypt::decrypt(args).await,
        Command::Contracts(cmd) => chain::run_contracts(cmd).await,
        Command::Epoch(cmd) => epoch::run(cmd).await,
        Command::Auth(cmd) => auth::run(cmd).await,
        Command::Project(cmd) => project::run(cmd).await,
        Command::Bench(cmd) => {
            init_tracing("warn");
            bench::run(cmd).await
        }
        Command::Listen(args) => listen::run(args).await,
    }
}

/// `candela status` as a table: one row per node, then whether the network
/// can sign.
fn status_table(
    net: &candela_api::network::NetworkInfo,
    statuses: &[Option<candela_api::v7::NodeStatus>],
) -> String {
    let mut out = format!(
        "{:<5} {:<28} {:<12} {:>8} {:>8}  {}\n",
        "node", "url", "state", "pool", "used", "live peers"
    );
    for (n, s) in net.nodes.iter().zip(statuses) {
        let row = match s {
            None => format!("{:<5} {:<28} {:<12}\n", n.index, n.url, "unreachable"),
            Some(s) => format!(
                "{:<5} {:<28} {:<12} {:>8} {:>8}  {}\n",
                n.index,
                n.url,
                if s.ready { "ready" } else { "not ready" },
                s.presignatures_free,
                s.presignatures_used,
                s.live_peers
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        out.push_str(&row);
    }
    let ready = statuses.iter().flatten().filter(|s| s.ready).count();
    out.push_str(&format!(
        "{ready} of {} nodes ready; threshold {}: {}\n",
        net.nodes.len(),
        net.threshold,
        if ready >= net.threshold {
            "the network can sign"
        } else {
            "the network CANNOT sign"
        }
    ));
    out
}
