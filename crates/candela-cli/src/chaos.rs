//! `candela bench chaos`: faults under load. A devnet of its own, steady
//! signing load, and a fault schedule of real processes and signals: two
//! nodes crashed (SIGKILL) and restarted from their stored shares, one node
//! paused (SIGSTOP) past the client's timeout and resumed (SIGCONT), one
//! node restarted with slow links (every peer message and HTTP answer
//! delayed, `misbehave: slow-links`) and restored. Every request must end in
//! a signature or a clear error; none may be lost, no nonce `r` may repeat.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use candela_client::Client;
use clap::Parser;
use rand_core::RngCore;
use tokio::process::Child;

use crate::bench::{percentile, Summary};
use crate::devnet::{self, DevnetArgs};

/// What `candela bench chaos` was asked to do.
pub struct ChaosArgs {
    /// Nodes in the devnet.
    pub nodes: usize,
    /// Length of the load; the schedule scales with it.
    pub duration: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests started per second over all workers (0: as fast as the
    /// answers come).
    pub rate: f64,
    /// The devnet's directory (a temporary one if absent).
    pub dir: Option<PathBuf>,
    /// The devnet's threshold-ECDSA protocol (default cait-sith).
    pub ecdsa: Option<devnet::EcdsaChoice>,
    /// Add a last fault: one node loses its store for good and is repaired
    /// from the others (a reshare of every root under load).
    pub wipe_store: bool,
    /// Instead of the crash, pause and slow-link faults: epoch changes
    /// under load (two machines lost for good and replaced under their
    /// indices, then the last member leaves, then a new one joins, then a
    /// member goes dark and the others vote it out).
    pub replace: bool,
    /// JSON only.
    pub json: bool,
}

/// A request with no answer after this long is lost (the client's own
/// attempts and timeouts end far sooner).
const LOST_AFTER: Duration = Duration::from_secs(120);
/// The client's per-node timeout during the run; the pause outlasts it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(8);
/// Signing attempts per request.
const CLIENT_ATTEMPTS: u32 = 5;
/// How long a restarted node has to be ready again.
const REJOIN_WITHIN: Duration = Duration::from_secs(90);

/// The phases of the schedule, by the fraction of the run they start at.
const PHASES: [(&str, f64); 8] = [
    ("steady", 0.0),
    ("two nodes crashed", 0.10),
    ("two nodes restarted", 0.22),
    ("one node paused", 0.38),
    ("paused node resumed", 0.38),
    ("one node with slow links", 0.68),
    ("recovered", 0.85),
    // only with `--wipe-store`
    ("one node's store lost; repaired by the others", 0.90),
];

/// The phases of the `--replace` schedule.
const REPLACE_PHASES: [(&str, f64); 6] = [
    ("steady", 0.0),
    ("two machines lost for good", 0.10),
    ("replaced by two new machines, repaired together", 0.18),
    ("the last member leaves: 7 -> 6", 0.36),
    ("a new member joins: 6 -> 7", 0.50),
    ("a member goes dark and is voted out: 7 -> 6", 0.64),
];

/// With `--replace`: nodes vote to kick a member silent this long (the
/// machines lost in the second phase are replaced well before).
const REPLACE_KICK_AFTER_SECS: u64 = 25;
/// The member that goes dark in the last `--replace` phase (one in the
/// middle: its index stays, empty).
const GOES_DARK: usize = 3;

/// Poll the registry and the statuses until the registry's committee has
/// `size` members, none of them `out`, and every one is ready with a BLS
/// share of that committee; the milliseconds it took, or `None` after
/// [`REJOIN_WITHIN`] plus `grace`.
async fn wait_registry_committee(
    network: &Path,
    size: usize,
    out: u32,
    grace: Duration,
) -> Option<f64> {
    let t0 = Instant::now();
    while t0.elapsed() < REJOIN_WITHIN + grace {
        if let Ok(mut client) = crate::cli_io::open_network(network) {
            let followed = tokio::task::block_in_place(|| client.follow_registry()).is_ok();
            let members: Vec<u32> = client.network().nodes.iter().map(|n| n.index).collect();
            let st = client.statuses().await;
            let settled = followed
                && members.len() == size
                && !members.contains(&out)
                && st.iter().all(|s| {
                    s.as_ref().is_some_and(|s| {
                        s.ready
                            && s.bls_public_shares
                                .keys()
                                .copied()
                                .eq(members.iter().copied())
                    })
                });
            if settled {
                return Some(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Poll the statuses (with a fresh view of network.json) until every one
/// of the `size` members is ready with a BLS share of a committee of
/// `size`; the milliseconds it took, or `None` after [`REJOIN_WITHIN`].
async fn wait_committee(network: &Path, size: usize) -> Option<f64> {
    let t0 = Instant::now();
    while t0.elapsed() < REJOIN_WITHIN {
        if let Ok(client) = crate::cli_io::open_network(network) {
            let st = client.statuses().await;
            let settled = st.len() == size
                && st.iter().all(|s| {
                    s.as_ref()
                        .is_some_and(|s| s.ready && s.bls_public_shares.len() == size)
                });
            if settled {
                return Some(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

enum Outcome {
    Signed([u8; 32]),
    Failed(String),
    Lost,
}

struct Record {
    phase: usize,
    ms: f64,
    outcome: Outcome,
}

/// `candela devnet` flags, parsed so that every other flag keeps its default.
#[derive(Parser)]
struct DevnetFlags {
    #[command(flatten)]
    devnet: DevnetArgs,
}

/// The node processes of the run, by index.
struct Procs {
    dir: PathBuf,
    exe: PathBuf,
    children: Vec<Option<Child>>,
}

fn signal(pid: u32, sig: i32) {
    devnet::send_signal(pid, sig)
}

impl Procs {
    fn pid(&self, i: usize) -> Option<u32> {
        self.children.get(i)?.as_ref()?.id()
    }

    /// SIGKILL node `i` and reap it.
    async fn crash(&mut self, i: usize) -> anyhow::Result<()> {
        let mut child = self.children[i]
            .take()
            .with_context(|| format!("node {i} is not running"))?;
        if let Some(pid) = child.id() {
            signal(pid, libc::SIGKILL);
        }
        child.wait().await?;
        Ok(())
    }

    /// Start node `i` from `config` (its stored shares are in its data dir).
    fn start(&mut self, i: usize, config: &Path) -> anyhow::Result<()> {
        let node_dir = self.dir.join(format!("node-{i}"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node_dir.join("node.log"))?;
        let child = tokio::process::Command::new(&self.exe)
            .arg("node")
            .arg("--config")
            .arg(config)
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("restarting node {i}"))?;
        if let Some(pid) = child.id() {
            std::fs::write(node_dir.join("pid"), pid.to_string())?;
        }
        self.children[i] = Some(child);
        Ok(())
    }

    /// Delete node `i`'s store (it must be stopped): its key shares,
    /// presignatures and records are gone; its identity stays.
    fn wipe_store(&self, i: usize) -> anyhow::Result<()> {
        let dir = self.dir.join(format!("node-{i}"));
        for name in ["node.sqlite", "node.sqlite-wal", "node.sqlite-shm"] {
            match std::fs::remove_file(dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("deleting node {i}'s {name}")),
            }
        }
        Ok(())
    }

    fn config(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}/config.json"))
    }

    /// Node `i`'s config with slow links, written next to its own.
    fn slow_config(&self, i: usize) -> anyhow::Result<PathBuf> {
        let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(self.config(i))?)?;
        cfg["misbehave"] = serde_json::Value::String("slow-links".into());
        let path = self.dir.join(format!("node-{i}/config-slow-links.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&cfg)?)?;
        Ok(path)
    }

    /// Resume anything paused, then stop every node (SIGTERM, SIGKILL
    /// after 5 s).
    async fn stop_all(&mut self) {
        for c in self.children.iter().flatten() {
            if let Some(pid) = c.id() {
                signal(pid, libc::SIGCONT);
                signal(pid, libc::SIGTERM);
            }
        }
        for mut c in self.children.drain(..).flatten() {
            if tokio::time::timeout(Duration::from_secs(5), c.wait())
                .await
                .is_err()
            {
                let _ = c.kill().await;
            }
        }
    }
}

/// One fault the schedule injected.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct FaultEvent {
    at_sec: f64,
    fault: String,
    nodes: Vec<usize>,
}

/// A restarted node's return.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Rejoin {
    node: usize,
    ready_after_ms: Option<f64>,
    same_root_key: bool,
    signed_after_rejoin: bool,
}

/// Wait until node `i` reports ready with the network's root key; how long
/// it took, or None.
async fn wait_rejoined(client: &Client, i: usize) -> Option<f64> {
    let t0 = Instant::now();
    let root = client.network().root_public_key.clone();
    while t0.elapsed() < REJOIN_WITHIN {
        let st = client.statuses().await;
        if let Some(Some(s)) = st.get(i) {
            if s.ready && s.root_public_key.as_deref() == Some(root.as_str()) {
                return Some(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Run the chaos benchmark; an error when a request was lost, an `r`
/// repeated or a restarted node did not come back.
pub async fn run(args: ChaosArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.nodes >= 6,
        "--nodes must be at least 6 (two nodes are down at once), got {}",
        args.nodes
    );
    anyhow::ensure!(
        !((args.wipe_store || args.replace) && args.ecdsa == Some(devnet::EcdsaChoice::Dkls23)),
        "--wipe-store and --replace need a cait-sith network: a DKLs23 ECDSA share is not reshared yet"
    );
    anyhow::ensure!(
        !(args.replace && (args.wipe_store || args.nodes != 7)),
        "--replace runs its own schedule on 7 nodes (--nodes 7, without --wipe-store)"
    );
    let say = |s: String| {
        if !args.json {
            eprintln!("[chaos] {s}");
        }
    };
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => {
            let mut b = [0u8; 6];
            rand_core::OsRng.fill_bytes(&mut b);
            let d = std::env::temp_dir().join(format!("candela-chaos-{}", hex::encode(b)));
            (d, true)
        }
    };
    let mut argv = vec![
        "devnet".to_string(),
        "--nodes".into(),
        args.nodes.to_string(),
        "--dir".into(),
        dir.display().to_string(),
        "--base-port".into(),
        "0".into(),
        "--pool-target".into(),
        "48".into(),
        "--pool-batch".into(),
        "2".into(),
        "--pool-concurrency".into(),
        "2".into(),
        "--quiet".into(),
    ];
    if args.ecdsa == Some(devnet::EcdsaChoice::Dkls23) {
        argv.extend(["--ecdsa".into(), "dkls23".into()]);
    }
    if args.replace {
        argv.extend(["--kick-after".into(), REPLACE_KICK_AFTER_SECS.to_string()]);
    }
    let flags = DevnetFlags::try_parse_from(argv)?;
    say(format!(
        "starting a {}-node devnet in {}",
        args.nodes,
        dir.display()
    ));
    let mut net = devnet::start(&flags.devnet).await?;
    let mut procs = Procs {
        dir: net.dir.clone(),
        exe: std::env::current_exe()?,
        children: std::mem::take(&mut net.children)
            .into_iter()
            .map(Some)
            .collect(),
    };
    let result = chaos(&args, &net.network_path, &mut procs, &say).await;
    say("stopping the devnet".into());
    procs.stop_all().await;
    net.stop().await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// A client of the network in `network.json` with the run's timeout and
/// attempts.
fn load_client(network: &Path) -> anyhow::Result<Client> {
    let mut client = crate::cli_io::open_network(network)?;
    client.timeout = CLIENT_TIMEOUT;
    // attempts spaced 0.4, 0.8, 1.2, 1.6 s apart outlast the nodes' 5 s
    // liveness window, so a crashed signer is dropped before the last one
    client.attempts = CLIENT_ATTEMPTS;
    Ok(client)
}

/// The load's client, renewed from `network.json` after each change of
/// the node set, as an application following the registry would.
type SharedClient = Arc<std::sync::RwLock<Client>>;

/// Renew the load's client from `network.json` and the registry's
/// committee (members kicked by vote are not in `network.json`).
fn follow_network(load: &SharedClient, network: &Path) -> anyhow::Result<()> {
    let mut fresh = load_client(network)?;
    tokio::task::block_in_place(|| fresh.follow_registry())?;
    *load.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    Ok(())
}

async fn chaos(
    args: &ChaosArgs,
    network: &Path,
    procs: &mut Procs,
    say: &dyn Fn(String),
) -> anyhow::Result<()> {
    let client = load_client(network)?;
    let threshold = client.network().threshold;
    let owner = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let (rec, _) = crate::pkp::mint(&client, &owner).await?;
    let want = (4 * args.concurrency) as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let free = crate::bench::min_free(&client).await;
        if free >= want || Instant::now() > deadline {
            say(format!("pool holds {free} presignatures; load starts"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // the load: `concurrency` workers signing until the end
    let phase = Arc::new(AtomicUsize::new(0));
    let records = Arc::new(Mutex::new(Vec::<Record>::new()));
    let start = Instant::now();
    let end = start + args.duration;
    let mut workers = Vec::new();
    let load: SharedClient = Arc::new(std::sync::RwLock::new(client.clone()));
    let workers_n = args.concurrency.max(1);
    // each worker starts a request at most every `pace`
    let pace = if args.rate > 0.0 {
        Duration::from_secs_f64(workers_n as f64 / args.rate)
    } else {
        Duration::ZERO
    };
    for w in 0..workers_n {
        let (load, owner, pk) = (Arc::clone(&load), owner.clone(), rec.public_key);
        let (phase, records) = (Arc::clone(&phase), Arc::clone(&records));
        let offset = pace.mul_f64(w as f64 / workers_n as f64);
        workers.push(tokio::spawn(async move {
            let mut next = start + offset;
            while next < end {
                tokio::time::sleep_until(next.into()).await;
                next = (next + pace).max(Instant::now());
                let p = phase.load(Ordering::SeqCst);
                let mut digest = [0u8; 32];
                rand_core::OsRng.fill_bytes(&mut digest);
                let t0 = Instant::now();
                let client = load.read().unwrap_or_else(|e| e.into_inner()).clone();
                let answer =
                    tokio::time::timeout(LOST_AFTER, client.pkp_sign(&owner, &pk, digest)).await;
                let outcome = match answer {
                    Ok(Ok(o)) => Outcome::Signed(o.signature.r_bytes()),
                    Ok(Err(e)) => Outcome::Failed(e.to_string()),
                    Err(_) => Outcome::Lost,
                };
                records
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Record {
                        phase: p,
                        ms: t0.elapsed().as_secs_f64() * 1000.0,
                        outcome,
                    });
            }
        }));
    }

    // the schedule
    let at = |frac: f64| start + args.duration.mul_f64(frac);
    let secs = || start.elapsed().as_secs_f64();
    let mut events = Vec::new();
    let mut rejoins = Vec::new();
    let enter = |i: usize, say: &dyn Fn(String)| {
        phase.store(i, Ordering::SeqCst);
        say(format!(
            "{:5.1}s phase: {}",
            start.elapsed().as_secs_f64(),
            if args.replace {
                REPLACE_PHASES[i].0
            } else {
                PHASES[i].0
            }
        ));
    };
    let (crashed, paused, slow) = ([1usize, 2], 3usize, 4usize);
    enter(0, say);
    if args.replace {
        let dir = procs.dir.clone();
        let lost = [5usize, 6];
        tokio::time::sleep_until(at(REPLACE_PHASES[1].1).into()).await;
        enter(1, say);
        for &i in &lost {
            procs.crash(i).await?;
            std::fs::remove_dir_all(dir.join(format!("node-{i}")))?;
        }
        events.push(FaultEvent {
            at_sec: secs(),
            fault: "killed; directories (identity, storage key, store) deleted".into(),
            nodes: lost.to_vec(),
        });

        tokio::time::sleep_until(at(REPLACE_PHASES[2].1).into()).await;
        enter(2, say);
        for &i in &lost {
            crate::epoch::replace(&crate::epoch::ReplaceArgs {
                dir: dir.clone(),
                node: i,
                url: None,
                admin_key: None,
            })?;
            let cfg = procs.config(i);
            procs.start(i, &cfg)?;
        }
        let repaired = wait_committee(network, args.nodes).await;
        follow_network(&load, network)?;
        say(format!(
            "nodes 5 and 6 replaced: {}",
            repaired.map_or("NOT repaired".to_string(), |ms| format!(
                "every member ready with new shares after {ms:.0} ms"
            ))
        ));
        events.push(FaultEvent {
            at_sec: secs(),
            fault: format!(
                "new identities registered under their indices and started; repaired together in {}",
                repaired.map_or("-".into(), |ms| format!("{ms:.0} ms"))
            ),
            nodes: lost.to_vec(),
        });
        rejoins.push(Rejoin {
            node: 5,
            ready_after_ms: repaired,
            same_root_key: repaired.is_some(),
            signed_after_rejoin: false,
        });

        tokio::time::sleep_until(at(REPLACE_PHASES[3].1).into()).await;
        enter(3, say);
        let leaving = args.nodes - 1;
        crate::epoch::advance(&crate::epoch::AdvanceArgs {
            dir: dir.clone(),
            add: 0,
            remove: 1,
            member: Vec::new(),
            admin_key: None,
        })?;
        let moved = wait_committee(network, args.nodes - 1).await;
        follow_network(&load, network)?;
        let t0 = Instant::now();
        let mut stopped = None;
        while t0.elapsed() < REJOIN_WITHIN {
            if let Some(c) = procs.children[leaving].as_mut() {
                if c.try_wait()?.is_some() {
                    stopped = Some(t0.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        procs.children[leaving] = None;
        say(format!(
            "node {leaving} left: keys moved to {} members in {}; it erased its shares and stopped {}",
            args.nodes - 1,
            moved.map_or("NOT".into(), |ms| format!("{ms:.0} ms")),
            stopped.map_or("NOT".into(), |ms| format!("{ms:.0} ms later"))
        ));
        anyhow::ensure!(
            moved.is_some() && stopped.is_some(),
            "the epoch change to {} members did not complete",
            args.nodes - 1
        );
        events.push(FaultEvent {
            at_sec: secs(),
            fault: format!(
                "left the node set; keys moved in {:.0} ms",
                moved.unwrap_or_default()
            ),
            nodes: vec![leaving],
        });

        tokio::time::sleep_until(at(REPLACE_PHASES[4].1).into()).await;
        enter(4, say);
        // the machine that left is gone; a new one joins at its index
        std::fs::remove_dir_all(dir.join(format!("node-{leaving}")))?;
        crate::epoch::advance(&crate::epoch::AdvanceArgs {
            dir: dir.clone(),
            add: 1,
            remove: 0,
            member: Vec::new(),
            admin_key: None,
        })?;
        let cfg = procs.config(leaving);
        procs.start(leaving, &cfg)?;
        let joined = wait_committee(network, args.nodes).await;
        follow_network(&load, network)?;
        say(format!(
            "a new member joined at index {leaving}: {}",
            joined.map_or("keys NOT moved".into(), |ms| format!(
                "keys moved to {} members in {ms:.0} ms",
                args.nodes
            ))
        ));
        anyhow::ensure!(joined.is_some(), "the join did not complete");
        events.push(FaultEvent {
            at_sec: secs(),
            fault: format!(
                "joined the node set; keys moved in {:.0} ms",
                joined.unwrap_or_default()
            ),
            nodes: vec![leaving],
        });

        tokio::time::sleep_until(at(REPLACE_PHASES[5].1).into()).await;
        enter(5, say);
        // a machine goes dark (its disk stays): after
        // REPLACE_KICK_AFTER_SECS of silence the others vote it out, and
        // the keys move to the six others, its index left empty
        procs.crash(GOES_DARK).await?;
        events.push(FaultEvent {
            at_sec: secs(),
            fault: format!(
                "SIGKILL; the others vote it out after {REPLACE_KICK_AFTER_SECS} s of silence"
            ),
            nodes: vec![GOES_DARK],
        });
        let grace = Duration::from_secs(REPLACE_KICK_AFTER_SECS + 10);
        let kicked =
            wait_registry_committee(network, args.nodes - 1, GOES_DARK as u32, grace).await;
        follow_network(&load, network)?;
        say(format!(
            "node {GOES_DARK} went dark: {}",
            kicked.map_or("NOT voted out".into(), |ms| format!(
                "voted out and the keys moved to the {} others {ms:.0} ms after it went dark",
                args.nodes - 1
            ))
        ));
        anyhow::ensure!(kicked.is_some(), "the kick did not complete");
        events.push(FaultEvent {
            at_sec: secs(),
            fault: format!(
                "voted out (kicked) and its index left empty; keys moved {:.0} ms after it went dark",
                kicked.unwrap_or_default()
            ),
            nodes: vec![GOES_DARK],
        });
    } else {
        tokio::time::sleep_until(at(PHASES[1].1).into()).await;
        enter(1, say);
        for &i in &crashed {
            procs.crash(i).await?;
        }
        events.push(FaultEvent {
            at_sec: secs(),
            fault: "SIGKILL".into(),
            nodes: crashed.to_vec(),
        });

        tokio::time::sleep_until(at(PHASES[2].1).into()).await;
        enter(2, say);
        for &i in &crashed {
            let cfg = procs.config(i);
            procs.start(i, &cfg)?;
        }
        events.push(FaultEvent {
            at_sec: secs(),
            fault: "restart from stored shares".into(),
            nodes: crashed.to_vec(),
        });
        for &i in &crashed {
            let ready = wait_rejoined(&client, i).await;
            say(format!(
                "node {i} ready again with the same root key: {}",
                ready.map_or("NO".to_string(), |ms| format!("after {ms:.0} ms"))
            ));
            rejoins.push(Rejoin {
                node: i,
                ready_after_ms: ready,
                same_root_key: ready.is_some(),
                signed_after_rejoin: false,
            });
        }

        tokio::time::sleep_until(at(PHASES[3].1).into()).await;
        enter(3, say);
        let pause_for = CLIENT_TIMEOUT + Duration::from_secs(2);
        if let Some(pid) = procs.pid(paused) {
            signal(pid, libc::SIGSTOP);
            events.push(FaultEvent {
                at_sec: secs(),
                fault: format!("SIGSTOP for {} s", pause_for.as_secs()),
                nodes: vec![paused],
            });
            tokio::time::sleep(pause_for).await;
            signal(pid, libc::SIGCONT);
            events.push(FaultEvent {
                at_sec: secs(),
                fault: "SIGCONT".into(),
                nodes: vec![paused],
            });
        }
        enter(4, say);

        tokio::time::sleep_until(at(PHASES[5].1).into()).await;
        enter(5, say);
        let slow_cfg = procs.slow_config(slow)?;
        procs.crash(slow).await?;
        procs.start(slow, &slow_cfg)?;
        events.push(FaultEvent {
            at_sec: secs(),
            fault: format!(
                "restarted with slow links ({} ms per message and answer)",
                candela_node::config::Misbehaviour::SLOW_LINK_DELAY.as_millis()
            ),
            nodes: vec![slow],
        });
        let slow_ready = wait_rejoined(&client, slow).await;
        rejoins.push(Rejoin {
            node: slow,
            ready_after_ms: slow_ready,
            same_root_key: slow_ready.is_some(),
            signed_after_rejoin: false,
        });

        tokio::time::sleep_until(at(PHASES[6].1).into()).await;
        enter(6, say);
        procs.crash(slow).await?;
        let cfg = procs.config(slow);
        procs.start(slow, &cfg)?;
        events.push(FaultEvent {
            at_sec: secs(),
            fault: "restarted with normal links".into(),
            nodes: vec![slow],
        });
        let restored = wait_rejoined(&client, slow).await;
        rejoins.push(Rejoin {
            node: slow,
            ready_after_ms: restored,
            same_root_key: restored.is_some(),
            signed_after_rejoin: false,
        });

        if args.wipe_store {
            // a node none of the faults above touched
            let wiped = 5usize;
            tokio::time::sleep_until(at(PHASES[7].1).into()).await;
            enter(7, say);
            procs.crash(wiped).await?;
            procs.wipe_store(wiped)?;
            let cfg = procs.config(wiped);
            procs.start(wiped, &cfg)?;
            events.push(FaultEvent {
                at_sec: secs(),
                fault: "store deleted; restarted to be repaired by the others".into(),
                nodes: vec![wiped],
            });
            let repaired = wait_rejoined(&client, wiped).await;
            say(format!(
                "node {wiped} repaired: {}",
                repaired.map_or("NO".to_string(), |ms| format!("ready after {ms:.0} ms"))
            ));
            rejoins.push(Rejoin {
                node: wiped,
                ready_after_ms: repaired,
                same_root_key: repaired.is_some(),
                signed_after_rejoin: false,
            });
        }
    }

    say("load ends; waiting for the requests in flight".into());
    for w in workers {
        w.await?;
    }
    let seconds = start.elapsed().as_secs_f64();

    // restarted nodes serve again: each takes part in a signature whose
    // signing set must include it (the others stay out), on the committee
    // of the end of the run
    let client = load.read().unwrap_or_else(|e| e.into_inner()).clone();
    for r in &mut rejoins {
        if r.ready_after_ms.is_none() {
            continue;
        }
        r.signed_after_rejoin = serves(&client, &owner, &rec.public_key, r.node).await;
    }

    let records = std::mem::take(&mut *records.lock().unwrap_or_else(|e| e.into_inner()));
    report(args, threshold, seconds, &records, &events, &rejoins, say)
}

/// Whether node `i` contributes a valid share: a signature whose signing
/// set must include it (all but `i` and `t - 1` others are left out).
async fn serves(
    client: &Client,
    owner: &k256::ecdsa::SigningKey,
    pk: &candela_crypto::AffinePoint,
    i: usize,
) -> bool {
    let t = client.network().threshold;
    let members: Vec<u32> = client.network().nodes.iter().map(|n| n.index).collect();
    let keep: Vec<u32> = std::iter::once(i as u32)
        .chain(
            members
                .iter()
                .copied()
                .filter(|&j| j != i as u32)
                .take(t - 1),
        )
        .collect();
    let leave_out: Vec<u32> = members
        .iter()
        .copied()
        .filter(|j| !keep.contains(j))
        .collect();
    let auth = candela_client::RequestAuth::Session(client.session(owner));
    for _ in 0..6 {
        let mut digest = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut digest);
        let rid = candela_client::new_request_id();
        match client
            .pkp_sign_leaving_out(&rid, &auth, pk, digest, &leave_out)
            .await
        {
            Ok(_) => return true,
            Err(e) => tracing::debug!(node = i, error = %e, "rejoin check"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

fn report(
    args: &ChaosArgs,
    threshold: usize,
    seconds: f64,
    records: &[Record],
    events: &[FaultEvent],
    rejoins: &[Rejoin],
    say: &dyn Fn(String),
) -> anyhow::Result<()> {
    let summarise = |rs: &[&Record]| {
        let mut s = Summary {
            latencies_ms: rs
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Signed(_)))
                .map(|r| r.ms)
                .collect(),
            failures: rs
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
                .count(),
            seconds,
        };
        s.latencies_ms.sort_by(|a, b| a.total_cmp(b));
        s
    };
    let all: Vec<&Record> = records.iter().collect();
    let total = summarise(&all);
    let lost = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Lost))
        .count();
    let mut rs: Vec<[u8; 32]> = records
        .iter()
        .filter_map(|r| match r.outcome {
            Outcome::Signed(r) => Some(r),
            _ => None,
        })
        .collect();
    let succeeded = rs.len();
    rs.sort_unstable();
    rs.dedup();
    let distinct_r = rs.len();
    let mut failed_all: Vec<f64> = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .map(|r| r.ms)
        .collect();
    failed_all.sort_by(|a, b| a.total_cmp(b));
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        if let Outcome::Failed(e) = &r.outcome {
            *errors.entry(error_kind(e)).or_default() += 1;
        }
    }
    let names: Vec<(&str, f64)> = if args.replace {
        REPLACE_PHASES.to_vec()
    } else if args.wipe_store {
        PHASES.to_vec()
    } else {
        PHASES[..PHASES.len() - 1].to_vec()
    };
    let phases: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let in_phase: Vec<&Record> = records.iter().filter(|r| r.phase == i).collect();
            let s = summarise(&in_phase);
            serde_json::json!({
                "phase": name,
                "sent": in_phase.len(),
                "succeeded": s.latencies_ms.len(),
                "failed": s.failures,
                "lost": in_phase.iter().filter(|r| matches!(r.outcome, Outcome::Lost)).count(),
                "p50Ms": percentile(&s.latencies_ms, 0.5),
                "p99Ms": percentile(&s.latencies_ms, 0.99),
            })
        })
        .collect();
    let sent = records.len();
    let line = format!(
        "chaos: sent={sent} succeeded={succeeded} failed={} lost={lost}",
        total.failures
    );
    let summary = serde_json::json!({
        "ecdsa": match args.ecdsa {
            Some(devnet::EcdsaChoice::Dkls23) => "dkls23",
            _ => "cait-sith",
        },
        "nodes": args.nodes,
        "threshold": threshold,
        "durationSecs": args.duration.as_secs_f64(),
        "concurrency": args.concurrency,
        "wipeStore": args.wipe_store,
        "replace": args.replace,
        "sent": sent,
        "succeeded": succeeded,
        "failed": total.failures,
        "lost": lost,
        "distinctR": distinct_r,
        "rRepeated": succeeded - distinct_r,
        "ratePerSec": args.rate,
        "latency": {
            "p50Ms": percentile(&total.latencies_ms, 0.5),
            "p90Ms": percentile(&total.latencies_ms, 0.9),
            "p99Ms": percentile(&total.latencies_ms, 0.99),
            "maxMs": percentile(&total.latencies_ms, 1.0),
            "throughputPerSec": succeeded as f64 / seconds,
        },
        "failedLatency": {
            "p50Ms": percentile(&failed_all, 0.5),
            "maxMs": percentile(&failed_all, 1.0),
        },
        "phases": phases,
        "faults": events,
        "rejoins": rejoins,
        "errors": errors,
        "clientTimeoutMs": CLIENT_TIMEOUT.as_millis() as u64,
        "clientAttempts": CLIENT_ATTEMPTS,
        "lostAfterSecs": LOST_AFTER.as_secs(),
    });
    if !args.json {
        println!("{line}");
    }
    say(line);
    println!("{}", serde_json::to_string_pretty(&summary)?);
    anyhow::ensure!(lost == 0, "{lost} requests got no answer at all");
    anyhow::ensure!(
        distinct_r == succeeded,
        "a nonce r repeated: {succeeded} signatures but {distinct_r} distinct r"
    );
    for r in rejoins {
        anyhow::ensure!(
            r.same_root_key && r.signed_after_rejoin,
            "node {} did not serve again after its restart",
            r.node
        );
    }
    Ok(())
}

/// The kind of a client error: its headline and the distinct reasons the
/// nodes gave, without node indices and URLs.
fn error_kind(e: &str) -> String {
    let mut parts = e.split("; ");
    let head = parts.next().unwrap_or(e).to_string();
    let mut reasons: Vec<&str> = parts
        .map(|p| p.split_once("): ").map_or(p, |(_, r)| r))
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    let mut kind = head;
    if !reasons.is_empty() {
        kind.push_str(" | ");
        kind.push_str(&reasons.join(" | "));
    }
    kind.chars().take(400).collect()
}
