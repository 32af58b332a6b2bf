//! `candela bench ...`: load generators.
#[derive(clap::Subcommand)]
pub enum BenchCommand {}
pub async fn run(_c: BenchCommand) -> anyhow::Result<()> {
    Ok(())
}
