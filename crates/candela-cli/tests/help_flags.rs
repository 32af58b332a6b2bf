//! Every flag that `--help` names exists: for each command (walked from
//! `candela --help`), each `--flag` its help mentions is one of its own
//! options (or a global one), or an option of the command named before it
//! on the same line (`candela devnet --chain anvil`).
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_candela");

fn help(path: &[String]) -> String {
    let out = Command::new(BIN)
        .args(path)
        .arg("--help")
        .output()
        .expect("run candela --help");
    assert!(
        out.status.success(),
        "candela {} --help failed",
        path.join(" ")
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The subcommand names of a help text (its `Commands:` section).
fn subcommands(text: &str) -> Vec<String> {
    let mut in_commands = false;
    let mut names = Vec::new();
    for line in text.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            if !line.starts_with("  ") {
                if !line.trim().is_empty() {
                    in_commands = false;
                }
                continue;
            }
            // a command line is indented by exactly two spaces
            if line.starts_with("   ") {
                continue;
            }
            if let Some(name) = line.split_whitespace().next() {
                if name != "help" {
                    names.push(name.to_string());
                }
            }
        }
    }
    names
}

/// The long options a help text defines (lines of its `Options:` sections).
fn defined(text: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for line in text.lines() {
        let t = line.trim_start();
        let t = t
            .strip_prefix('-')
            .and_then(|r| r.get(1..))
            .and_then(|r| r.strip_prefix(", "))
            .unwrap_or(t);
        if let Some(rest) = t.strip_prefix("--") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !name.is_empty() && line.starts_with("  ") {
                flags.insert(format!("--{name}"));
            }
        }
    }
    flags
}

/// Every `--flag` a help text mentions (not the option a line defines),
/// with the text before it on its line and inside its backquotes.
struct Mention {
    flag: String,
    line: String,
    /// Words before the flag inside the same `backquoted` span, if any.
    quoted_before: Option<Vec<String>>,
}

fn mentioned(text: &str) -> Vec<Mention> {
    let mut out = Vec::new();
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        // the option a definition line defines is not a mention
        let first_flag = {
            let t = line.trim_start();
            let t = t
                .strip_prefix('-')
                .and_then(|r| r.get(1..))
                .and_then(|r| r.strip_prefix(", "))
                .unwrap_or(t);
            t.starts_with("--")
        };
        let mut seen_first = false;
        let mut i = 0;
        while i + 2 < chars.len() {
            let starts = chars[i] == '-'
                && chars[i + 1] == '-'
                && chars[i + 2].is_ascii_lowercase()
                && (i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '-'));
            if !starts {
                i += 1;
                continue;
            }
            let name: String = chars[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '-')
                .collect();
            let skip = first_flag && !seen_first;
            seen_first = true;
            if !skip {
                let before: String = chars[..i].iter().collect();
                let ticks = before.matches('`').count();
                let quoted_before = (ticks % 2 == 1).then(|| {
                    let span = &before[before.rfind('`').map_or(0, |p| p + 1)..];
                    span.split_whitespace().map(str::to_string).collect()
                });
                out.push(Mention {
                    flag: format!("--{}", name.trim_end_matches('-')),
                    line: line.to_string(),
                    quoted_before,
                });
            }
            i += 2 + name.len();
        }
    }
    out
}

/// Programs other than candela whose flags help texts may quote.
const OTHER_PROGRAMS: [&str; 4] = ["ipfs", "npm", "cargo", "anvil"];

#[test]
fn every_flag_named_in_help_exists_on_the_command_it_belongs_to() {
    // walk every command
    let mut helps: BTreeMap<Vec<String>, String> = BTreeMap::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let text = help(&path);
        for sub in subcommands(&text) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
        helps.insert(path, text);
    }
    assert!(helps.len() > 30, "found only {} commands", helps.len());
    let flags: BTreeMap<&Vec<String>, BTreeSet<String>> =
        helps.iter().map(|(p, t)| (p, defined(t))).collect();
    let global = flags[&Vec::new()].clone();
    let mut wrong = Vec::new();
    for (path, text) in &helps {
        let subs = subcommands(text);
        for Mention {
            flag,
            line,
            quoted_before,
        } in mentioned(text)
        {
            // a line of the Commands section describes that subcommand
            let described = line
                .strip_prefix("  ")
                .filter(|l| !l.starts_with(' '))
                .and_then(|l| l.split_whitespace().next())
                .filter(|w| subs.iter().any(|s| s == w))
                .map(|w| {
                    let mut p = path.clone();
                    p.push(w.to_string());
                    p
                });
            let resolve = |words: &[String]| {
                (1..=words.len())
                    .rev()
                    .map(|n| words[..n].to_vec())
                    .find(|p| flags.contains_key(p))
            };
            let mut owner = described.unwrap_or_else(|| path.clone());
            if let Some(words) = &quoted_before {
                if words
                    .first()
                    .is_some_and(|w| OTHER_PROGRAMS.contains(&w.as_str()))
                {
                    continue;
                }
                let words: Vec<String> = words
                    .iter()
                    .skip_while(|w| *w == "candela")
                    .take_while(|w| !w.starts_with('-'))
                    .cloned()
                    .collect();
                if let Some(p) = resolve(&words) {
                    owner = p;
                }
            } else if let Some(at) = line.find("candela ") {
                let words: Vec<String> = line[at + "candela ".len()..]
                    .split_whitespace()
                    .take_while(|w| !w.starts_with('-'))
                    .map(|w| {
                        w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                            .to_string()
                    })
                    .collect();
                if let Some(p) = resolve(&words) {
                    owner = p;
                }
            }
            let ok = flags.get(&owner).is_some_and(|f| f.contains(&flag)) || global.contains(&flag);
            if !ok {
                wrong.push(format!(
                    "`candela {} --help` names {flag} (as an option of `candela {}`), which does not exist: {}",
                    path.join(" "),
                    owner.join(" "),
                    line.trim()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
