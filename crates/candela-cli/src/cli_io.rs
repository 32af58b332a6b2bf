//! What every command shares at the edge: where the network is, how
//! parameters are read, how errors and broken pipes end the process.
use std::path::Path;

use anyhow::{bail, Context};
use candela_client::Client;

/// Where `--network` points when neither the flag nor `CANDELA_NETWORK` is
/// given: the file `candela devnet` writes with its default `--dir`.
pub const DEFAULT_NETWORK: &str = "devnet/network.json";

/// Open the network described by `path` (a `network.json`), saying how to
/// get one when it is missing.
pub fn open_network(path: &Path) -> anyhow::Result<Client> {
    if !path.exists() {
        if path == Path::new(DEFAULT_NETWORK) {
            bail!(
                "no network: {DEFAULT_NETWORK} does not exist here; start one with `candela devnet` \
                 in this directory, or give --network FILE (or set CANDELA_NETWORK)"
            );
        }
        bail!(
            "no network: {} does not exist (give the network.json a devnet or an operator wrote)",
            path.display()
        );
    }
    Client::from_file(path).with_context(|| format!("reading the network {}", path.display()))
}

/// Parse a JSON object given inline (`'{"a":1}'`) or as `@file.json`.
/// `what` names the flag in errors.
pub fn json_object_arg(arg: &str, what: &str) -> anyhow::Result<serde_json::Value> {
    let (text, source) = match arg.strip_prefix('@') {
        Some(file) => (
            std::fs::read_to_string(file).with_context(|| format!("{what}: reading {file}"))?,
            format!("{what} (from {file})"),
        ),
        None => (arg.to_string(), what.to_string()),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{source} is not JSON"))?;
    if !v.is_object() {
        bail!("{source} must be a JSON object");
    }
    Ok(v)
}

/// Let a closed pipe (`candela ... | head`) end the process quietly, as
/// every Unix tool does, instead of panicking inside `println!`.
pub fn quiet_broken_pipe() {
    // SAFETY: restoring the default disposition of SIGPIPE at start-up,
    // before any thread exists; the Rust runtime had set it to "ignore".
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The one line an error prints on stderr: every cause, no backtrace;
/// with `-v`, each cause on its own line.
pub fn error_text(e: &anyhow::Error, verbose: bool) -> String {
    if verbose {
        let mut s = format!("error: {e}");
        for cause in e.chain().skip(1) {
            s.push_str(&format!("\n  caused by: {cause}"));
        }
        s
    } else {
        format!("error: {e:#}").replace('\n', " ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_come_inline_or_from_a_file_and_must_be_an_object() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("p.json");
        std::fs::write(&file, r#"{"n": 7}"#).expect("write");
        let from_file = json_object_arg(&format!("@{}", file.display()), "--params").expect("file");
        assert_eq!(from_file["n"], 7);
        assert_eq!(
            json_object_arg(r#"{"n":1}"#, "--params").expect("inline")["n"],
            1
        );
        let not_object = json_object_arg("[1]", "--params").expect_err("array");
        assert!(not_object.to_string().contains("must be a JSON object"));
        let missing = json_object_arg("@/nonexistent/p.json", "--params").expect_err("missing");
        assert!(format!("{missing:#}").contains("/nonexistent/p.json"));
    }

    #[test]
    fn an_error_is_one_line_unless_verbose() {
        let e = anyhow::anyhow!("inner\ncause").context("outer");
        let line = error_text(&e, false);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.starts_with("error: outer") && line.contains("inner"));
        assert!(error_text(&e, true).contains("caused by: inner"));
    }

    #[test]
    fn a_missing_default_network_says_how_to_get_one() {
        let Err(e) = open_network(Path::new(DEFAULT_NETWORK)) else {
            panic!("no devnet here, so no network");
        };
        assert!(e.to_string().contains("candela devnet"), "{e}");
    }
}
