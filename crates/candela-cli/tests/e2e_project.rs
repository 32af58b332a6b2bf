//! Action projects end to end, with the real `candela` binary, real esbuild
//! and npm packages from the npm registry, and real devnets of node
//! processes: scaffold → build → test, bundling an npm package, watch, and
//! ES-module imports of deployed actions by CID.
//!
//! These tests need node, npm and the npm registry (`scripts/test.sh` warms
//! npm's cache first); without them they fail, they do not skip.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::BIN;
use serde_json::Value;

/// The pinned npm package bundled by the tests.
const JS_SHA3: &str = "js-sha3@0.9.3";

/// A scaffolded project in a temporary directory; stops any node process
/// its on-demand devnet left behind.
struct TempProject {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl TempProject {
    fn init(name: &str) -> TempProject {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join(name);
        let out = candela(tmp.path(), &["init", name, "--json"]);
        assert_success(&out, "candela init");
        TempProject { _tmp: tmp, root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }

    fn run(&self, args: &[&str]) -> Output {
        candela(&self.root, args)
    }

    fn build(&self) -> Vec<Value> {
        let out = self.run(&["build", "--json"]);
        assert_success(&out, "candela build");
        serde_json::from_slice::<Value>(&out.stdout)
            .expect("build --json")
            .as_array()
            .expect("an array")
            .clone()
    }

    fn npm_install(&self, spec: &str) {
        let out = Command::new("npm")
            .args([
                "install",
                "--save-exact",
                "--no-audit",
                "--no-fund",
                "--prefer-offline",
            ])
            .arg(spec)
            .current_dir(&self.root)
            .output()
            .expect("npm must be installed for these tests");
        assert_success(
            &out,
            &format!("npm install {spec} (is the npm registry reachable?)"),
        );
    }

    /// `candela test --json`: (exit success, parsed report).
    fn test(&self, extra: &[&str]) -> (bool, Value) {
        let mut args = vec!["test", "--json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "candela test printed no JSON ({e}); stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.success(), report)
    }
}

impl Drop for TempProject {
    fn drop(&mut self) {
        let devnet = self.root.join(".candela/devnet");
        for i in 0..10 {
            if let Ok(pid) = std::fs::read_to_string(devnet.join(format!("node-{i}/pid"))) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    if crate::common::alive(pid) {
                        // SAFETY: kill(2) on a node process this test's devnet started.
                        unsafe {
                            libc::kill(pid, libc::SIGKILL);
                        }
                    }
                }
            }
        }
    }
}

fn candela(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("CANDELA_PRIVATE_KEY")
        .output()
        .expect("run candela")
}

fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cid_of(path: &Path) -> String {
    candela_cid::cid_v0(&std::fs::read(path).expect("bundle"))
}

#[test]
fn init_scaffolds_a_project_whose_settings_are_git_ignored_and_new_adds_an_action() {
    let p = TempProject::init("hello");
    for f in [
        "actions/hello.js",
        "tests/hello.test.json",
        "candela.toml",
        "candela.example.toml",
        "package.json",
        ".gitignore",
        "lit-actions.d.ts",
        "jsconfig.json",
    ] {
        assert!(p.path(f).is_file(), "{f} missing");
    }
    let ignore = std::fs::read_to_string(p.path(".gitignore")).expect("gitignore");
    assert!(ignore.lines().any(|l| l == "candela.toml"));
    assert!(!ignore.lines().any(|l| l == "candela.example.toml"));
    let pkg: Value =
        serde_json::from_slice(&std::fs::read(p.path("package.json")).expect("pkg")).expect("json");
    assert_eq!(pkg["devDependencies"]["esbuild"], "0.24.2");

    // new: another action and test, from a subdirectory of the project
    let out = candela(&p.path("actions"), &["new", "second", "--json"]);
    assert_success(&out, "candela new");
    assert!(p.path("actions/second.js").is_file());
    assert!(p.path("tests/second.test.json").is_file());
    // neither an existing action nor a non-empty directory is overwritten
    assert!(!candela(&p.root, &["new", "second"]).status.success());
    assert!(
        !candela(p.root.parent().expect("parent"), &["init", "hello"])
            .status
            .success()
    );
    // names that are not file-safe are refused
    assert!(!candela(&p.root, &["new", "../escape"]).status.success());
}

#[test]
fn build_without_esbuild_or_npm_says_what_to_install() {
    let p = TempProject::init("hello");
    let out = Command::new(BIN)
        .arg("build")
        .current_dir(&p.root)
        .env("PATH", "/nonexistent")
        .output()
        .expect("run candela");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("npm was not found") && err.contains("npm install --save-dev esbuild@0.24.2"),
        "{err}"
    );
}

#[test]
fn build_bundles_each_action_and_prints_the_cid_of_the_bundle_bytes() {
    let p = TempProject::init("hello");
    let out = candela(&p.root, &["new", "other"]);
    assert_success(&out, "candela new");
    let started = Instant::now();
    let built = p.build(); // installs esbuild with npm on first use
    eprintln!(
        "first build (npm install + bundle): {:?}",
        started.elapsed()
    );
    assert_eq!(built.len(), 2);
    for b in &built {
        let name = b["action"].as_str().expect("action");
        let bundle = p.path(&format!("dist/{name}.js"));
        assert_eq!(b["cid"].as_str(), Some(cid_of(&bundle).as_str()));
        assert_eq!(
            b["bytes"].as_u64(),
            Some(std::fs::metadata(&bundle).expect("meta").len())
        );
        let text = std::fs::read_to_string(&bundle).expect("bundle");
        // the local module is inlined and no import is left
        assert!(text.contains("function greeting("), "{text}");
        assert!(!text.contains("import "), "{text}");
        // the action's top-level await stays top-level
        assert!(text.contains("\nawait Lit.Actions.signEcdsa"), "{text}");
    }
    assert!(p.path("node_modules/.bin/esbuild").is_file());
    let started = Instant::now();
    let again = p.build();
    eprintln!("second build: {:?}", started.elapsed());
    assert_eq!(
        again, built,
        "rebuilding the same sources gives the same CIDs"
    );

    // the CID does not depend on where the project lives
    let moved = tempfile::tempdir().expect("tempdir");
    let copy = moved.path().join("elsewhere");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&p.root)
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success());
    let out = candela(&copy, &["build", "--json"]);
    assert_success(&out, "build of the copy");
    let copied: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(copied.as_array(), Some(&built));

    // a broken import is a clear error that says what to do
    p.write(
        "actions/other.js",
        "import { nothing } from \"no-such-package\";\nLit.Actions.setResponse({response: nothing});\n",
    );
    let out = p.run(&["build"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-package") && err.contains("npm install"),
        "{err}"
    );
}

#[test]
fn scaffold_build_test_round_trip_passes_on_a_devnet_and_a_wrong_expectation_fails() {
    let p = TempProject::init("hello");
    let (ok, report) = p.test(&[]);
    assert!(ok, "{report:#}");
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 0);
    let case = &report["results"][0];
    assert_eq!(case["response"], r#"{"greeting":"hello, world"}"#);
    assert_eq!(case["signatures"]["sig1"]["verified"], true);
    assert_eq!(
        case["cid"].as_str(),
        Some(cid_of(&p.path("dist/hello.js")).as_str())
    );
    let nodes = case["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3, "the default devnet has 3 nodes");
    for n in nodes {
        assert_eq!(n["responseAgreed"], true, "{n}");
        assert_eq!(n["shares"], serde_json::json!(["sig1"]), "{n}");
        assert!(n["logs"]
            .as_str()
            .unwrap_or("")
            .contains("signing \"world\""));
    }

    // A wrong expectation fails the run with a non-zero exit and says why;
    // the devnet is started again from its saved state.
    let spec = std::fs::read_to_string(p.path("tests/hello.test.json")).expect("spec");
    p.write(
        "tests/hello.test.json",
        &spec.replace("\"hello, world\" }", "\"goodbye\" }"),
    );
    let (ok, report) = p.test(&[]);
    assert!(!ok, "a failing test must exit non-zero: {report:#}");
    assert_eq!(report["failed"], 1);
    // the failure names the field with both values
    let failures = report["results"][0]["failures"].to_string();
    assert!(
        failures.contains(r#"response.greeting: expected \"goodbye\", got \"hello, world\""#),
        "{failures}"
    );
    // the PKP minted by the first run was kept and signs again
    let first_address = case["signatures"]["sig1"]["ethAddress"].clone();
    assert_eq!(
        report["results"][0]["signatures"]["sig1"]["ethAddress"], first_address,
        "the second run signs with the PKP the first one minted"
    );
    let kept = p.path(".candela/test-pkp.json");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept)
            .expect("kept PKP file")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the kept wallet is readable by its owner only"
        );
    }

    // with keep = false every run mints its own PKP; the human-readable
    // report shows every node and the totals
    let settings = std::fs::read_to_string(p.path("candela.toml")).expect("candela.toml");
    assert!(settings.contains("keep = true"), "{settings}");
    p.write(
        "candela.toml",
        &settings.replace("keep = true", "keep = false"),
    );
    let out = p.run(&["test"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let first = first_address.as_str().expect("an address");
    assert!(text.contains("by 0x"), "{text}");
    assert!(
        !text.contains(first),
        "keep = false mints a new PKP:\n{text}"
    );
    assert!(text.contains("FAIL hello"), "{text}");
    for i in 0..3 {
        assert!(
            text.contains(&format!("node {i}: response agreed")),
            "{text}"
        );
    }
    assert!(text.contains("0 passed, 1 failed"), "{text}");
}

#[test]
fn a_bundled_npm_package_runs_on_the_devnet_and_returns_its_value() {
    let p = TempProject::init("hasher");
    p.npm_install(JS_SHA3);
    p.write(
        "actions/hasher.js",
        r#"import { keccak256, sha3_256 } from "js-sha3";

// top-level await in a bundled action
const input = await Promise.resolve(jsParams.input);
console.log(`hashing ${input}`);
Lit.Actions.setResponse({
  response: JSON.stringify({ keccak256: keccak256(input), sha3_256: sha3_256(input) }),
});
"#,
    );
    // Known answers for "abc" (Keccak-256 and FIPS 202 SHA3-256).
    p.write(
        "tests/hasher.test.json",
        r#"{
  "action": "hasher",
  "cases": [{
    "name": "js-sha3 from npm hashes abc",
    "jsParams": { "input": "abc" },
    "expect": {
      "response": {
        "keccak256": "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
        "sha3_256": "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
      },
      "logsContain": ["hashing abc"]
    }
  }]
}
"#,
    );
    let built = p.build();
    let bundle = std::fs::read_to_string(p.path("dist/hasher.js")).expect("bundle");
    assert!(
        !bundle.contains("from \"js-sha3\""),
        "the package is inlined"
    );
    eprintln!(
        "hasher bundle: {} bytes, {}",
        built[0]["bytes"], built[0]["cid"]
    );
    let (ok, report) = p.test(&[]);
    assert!(ok, "{report:#}");
    assert_eq!(report["passed"], 1);
}

#[test]
fn watch_rebuilds_on_change_and_prints_the_new_cid() {
    let p = TempProject::init("watched");
    // install esbuild first, so the watch starts at once
    p.build();
    let mut child = Command::new(BIN)
        .args(["watch", "--json", "--max-builds", "2"])
        .current_dir(&p.root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first: Value =
        serde_json::from_str(&lines.next().expect("a first build").expect("line")).expect("json");
    let first_cid = first[0]["cid"].as_str().expect("cid").to_string();
    // mtime granularity: make sure the edit is seen as a change
    std::thread::sleep(Duration::from_millis(50));
    let src = std::fs::read_to_string(p.path("lib/greeting.js")).expect("src");
    p.write("lib/greeting.js", &src.replace("hello, ", "hi, "));
    let second: Value =
        serde_json::from_str(&lines.next().expect("a rebuild").expect("line")).expect("json");
    let second_cid = second[0]["cid"].as_str().expect("cid");
    assert_ne!(
        first_cid, second_cid,
        "an edit to an imported module changes the CID"
    );
    assert_eq!(second_cid, cid_of(&p.path("dist/watched.js")));
    let status = child.wait().expect("wait");
    assert!(status.success(), "watch exits after --max-builds");
}

/// Replace the code node `node` stores under `cid` (its devnet is stopped).
fn corrupt_stored_action(p: &TempProject, node: usize, cid: &str, code: &[u8]) {
    let db =
        rusqlite::Connection::open(p.path(&format!(".candela/devnet/node-{node}/node.sqlite")))
            .expect("node db");
    db.busy_timeout(Duration::from_secs(5)).expect("busy");
    let n = db
        .execute(
            "UPDATE actions SET code = ?1 WHERE cid = ?2",
            rusqlite::params![code.to_vec(), cid],
        )
        .expect("update");
    assert_eq!(n, 1, "node {node} stores {cid}");
}

#[test]
fn an_action_imports_a_deployed_action_by_cid_on_a_devnet_and_a_forged_copy_is_refused() {
    let p = TempProject::init("importer");
    // 4 nodes (threshold 3): one node may fail and the network still answers.
    let toml = std::fs::read_to_string(p.path("candela.toml")).expect("toml");
    p.write(
        "candela.toml",
        &toml.replace("devnet_nodes = 3", "devnet_nodes = 4"),
    );
    p.write(
        "actions/mathlib.js",
        "// a library action: deployed, then imported by CID\nexport function double(x) {\n  return 2 * x;\n}\n",
    );
    let built = p.build();
    let lib = built
        .iter()
        .find(|b| b["action"] == "mathlib")
        .expect("mathlib built");
    let lib_cid = lib["cid"].as_str().expect("cid").to_string();
    p.write(
        "actions/importer.js",
        &format!(
            "import {{ double }} from \"ipfs://{lib_cid}\";\n\n\
             const n = await Promise.resolve(jsParams.n);\n\
             console.log(`doubling ${{n}}`);\n\
             Lit.Actions.setResponse({{ response: String(double(n)) }});\n"
        ),
    );
    p.write(
        "tests/importer.test.json",
        r#"{
  "action": "importer",
  "cases": [{
    "name": "double imported by CID doubles 21",
    "jsParams": { "n": 21 },
    "expect": { "response": "42", "logsContain": ["doubling 21"] }
  }]
}
"#,
    );
    p.build();
    let bundle = std::fs::read_to_string(p.path("dist/importer.js")).expect("bundle");
    assert!(
        bundle.contains(&format!("from \"ipfs://{lib_cid}\"")),
        "the import by CID is kept in the bundle: {bundle}"
    );

    let (ok, report) = p.test(&["importer"]);
    assert!(ok, "{report:#}");
    for n in report["results"][0]["nodes"].as_array().expect("nodes") {
        assert_eq!(n["response"], "42", "{n}");
    }

    // Node 1's copy of the library is forged: node 1 refuses to run the
    // import and says why; the three others still agree.
    let forged = b"export function double(x) {\n  return 3 * x;\n}\n";
    corrupt_stored_action(&p, 1, &lib_cid, forged);
    let (ok, report) = p.test(&["importer"]);
    assert!(ok, "3 of 4 nodes are enough: {report:#}");
    let nodes = report["results"][0]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes[1]["ok"], false, "{:#}", nodes[1]);
    let why = nodes[1]["error"].as_str().unwrap_or("");
    assert!(
        why.contains(&format!("import of ipfs://{lib_cid}")) && why.contains("fails its CID check"),
        "{why}"
    );
    for i in [0, 2, 3] {
        assert_eq!(nodes[i]["response"], "42", "{:#}", nodes[i]);
    }

    // With a second forged copy too few nodes agree: the test fails.
    corrupt_stored_action(&p, 2, &lib_cid, forged);
    let (ok, report) = p.test(&["importer"]);
    assert!(!ok, "{report:#}");
    let error = report["results"][0]["error"].as_str().unwrap_or("");
    assert!(error.contains("fails its CID check"), "{error}");
}
