//! Action projects: `candela init`, `new`, `build`, `watch` and `test`.
//!
//! A project is a directory with `candela.toml` (settings, not committed),
//! `candela.example.toml`, `package.json`, `actions/NAME.js` (one file per
//! action), local modules (e.g. `lib/`), and `tests/NAME.test.json`.
//! `candela build` bundles each action with esbuild into `dist/NAME.js`
//! and prints its CIDv0; `candela test` deploys the bundles to a network
//! (a devnet started on demand) and checks each test case.
mod bundle;
mod config;
mod runner;
mod scaffold;
mod spec;
mod watch;

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

/// The project commands (flattened into `candela`'s own).
#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Create an action project: actions/NAME.js, tests/NAME.test.json,
    /// candela.toml (git-ignored) and candela.example.toml, package.json.
    Init {
        /// The project's name (also its directory).
        name: String,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print the created files as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add an action and its test to the current project.
    New {
        /// The action's name.
        name: String,
        /// A directory inside the project (default: the current one).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Print the created files as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bundle every action with its imports into dist/NAME.js (esbuild) and
    /// print each bundle's CIDv0.
    Build {
        /// A directory inside the project (default: the current one).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Minify the bundles.
        #[arg(long)]
        minify: bool,
        /// Print `[{action, cid, bytes}]`.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild whenever a source file changes, printing the new CIDs.
    Watch {
        /// A directory inside the project (default: the current one).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Minify the bundles.
        #[arg(long)]
        minify: bool,
        /// Print each build as one JSON line `[{action, cid, bytes}]`.
        #[arg(long)]
        json: bool,
        /// Stop after this many builds (the first one included).
        #[arg(long)]
        max_builds: Option<u64>,
    },
    /// Build, deploy and run the project's tests (tests/*.test.json) on the
    /// configured network, or on a devnet started for the run.
    Test {
        /// Only the tests of these actions.
        actions: Vec<String>,
        /// A directory inside the project (default: the current one).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn print_written(root: &std::path::Path, files: &[PathBuf], json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"project": root, "files": files}))?
        );
    } else {
        for f in files {
            println!("created {}", root.join(f).display());
        }
    }
    Ok(())
}

/// Run one project command.
pub async fn run(cmd: ProjectCommand) -> anyhow::Result<()> {
    match cmd {
        ProjectCommand::Init { name, dir, json } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let files = scaffold::init(&dir, &name)?;
            print_written(&dir, &files, json)?;
            if !json {
                eprintln!(
                    "next: cd {} && candela build && candela test",
                    dir.display()
                );
            }
            Ok(())
        }
        ProjectCommand::New { name, dir, json } => {
            let project = config::Project::find(&dir)?;
            let files = scaffold::new_action(&project.root, &name)?;
            print_written(&project.root, &files, json)
        }
        ProjectCommand::Build { dir, minify, json } => {
            let project = config::Project::find(&dir)?;
            let built = bundle::build(&project, minify)?;
            bundle::print(&built, json)
        }
        ProjectCommand::Watch {
            dir,
            minify,
            json,
            max_builds,
        } => {
            let project = config::Project::find(&dir)?;
            watch::run(&project, minify, json, max_builds).await
        }
        ProjectCommand::Test { actions, dir, json } => {
            let project = config::Project::find(&dir)?;
            let passed = runner::run(&project, &actions, json).await?;
            if !passed {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
