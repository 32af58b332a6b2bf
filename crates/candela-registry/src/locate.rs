//! Finding a Candela checkout's files at run time (never through paths
//! compiled into the binary): in the working directory or one of its
//! parents, else beside the running executable or one of its parents (a
//! `target/debug/candela` inside a checkout).
use std::path::{Path, PathBuf};

/// The first existing `dir/rel` for `dir` the working directory, its
/// parents, the executable's directory and its parents.
pub fn in_checkout(rel: &str) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    [cwd, exe]
        .into_iter()
        .flatten()
        .find_map(|start| start.ancestors().map(|d| d.join(rel)).find(|p| p.exists()))
}

/// Where Candela keeps tools it installs for the user:
/// `$CANDELA_HOME`, else `$XDG_CACHE_HOME/candela`, else `~/.cache/candela`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CANDELA_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(cache) = std::env::var_os("XDG_CACHE_HOME").filter(|c| !c.is_empty()) {
        return Some(PathBuf::from(cache).join("candela"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/candela"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_the_checkout_is_found_from_a_directory_inside_it() {
        // tests run in the crate's directory, two levels below the root
        let found = in_checkout("contracts/package.json").expect("found from the crate dir");
        assert!(found.ends_with("contracts/package.json"));
        assert!(in_checkout("no/such/file/anywhere.json").is_none());
    }
}
