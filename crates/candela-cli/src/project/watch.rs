//! `candela watch`: rebuild when a source file changes (mtime polling, so it
//! works the same on every file system), printing the new CIDs.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::bundle;
use super::config::Project;

/// How often the sources are looked at.
const POLL: Duration = Duration::from_millis(250);

/// Directories never watched: outputs, dependencies, state.
const SKIP: &[&str] = &["node_modules", "dist", ".candela", ".git"];

/// Modification time and size of every file under the project's sources.
type Snapshot = BTreeMap<PathBuf, (SystemTime, u64)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if !SKIP.iter().any(|s| name == *s) {
                    stack.push(path);
                }
            } else if let Ok(modified) = meta.modified() {
                out.insert(path, (modified, meta.len()));
            }
        }
    }
    out
}

fn build_and_print(project: &Project, minify: bool, json: bool) {
    match bundle::build(project, minify) {
        Ok(built) => {
            if json {
                match serde_json::to_string(&built) {
                    Ok(line) => println!("{line}"),
                    Err(e) => eprintln!("[watch] {e}"),
                }
            } else if let Err(e) = bundle::print(&built, false) {
                eprintln!("[watch] {e}");
            }
        }
        // A broken edit is reported and the watch goes on.
        Err(e) => eprintln!("[watch] build failed: {e:#}"),
    }
}

/// Build now, then again after every change, until interrupted or until
/// `max_builds` builds were made.
pub async fn run(
    project: &Project,
    minify: bool,
    json: bool,
    max_builds: Option<u64>,
) -> anyhow::Result<()> {
    // Fail early (no actions, no npm) instead of watching a broken project.
    bundle::actions(project)?;
    bundle::ensure_esbuild(&project.root)?;
    let mut seen = snapshot(&project.root);
    build_and_print(project, minify, json);
    let mut builds = 1u64;
    eprintln!(
        "[watch] watching {} for changes; Ctrl-C to stop",
        project.root.display()
    );
    let shutdown = candela_node::shutdown_signal();
    tokio::pin!(shutdown);
    while max_builds.is_none_or(|m| builds < m) {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(POLL) => {}
        }
        let now = snapshot(&project.root);
        if now == seen {
            continue;
        }
        let changed: Vec<String> = now
            .iter()
            .filter(|(p, v)| seen.get(*p) != Some(v))
            .map(|(p, _)| {
                p.strip_prefix(&project.root)
                    .unwrap_or(p)
                    .display()
                    .to_string()
            })
            .chain(seen.keys().filter(|p| !now.contains_key(*p)).map(|p| {
                p.strip_prefix(&project.root)
                    .unwrap_or(p)
                    .display()
                    .to_string()
            }))
            .collect();
        eprintln!("[watch] changed: {}", changed.join(", "));
        seen = now;
        build_and_print(project, minify, json);
        builds += 1;
    }
    Ok(())
}
