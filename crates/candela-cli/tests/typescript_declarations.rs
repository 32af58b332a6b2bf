//! The editor support of `candela init`: the TypeScript declarations of the
//! action globals (`lit-actions.d.ts`) and the `jsconfig.json` that turns
//! `checkJs` on, checked with the real compiler (`tsc --noEmit`, the
//! typescript pinned in `compat/typescript/package-lock.json`, with the
//! ethers 5.7.2 types the sandbox's ethers has).
//!
//! Checked: the scaffold `candela init` writes (with and without ethers
//! installed in the project), the declarations themselves, and every action
//! of the repository: Lit's documented actions in
//! `crates/candela-actions/tests/actions/` and the examples, unchanged.
//!
//! Actions read their jsParams as implicit globals (`publicKey`, not
//! `jsParams.publicKey`), and those names belong to each action, so no fixed
//! declaration can cover them. Each action is therefore checked on its own,
//! with a generated `jsparams.d.ts` declaring exactly the jsParams names the
//! table [`ACTIONS`] gives for it (typed `any`: they are JSON of the caller's
//! choosing), so a name an action does not receive is still an error.
//!
//! These tests need node and `npm ci --prefix compat/typescript` (done by
//! `scripts/test.sh`); without them they fail, they do not skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_candela");

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `compat/typescript/node_modules`: typescript and ethers, pinned.
fn compat_modules() -> PathBuf {
    let modules = repo().join("compat/typescript/node_modules");
    assert!(
        modules.join("typescript/bin/tsc").is_file(),
        "{} has no typescript: run `npm ci --prefix compat/typescript`",
        modules.display()
    );
    modules
}

/// Runs the pinned `tsc` with `args` in `dir`.
fn tsc(dir: &Path, args: &[&str]) -> Output {
    Command::new("node")
        .arg(compat_modules().join("typescript/bin/tsc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("node must be installed for these tests")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_checks(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "tsc found errors in {what} ({}):\n{}",
        out.status,
        text(out)
    );
}

/// A project made by the real `candela init` in a temporary directory.
struct Scaffold {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Scaffold {
    fn init() -> Scaffold {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = Command::new(BIN)
            .args(["init", "hello"])
            .current_dir(tmp.path())
            .output()
            .expect("run candela");
        assert!(out.status.success(), "candela init: {}", text(&out));
        let root = tmp.path().join("hello");
        Scaffold { _tmp: tmp, root }
    }

    /// Makes the pinned ethers (and typescript) the project's `node_modules`,
    /// as `npm install --save-dev ethers@5.7.2` would.
    fn install_ethers(&self) {
        symlink_dir(&compat_modules(), &self.root.join("node_modules"));
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.root.join(rel), text).expect("write");
    }

    /// `tsc --noEmit -p jsconfig.json`: the check an editor makes.
    fn check(&self) -> Output {
        tsc(&self.root, &["--noEmit", "-p", "jsconfig.json"])
    }
}

#[cfg(unix)]
fn symlink_dir(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).expect("symlink node_modules");
}

#[test]
fn the_scaffold_of_candela_init_type_checks_with_and_without_ethers_installed() {
    let p = Scaffold::init();
    for f in ["lit-actions.d.ts", "jsconfig.json"] {
        assert!(p.root.join(f).is_file(), "candela init did not write {f}");
    }
    let jsconfig: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.root.join("jsconfig.json")).expect("read"))
            .expect("jsconfig.json is JSON");
    assert_eq!(jsconfig["compilerOptions"]["checkJs"], true);

    // without node_modules: `ethers` is untyped, the rest is checked
    assert_checks(&p.check(), "the scaffold (no ethers installed)");
    p.install_ethers();
    assert_checks(&p.check(), "the scaffold (ethers 5.7.2 installed)");

    // the checks are real: a misspelled API, a wrong argument shape, an
    // ethers function that does not exist and a global the sandbox lacks
    // are each reported
    p.write(
        "actions/wrong.js",
        "await Lit.Actions.signEcdsaa({ toSign: [1], publicKey: \"0x04\", sigName: \"s\" });\n\
         await Lit.Actions.getRpcUrl({ chainName: \"yellowstone\" });\n\
         ethers.utils.keccak257(\"0x\");\n\
         console.log(document.title, process.env);\n",
    );
    let out = p.check();
    assert!(!out.status.success(), "wrong code passed:\n{}", text(&out));
    let report = text(&out);
    for expected in [
        "Property 'signEcdsaa' does not exist",
        "'chainName' does not exist",
        "Property 'keccak257' does not exist",
        "Cannot find name 'document'",
        "Cannot find name 'process'",
    ] {
        assert!(report.contains(expected), "{expected:?} not in:\n{report}");
    }
}

/// The declarations are valid TypeScript in their own right. `skipLibCheck`
/// (which the scaffold sets so that packages' own .d.ts files are not
/// checked) skips every .d.ts, so the file is checked here as a `.ts` file
/// with strict settings, against the real ethers types.
#[test]
fn the_declarations_file_is_valid_strict_typescript() {
    let p = Scaffold::init();
    p.install_ethers();
    let decl = std::fs::read_to_string(p.root.join("lit-actions.d.ts")).expect("read");
    p.write("declarations-check.ts", &decl);
    let out = tsc(
        &p.root,
        &[
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "--target",
            "es2022",
            "--lib",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "declarations-check.ts",
        ],
    );
    assert_checks(&out, "lit-actions.d.ts (as strict .ts)");
}

/// What the repository's .js files under the checked directories are: an
/// action and the jsParams names it reads as globals, or not an action.
enum Kind {
    /// An action; the jsParams it reads as implicit globals.
    Action(&'static [&'static str]),
    /// A template action: its placeholders (replaced by a generator before it
    /// runs) are declared like jsParams.
    Template(&'static [&'static str]),
    /// Not an action (a Node.js script); not checked.
    NotAnAction,
}

/// Every .js file under `crates/candela-actions/tests/actions/` and
/// `examples/` (outside node_modules), relative to the repository root.
const ACTIONS: &[(&str, Kind)] = &[
    (
        "crates/candela-actions/tests/actions/auth_gate.js",
        Kind::Action(&["owner", "publicKey"]),
    ),
    (
        "crates/candela-actions/tests/actions/child_call.js",
        Kind::Action(&["childCid"]),
    ),
    (
        "crates/candela-actions/tests/actions/hello_world.js",
        Kind::Action(&["publicKey"]),
    ),
    (
        "crates/candela-actions/tests/actions/lit_send_transaction.js",
        Kind::Action(&["unsignedTransaction", "publicKey", "sigName", "chain"]),
    ),
    (
        "crates/candela-actions/tests/actions/multiple_signatures.js",
        Kind::Action(&["messages", "publicKey"]),
    ),
    (
        "crates/candela-actions/tests/actions/personal_sign.js",
        Kind::Action(&["dataToSign", "pkpPublicKey", "sigName"]),
    ),
    (
        "crates/candela-actions/tests/actions/price_oracle.js",
        Kind::Action(&["apiBase", "publicKey"]),
    ),
    (
        "crates/candela-actions/tests/actions/prime_number.js",
        Kind::Action(&["number", "toSign", "publicKey"]),
    ),
    (
        "crates/candela-actions/tests/actions/run_once_tx.js",
        Kind::Action(&["recipient"]),
    ),
    (
        "crates/candela-actions/tests/actions/sign_and_combine.js",
        Kind::Action(&["payload", "publicKey"]),
    ),
    (
        "crates/candela-actions/tests/actions/verify_then_sign.js",
        Kind::Action(&["message", "userSignature", "allowed", "publicKey"]),
    ),
    (
        "crates/candela-actions/tests/actions/wallet_entropy.js",
        Kind::Action(&[]),
    ),
    (
        "crates/candela-actions/tests/actions/weather_condition.js",
        Kind::Action(&["apiBase", "publicKey"]),
    ),
    (
        "examples/actions/prime.js",
        Kind::Action(&["number", "toSign", "publicKey"]),
    ),
    (
        "examples/actions/solana-transfer.js",
        Kind::Action(&["publicKey", "message", "maxLamports"]),
    ),
    (
        "examples/actions/taproot-spend.js",
        Kind::Action(&[
            "publicKey",
            "version",
            "locktime",
            "prevTxid",
            "prevVout",
            "prevValue",
            "prevScript",
            "sequence",
            "outputScript",
            "amount",
            "maxAmount",
            "allowedTo",
            "maxFee",
        ]),
    ),
    ("examples/listen/echo.js", Kind::Action(&[])),
    (
        "examples/defi-rebalance/rebalance.template.js",
        Kind::Template(&["__CONFIG__", "publicKey"]),
    ),
    ("examples/defi-rebalance/uniswap.js", Kind::NotAnAction),
];

/// The .js files under `dir` (recursively, skipping node_modules), relative
/// to the repository root.
fn js_files(dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "node_modules") {
                js_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "js") {
            let rel = path.strip_prefix(repo()).expect("under the repository");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Whether `name` occurs in `code` as a whole identifier.
fn uses_identifier(code: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    code.match_indices(name).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + name.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[test]
fn lits_documented_actions_and_the_examples_type_check_unchanged_against_the_declarations() {
    // the table covers every .js file, so a new action cannot go unchecked
    let mut found = Vec::new();
    for dir in ["crates/candela-actions/tests/actions", "examples"] {
        js_files(&repo().join(dir), &mut found);
    }
    let listed: Vec<&str> = ACTIONS.iter().map(|(f, _)| *f).collect();
    for f in &found {
        assert!(
            listed.contains(&f.as_str()),
            "{f} is not in ACTIONS: add it with the jsParams it reads as globals"
        );
    }
    for f in &listed {
        assert!(
            found.iter().any(|x| x == f),
            "{f} is in ACTIONS but missing"
        );
    }

    let p = Scaffold::init();
    p.install_ethers();
    let checks = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, (file, kind)) in ACTIONS.iter().enumerate() {
        let names = match kind {
            Kind::Action(names) | Kind::Template(names) => *names,
            Kind::NotAnAction => continue,
        };
        let path = repo().join(file);
        let code = std::fs::read_to_string(&path).expect("read action");
        for name in names {
            assert!(
                uses_identifier(&code, name),
                "{file} does not use the global {name}: remove it from ACTIONS"
            );
        }
        // one directory per action: its generated globals, and a tsconfig
        // that extends the scaffold's jsconfig.json (the editor's settings)
        let dir = checks.path().join(format!("check{i}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let globals: String = names
            .iter()
            .map(|n| format!("declare const {n}: any;\n"))
            .collect();
        std::fs::write(
            dir.join("jsparams.d.ts"),
            format!("// The globals {file} reads (generated by the test).\n{globals}"),
        )
        .expect("write");
        let tsconfig = serde_json::json!({
            "extends": p.root.join("jsconfig.json"),
            "include": [],
            "files": [
                p.root.join("lit-actions.d.ts"),
                dir.join("jsparams.d.ts"),
                path,
            ],
        });
        std::fs::write(dir.join("tsconfig.json"), tsconfig.to_string()).expect("write");
        let out = tsc(&dir, &["--noEmit", "-p", "tsconfig.json"]);
        if !out.status.success() {
            failures.push(format!("{file}:\n{}", text(&out)));
        }
        checked += 1;
    }
    let actions = ACTIONS
        .iter()
        .filter(|(_, k)| !matches!(k, Kind::NotAnAction))
        .count();
    assert_eq!(checked, actions, "every action was checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} actions do not type-check:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
