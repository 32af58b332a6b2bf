//! `candela build`: one self-contained file per action, made by esbuild
//! (from npm, pinned), and its CIDv0.
//!
//! Bundle format: esbuild's ES-module output (`--format=esm`,
//! `--target=es2022`, `--platform=browser`). An action has no exports, so
//! the bundle is plain script text with every import inlined, and top-level
//! `await` stays top-level: the sandbox compiles an action as a global
//! script with top-level await (QuickJS's async script mode), which is how
//! it runs any Lit action. Imports of deployed actions (`ipfs://<CIDv0>`)
//! are left as `import` statements; a bundle that has them is run as an ES
//! module, whose imports the node resolves from its action store and checks
//! against their CIDs.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::Serialize;

use super::config::Project;

/// The esbuild version used (the same pin as `crates/candela-actions/js`).
pub const ESBUILD_VERSION: &str = "0.24.2";

/// Source extensions of actions under `actions/`.
pub const ACTION_EXTENSIONS: &[&str] = &["js", "mjs", "ts"];

/// Largest bundle a node accepts by default (its code-size limit).
const NODE_CODE_LIMIT: usize = 16 * 1024 * 1024;

/// One built action.
#[derive(Debug, Clone, Serialize)]
pub struct Built {
    /// The action's name (its file name without extension).
    pub action: String,
    /// CIDv0 of the bundle, as `ipfs add --only-hash` computes it.
    pub cid: String,
    /// Size of the bundle.
    pub bytes: usize,
    /// `dist/NAME.js`.
    #[serde(skip)]
    pub path: PathBuf,
}

/// The actions of a project: `(name, source file)`, sorted by name.
pub fn actions(project: &Project) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let dir = project.actions_dir();
    let entries = std::fs::read_dir(&dir).with_context(|| {
        format!(
            "reading {}; add an action with `candela new NAME`",
            dir.display()
        )
    })?;
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        if !path.is_file() || !ACTION_EXTENSIONS.contains(&ext) {
            continue;
        }
        if let Some((_, other)) = found.iter().find(|(n, _)| n == stem) {
            bail!(
                "two sources for the action {stem}: {} and {}; keep one",
                other.display(),
                path.display()
            );
        }
        found.push((stem.to_string(), path));
    }
    if found.is_empty() {
        bail!(
            "no actions in {} (files ending in .js, .mjs or .ts); add one with `candela new NAME`",
            dir.display()
        );
    }
    found.sort();
    Ok(found)
}

/// `node_modules/.bin/esbuild` of the project, installing esbuild with npm
/// when it is not there.
pub fn ensure_esbuild(root: &Path) -> anyhow::Result<PathBuf> {
    let bin = root.join("node_modules/.bin/esbuild");
    if bin.is_file() {
        warn_if_not_pinned(&bin);
        return Ok(bin);
    }
    let npm_ok = Command::new("npm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !npm_ok {
        bail!(
            "esbuild is not installed in {}/node_modules and npm was not found. Install Node.js \
             with npm (https://nodejs.org), then run `npm install --save-dev esbuild@{ESBUILD_VERSION}` \
             in {}",
            root.display(),
            root.display()
        );
    }
    eprintln!("[build] esbuild not found in node_modules: npm install --save-dev esbuild@{ESBUILD_VERSION} …");
    let status = Command::new("npm")
        .args([
            "install",
            "--save-dev",
            "--save-exact",
            "--no-audit",
            "--no-fund",
            "--prefer-offline",
            "--loglevel=error",
        ])
        .arg(format!("esbuild@{ESBUILD_VERSION}"))
        .current_dir(root)
        // npm's output is progress: stderr, so stdout carries only results
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .context("running npm")?;
    if !status.success() || !bin.is_file() {
        bail!(
            "`npm install --save-dev esbuild@{ESBUILD_VERSION}` failed in {} ({status}); check \
             that the npm registry is reachable and run it yourself",
            root.display()
        );
    }
    Ok(bin)
}

/// Warns when the project's esbuild is not the pinned version (its output,
/// and so the CIDs, may differ from what this version of candela makes).
fn warn_if_not_pinned(bin: &Path) {
    let version = Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match version {
        Some(v) if v == ESBUILD_VERSION => {}
        Some(v) => eprintln!(
            "[build] warning: the project's esbuild is {v}, not {ESBUILD_VERSION}; bundles (and their \
             CIDs) may differ: npm install --save-dev --save-exact esbuild@{ESBUILD_VERSION}"
        ),
        None => eprintln!("[build] warning: {} --version failed", bin.display()),
    }
}

/// Bundle every action of `project` into `dist/`; returns each action's
/// bundle and CID.
pub fn build(project: &Project, minify: bool) -> anyhow::Result<Vec<Built>> {
    let actions = actions(project)?;
    let esbuild = ensure_esbuild(&project.root)?;
    let started = Instant::now();
    let dist = project.dist_dir();
    std::fs::create_dir_all(&dist).with_context(|| format!("creating {}", dist.display()))?;
    let mut cmd = Command::new(&esbuild);
    // Paths relative to the project root, so that comments in the bundle (and
    // so its CID) do not depend on where the project lives.
    cmd.current_dir(&project.root);
    for (_, src) in &actions {
        let rel = src.strip_prefix(&project.root).unwrap_or(src);
        cmd.arg(rel);
    }
    cmd.args([
        "--bundle",
        "--format=esm",
        "--target=es2022",
        "--platform=browser",
        "--charset=utf8",
        "--legal-comments=none",
        "--define:global=globalThis",
        "--external:ipfs://*",
        "--log-level=warning",
        "--outdir=dist",
        "--out-extension:.js=.js",
    ]);
    if minify {
        cmd.arg("--minify");
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {}", esbuild.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let hint = if stderr.contains("Could not resolve") {
            "\nan import could not be found: run `npm install` in the project (or `npm install PACKAGE`), \
             and check relative paths of local modules"
        } else {
            ""
        };
        bail!("esbuild failed:\n{}{hint}", stderr.trim_end());
    }
    if !stderr.trim().is_empty() {
        eprintln!("{}", stderr.trim_end());
    }
    let mut built = Vec::new();
    for (name, _) in actions {
        let path = dist.join(format!("{name}.js"));
        let code = std::fs::read(&path)
            .with_context(|| format!("reading the bundle {}", path.display()))?;
        if code.len() > NODE_CODE_LIMIT {
            eprintln!(
                "[build] warning: {} is {} bytes, over the nodes' default code limit of {NODE_CODE_LIMIT}",
                path.display(),
                code.len()
            );
        }
        built.push(Built {
            cid: candela_cid::cid_v0(&code),
            bytes: code.len(),
            action: name,
            path,
        });
    }
    eprintln!(
        "[build] {} action(s) bundled in {} ms",
        built.len(),
        started.elapsed().as_millis()
    );
    Ok(built)
}

/// What `candela build` prints: a line per action, or `--json`.
pub fn print(built: &[Built], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(built)?);
    } else {
        for b in built {
            println!(
                "{:<20} {}  {:>9} bytes  dist/{}.js",
                b.action, b.cid, b.bytes, b.action
            );
        }
    }
    Ok(())
}
