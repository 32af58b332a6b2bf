//! End to end: `candela` copied out of the build tree (as an installed
//! binary) runs a devnet on anvil. Nothing it needs comes from the source
//! tree: the registry contracts are compiled into the binary, and anvil,
//! missing from the PATH, is installed with npm into the user's cache. A
//! mint from a key without funds says to fund it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// A devnet started by the copied binary; stopped (and its nodes killed)
/// when dropped.
struct InstalledDevnet {
    child: Child,
    dir: PathBuf,
}

impl Drop for InstalledDevnet {
    fn drop(&mut self) {
        signal(self.child.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for i in 0..3 {
            let pid = std::fs::read_to_string(self.dir.join(format!("node-{i}/pid")))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok());
            if let Some(pid) = pid.filter(|&p| alive(p)) {
                signal(pid, libc::SIGKILL);
            }
        }
    }
}

/// The directory of `name` on this machine's PATH.
fn dir_of(name: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .expect("sh");
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    path.parent()
        .unwrap_or_else(|| panic!("{name} must be installed for this test"))
        .to_path_buf()
}

/// `bin args` in `cwd` with a fresh HOME (an empty cache), no Candela
/// overrides, and a PATH holding only node and npm (the rest of the
/// environment, e.g. the machine's CA settings for the npm registry, stays).
fn run_installed(bin: &Path, cwd: &Path, home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args)
        .current_dir(cwd)
        .env_remove("CANDELA_ANVIL")
        .env_remove("CANDELA_CONTRACTS_OUT")
        .env_remove("CANDELA_HOME")
        .env_remove("CANDELA_NETWORK")
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", home)
        .env("PATH", dir_of("npm"))
        // reuse the machine's npm download cache (the package is pinned)
        .env("npm_config_cache", npm_cache());
    c
}

fn npm_cache() -> String {
    let out = Command::new("npm")
        .args(["config", "get", "cache"])
        .output()
        .expect("npm");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn output(mut c: Command) -> Output {
    c.output().expect("run the installed candela")
}

#[test]
fn an_installed_binary_runs_a_devnet_on_anvil_and_an_unfunded_mint_says_to_fund_the_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bin = tmp.path().join("bin/candela");
    std::fs::create_dir_all(bin.parent().expect("bin dir")).expect("mkdir");
    std::fs::copy(BIN, &bin).expect("copy the binary");
    let home = tmp.path().join("home");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::create_dir_all(&work).expect("work");
    let dir = work.join("devnet");

    let mut cmd = run_installed(
        &bin,
        &work,
        &home,
        &[
            "devnet",
            "--nodes",
            "3",
            "--base-port",
            "0",
            "--chain",
            "anvil",
            "--pool-target",
            "4",
            "--pool-batch",
            "2",
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn the installed devnet");
    let mut devnet = InstalledDevnet {
        child,
        dir: dir.clone(),
    };
    let network = dir.join("network.json");
    let deadline = Instant::now() + Duration::from_secs(600);
    while !network.exists() {
        if let Ok(Some(status)) = devnet.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = devnet.child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("the installed devnet exited early ({status}):\n{err}");
        }
        assert!(Instant::now() < deadline, "devnet not ready in time");
        std::thread::sleep(Duration::from_millis(200));
    }
    // anvil was installed into the fresh HOME's cache, not found elsewhere
    let installed = home.join(".cache/candela");
    assert!(
        std::fs::read_dir(&installed)
            .map(|mut d| d
                .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("anvil-"))))
            .unwrap_or(false),
        "anvil was installed under {}",
        installed.display()
    );
    let v: Value =
        serde_json::from_slice(&std::fs::read(&network).expect("network.json")).expect("json");
    assert!(
        v["registry"].to_string().contains("http://127.0.0.1:"),
        "the registry is the anvil chain: {}",
        v["registry"]
    );

    // the funded development key (anvil's account 1, as the devnet prints) mints
    let net = network.to_string_lossy().to_string();
    let funded = hex::encode(candela_registry::anvil::dev_key(1).to_bytes());
    let out = output(run_installed(
        &bin,
        &work,
        &home,
        &[
            "pkp",
            "mint",
            "--json",
            "--network",
            &net,
            "--private-key",
            &funded,
        ],
    ));
    assert!(
        out.status.success(),
        "mint with the funded key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let minted: Value = serde_json::from_slice(&out.stdout).expect("mint json");
    assert!(minted["tokenId"]
        .as_str()
        .is_some_and(|t| t.starts_with("0x")));

    // a fresh key has no funds: the error says to fund it, on one line
    let fresh = hex::encode(owner().to_bytes());
    let out = output(run_installed(
        &bin,
        &work,
        &home,
        &["pkp", "mint", "--network", &net, "--private-key", &fresh],
    ));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fund"), "{err}");
    assert!(err.contains("cannot pay for gas"), "{err}");
    drop(devnet);
}

#[test]
fn without_anvil_or_npm_the_devnet_names_what_is_missing_and_how_to_get_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bin = tmp.path().join("candela");
    std::fs::copy(BIN, &bin).expect("copy the binary");
    let out = Command::new(&bin)
        .args([
            "devnet",
            "--nodes",
            "3",
            "--base-port",
            "0",
            "--chain",
            "anvil",
        ])
        .current_dir(tmp.path())
        .env_remove("CANDELA_ANVIL")
        .env_remove("CANDELA_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", tmp.path())
        .env("PATH", tmp.path().join("empty"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("anvil not found"), "{err}");
    assert!(err.contains("npm"), "{err}");
    assert!(err.contains("CANDELA_ANVIL"), "{err}");
}
