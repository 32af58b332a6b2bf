//! `candela listen`: run actions when events happen (see the README's
//! "Event listener"); `candela listen status` shows what each trigger did.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use candela_listen::{status, ClientRunner, Config, Listener, Store};
use clap::Subcommand;

/// `candela listen [status] --config triggers.toml`.
#[derive(clap::Args)]
pub struct ListenArgs {
    #[command(subcommand)]
    command: Option<ListenCommand>,
    /// The triggers file.
    #[arg(long, global = true, default_value = "triggers.toml")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum ListenCommand {
    /// Per trigger: events seen, runs succeeded and failed, cursor, dead
    /// letters.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Put a trigger's dead letters back in the queue, each with a fresh
    /// set of attempts (a running listener picks them up within 5 s).
    Requeue {
        /// The trigger.
        #[arg(long)]
        trigger: String,
    },
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    let path = args.config;
    if !path.exists() {
        anyhow::bail!(
            "no triggers file: {} does not exist (write one, see the README's \"Event listener\", or give --config FILE)",
            path.display()
        );
    }
    let config = Config::load(&path)?;
    match args.command {
        Some(ListenCommand::Status { json }) => {
            let store = Store::open_existing(&config.database)?;
            let all = status::status(&config, &store)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                print!("{}", status::render_text(&all));
            }
            Ok(())
        }
        Some(ListenCommand::Requeue { trigger }) => {
            if config.trigger(&trigger).is_none() {
                anyhow::bail!("{} has no trigger named {trigger:?}", path.display());
            }
            let store = Store::open_existing(&config.database)?;
            let n = store.requeue_dead(&trigger, candela_listen::schedule::now_ms())?;
            println!("{n}");
            Ok(())
        }
        None => {
            crate::init_tracing("info");
            let client = crate::cli_io::open_network(&config.network)
                .with_context(|| format!("network {}", config.network.display()))?;
            let store = Arc::new(Store::open(&config.database)?);
            let listener = Listener::new(&config, store, Arc::new(ClientRunner::new(client)))?;
            tracing::info!(
                triggers = config.triggers.len(),
                database = %config.database.display(),
                "listening"
            );
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                stop_signal().await;
                tracing::info!("stopping");
                let _ = tx.send(true);
            });
            listener.run(rx, Duration::from_secs(30)).await?;
            Ok(())
        }
    }
}
