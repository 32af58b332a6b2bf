//! `candela init` and `candela new`: the files of a new project and of a new
//! action in it.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::bundle::ESBUILD_VERSION;
use super::config::{CONFIG_FILE, EXAMPLE_FILE, TEMPLATE};

/// Whether `name` can name a project or an action: lower-case letters,
/// digits, `-` and `_`, starting with a letter, at most 64 characters.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "{name:?} is not a valid name: use lower-case letters, digits, '-' and '_', \
             starting with a letter (at most 64 characters)"
        );
    }
    Ok(())
}

/// The example action: a local module import, `jsParams`, top-level
/// `await`, `ethers`, a signature and a response.
fn action_source(name: &str) -> String {
    format!(
        r#"// {name}: a Candela action (the Lit Actions API: Lit.Actions, jsParams).
// `candela build` bundles it with its imports (npm packages from
// node_modules, local modules) into dist/{name}.js.
//
// jsParams: {{ message, publicKey }}
// Signs keccak256(message) with the PKP `publicKey` as "sig1" and answers
// with a greeting.
import {{ greeting }} from "../lib/greeting.js";

const text = greeting(jsParams.message);
console.log(`signing ${{JSON.stringify(jsParams.message)}}`);
const toSign = ethers.utils.arrayify(
  ethers.utils.keccak256(ethers.utils.toUtf8Bytes(jsParams.message)),
);
await Lit.Actions.signEcdsa({{ toSign, publicKey: jsParams.publicKey, sigName: "sig1" }});
Lit.Actions.setResponse({{ response: JSON.stringify({{ greeting: text }}) }});
"#
    )
}

/// The local module the example action imports.
const GREETING_MODULE: &str = r#"// A local module: `candela build` bundles it into every action that imports it.
export function greeting(who) {
  return `hello, ${who}`;
}
"#;

/// The example test of an action.
fn test_source(name: &str) -> String {
    format!(
        r#"{{
  "action": "{name}",
  "cases": [
    {{
      "name": "greets and signs the message with the PKP",
      "jsParams": {{ "message": "world", "publicKey": "$PKP_PUBLIC_KEY" }},
      "expect": {{
        "response": {{ "greeting": "hello, world" }},
        "signatures": ["sig1"],
        "logsContain": ["signing \"world\""]
      }}
    }}
  ]
}}
"#
    )
}

fn package_json(name: &str) -> String {
    format!(
        r#"{{
  "name": "{name}",
  "private": true,
  "description": "Candela actions: candela build bundles actions/ into dist/, candela test runs tests/ on a network",
  "scripts": {{
    "build": "candela build",
    "test": "candela test"
  }},
  "devDependencies": {{
    "esbuild": "{ESBUILD_VERSION}"
  }}
}}
"#
    )
}

/// Editor support: the types of the globals an action sees (`Lit.Actions`,
/// `Lit.Auth`, `LitActions`, `LitAuth`, `jsParams`, `ethers`, `fetch`, …).
/// The file in `templates/` is the one source of these declarations; the
/// test `typescript_declarations` checks it with `tsc`.
pub const DECLARATIONS: &str = include_str!("../../templates/lit-actions.d.ts");

/// Where [`DECLARATIONS`] goes in a project.
pub const DECLARATIONS_FILE: &str = "lit-actions.d.ts";

/// Editor support: `checkJs` over `actions/` and `lib/` with the
/// declarations, in the sandbox's language (ES2022, no DOM, every file its
/// own module as every action is its own program).
pub const JSCONFIG: &str = include_str!("../../templates/jsconfig.json");

const GITIGNORE: &str = "# local settings (commit candela.example.toml instead)\ncandela.toml\nnode_modules/\ndist/\n.candela/\n";

/// Files written, relative to the project root.
pub type Written = Vec<PathBuf>;

fn write_new(root: &Path, rel: &str, text: &str, written: &mut Written) -> anyhow::Result<()> {
    let path = root.join(rel);
    if path.exists() {
        bail!("{} already exists; not overwriting it", path.display());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    written.push(PathBuf::from(rel));
    Ok(())
}

/// `candela init NAME`: a new project in `dir` (which must not exist or be
/// empty) with one example action and its test.
pub fn init(dir: &Path, name: &str) -> anyhow::Result<Written> {
    check_name(name)?;
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} already exists and is not empty; choose another name, or add an action \
                 to an existing project with `candela new NAME`",
                dir.display()
            );
        }
    }
    let mut written = Vec::new();
    write_new(dir, CONFIG_FILE, TEMPLATE, &mut written)?;
    write_new(dir, EXAMPLE_FILE, TEMPLATE, &mut written)?;
    write_new(dir, ".gitignore", GITIGNORE, &mut written)?;
    write_new(dir, "package.json", &package_json(name), &mut written)?;
    write_new(dir, "lib/greeting.js", GREETING_MODULE, &mut written)?;
    add_editor_support(dir, &mut written)?;
    add_action(dir, name, &mut written)?;
    Ok(written)
}

/// `candela new NAME`: another action and its test in the project at `root`.
pub fn new_action(root: &Path, name: &str) -> anyhow::Result<Written> {
    check_name(name)?;
    let mut written = Vec::new();
    if !root.join("lib/greeting.js").exists() {
        write_new(root, "lib/greeting.js", GREETING_MODULE, &mut written)?;
    }
    add_editor_support(root, &mut written)?;
    add_action(root, name, &mut written)?;
    Ok(written)
}

/// The declarations and `jsconfig.json`, each unless the project has one
/// (so `candela new` adds them to projects made before they existed, and
/// never overwrites a file the developer changed).
fn add_editor_support(root: &Path, written: &mut Written) -> anyhow::Result<()> {
    for (rel, text) in [
        (DECLARATIONS_FILE, DECLARATIONS),
        ("jsconfig.json", JSCONFIG),
    ] {
        if !root.join(rel).exists() {
            write_new(root, rel, text, written)?;
        }
    }
    Ok(())
}

fn add_action(root: &Path, name: &str, written: &mut Written) -> anyhow::Result<()> {
    for ext in super::bundle::ACTION_EXTENSIONS {
        let existing = root.join("actions").join(format!("{name}.{ext}"));
        if existing.exists() {
            bail!("the action {name} already exists ({})", existing.display());
        }
    }
    write_new(
        root,
        &format!("actions/{name}.js"),
        &action_source(name),
        written,
    )?;
    write_new(
        root,
        &format!("tests/{name}.test.json"),
        &test_source(name),
        written,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_file_safe_are_refused() {
        for bad in ["", "Hello", "1abc", "a/b", "../x", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["hello", "price-oracle", "sign_2"] {
            check_name(good).expect(good);
        }
    }

    #[test]
    fn the_jsconfig_checks_the_actions_with_the_declarations() {
        let config: serde_json::Value = serde_json::from_str(JSCONFIG).expect("JSON");
        assert_eq!(config["compilerOptions"]["checkJs"], true);
        let include = config["include"].as_array().expect("include");
        for dir in ["*.d.ts", "actions", "lib"] {
            assert!(include.iter().any(|v| v == dir), "{dir} not included");
        }
        assert!(DECLARATIONS_FILE.ends_with(".d.ts"));
        for global in [
            "const Lit:",
            "const LitActions:",
            "var jsParams:",
            "var ethers:",
        ] {
            assert!(DECLARATIONS.contains(global), "{global} not declared");
        }
    }

    #[test]
    fn the_example_test_is_a_valid_test_file() {
        let spec: super::super::spec::TestFile =
            serde_json::from_str(&test_source("hello")).expect("parses");
        assert_eq!(spec.action, "hello");
        assert_eq!(spec.cases.len(), 1);
    }
}
