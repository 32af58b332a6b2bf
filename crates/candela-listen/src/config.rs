//! `triggers.toml`: what the listener watches and which action each event
//! runs. Parsing and validation are pure; secrets named by environment
//! variables are read only when the listener starts ([`Secret::resolve`]).
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::backoff::RetryPolicy;
use crate::schedule::{CronSchedule, Interval};
use crate::template::Template;

/// A configuration that cannot be used, with the place and reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not valid TOML or does not have the expected shape.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message (with line and column).
        message: String,
    },
    /// A setting of the file as a whole is wrong.
    #[error("{0}")]
    Invalid(String),
    /// A setting of one trigger is wrong.
    #[error("trigger {trigger:?}: {message}")]
    Trigger {
        /// The trigger's name.
        trigger: String,
        /// What is wrong.
        message: String,
    },
}

fn trigger_err(trigger: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Trigger {
        trigger: trigger.to_string(),
        message: message.into(),
    }
}

/// A secret given inline or by the name of an environment variable. Its
/// `Debug` form never shows an inline value.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The value itself, written in the file.
    Inline(String),
    /// The name of the environment variable that holds it.
    Env(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Secret::Inline(<redacted>)"),
            Secret::Env(name) => write!(f, "Secret::Env({name:?})"),
        }
    }
}

impl Secret {
    fn from_pair(
        inline: Option<String>,
        env: Option<String>,
        what: &str,
    ) -> Result<Option<Secret>, String> {
        match (inline, env) {
            (Some(_), Some(_)) => Err(format!("give {what} or {what}_env, not both")),
            (Some(v), None) if v.is_empty() => Err(format!("{what} is empty")),
            (Some(v), None) => Ok(Some(Secret::Inline(v))),
            (None, Some(e)) if e.is_empty() => Err(format!("{what}_env is empty")),
            (None, Some(e)) => Ok(Some(Secret::Env(e))),
            (None, None) => Ok(None),
        }
    }

    /// The secret's value; an unset or empty environment variable is an
    /// error that names it.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            Secret::Inline(v) => Ok(v.clone()),
            Secret::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                _ => Err(format!("environment variable {name} is not set")),
            },
        }
    }
}

/// Which action a trigger runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionRef {
    /// A deployed action, by its IPFS CIDv0.
    Cid(String),
    /// A local file of code (sent with each run), resolved against the
    /// configuration file's directory.
    File(PathBuf),
}

/// Where a trigger's events come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Every `every`, counted from the trigger's first start.
    Interval {
        /// The period.
        every: Interval,
        /// At most this many missed fires are delivered after a downtime.
        max_catch_up: u32,
    },
    /// At the times of a cron pattern (UTC; 5 fields, or 6 with seconds
    /// first).
    Cron {
        /// The schedule.
        schedule: CronSchedule,
        /// At most this many missed fires are delivered after a downtime.
        max_catch_up: u32,
    },
    /// HTTP POSTs to `path` on the webhook address, signed with HMAC-SHA256.
    Webhook {
        /// The URL path, starting with `/`.
        path: String,
        /// The shared secret.
        secret: Secret,
    },
    /// Every new block of an EVM chain.
    EvmBlocks(EvmSource),
    /// Logs of one contract that match topics.
    EvmLogs {
        /// The chain.
        chain: EvmSource,
        /// The contract address (0x + 40 hex).
        address: String,
        /// Topic filters by position; `None` matches anything, several
        /// values match any of them.
        topics: Vec<Option<Vec<String>>>,
        /// Most blocks asked for in one `eth_getLogs`.
        max_block_range: u64,
    },
    /// An HTTP GET polled every `every`; an event when the body (or the
    /// value at `pointer` in its JSON) changes.
    HttpPoll {
        /// The URL.
        url: String,
        /// How often.
        every: Duration,
        /// A JSON pointer (RFC 6901) into the body, if only part matters.
        pointer: Option<String>,
        /// Whether the first value ever seen is an event (default: it is
        /// the baseline).
        fire_on_first: bool,
    },
}

impl Source {
    /// The source's kind as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Interval { .. } => "interval",
            Source::Cron { .. } => "cron",
            Source::Webhook { .. } => "webhook",
            Source::EvmBlocks(_) => "evm_blocks",
            Source::EvmLogs { .. } => "evm_logs",
            Source::HttpPoll { .. } => "http_poll",
        }
    }
}

/// A chain polled over JSON-RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmSource {
    /// JSON-RPC URL.
    pub rpc_url: String,
    /// How often to ask for the head.
    pub poll: Duration,
    /// Blocks this deep below the head are processed (0: the head itself).
    pub confirmations: u64,
    /// The first block, on the very first start; by default the block after
    /// the head at that moment.
    pub start_block: Option<u64>,
}

/// One trigger: a source, an action, its parameters and who runs it.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// Unique name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// The events.
    pub source: Source,
    /// The action.
    pub action: ActionRef,
    /// `jsParams`, with `{{event…}}` placeholders.
    pub params: Template,
    /// The wallet key that authenticates the runs.
    pub private_key: Secret,
    /// Retries and dead-lettering.
    pub retry: RetryPolicy,
}

/// A validated `triggers.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The network's `network.json`.
    pub network: PathBuf,
    /// The listener's database (cursors, events, history).
    pub database: PathBuf,
    /// Where webhooks are received, when a trigger is a webhook.
    pub webhook_listen: Option<SocketAddr>,
    /// Every trigger, in file order.
    pub triggers: Vec<Trigger>,
}

// ---- the file as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    network: PathBuf,
    database: Option<PathBuf>,
    private_key: Option<String>,
    private_key_env: Option<String>,
    webhook: Option<FileWebhook>,
    #[serde(default)]
    retry: FileRetry,
    #[serde(default, rename = "trigger")]
    triggers: Vec<FileTrigger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWebhook {
    listen: String,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct FileRetry {
    max_attempts: Option<u32>,
    initial_backoff: Option<String>,
    max_backoff: Option<String>,
    multiplier: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTrigger {
    name: String,
    action: FileAction,
    params: Option<serde_json::Value>,
    private_key: Option<String>,
    private_key_env: Option<String>,
    retry: Option<FileRetry>,
    source: FileSource,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAction {
    cid: Option<String>,
    file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum FileSource {
    Interval {
        every: String,
        max_catch_up: Option<u32>,
    },
    Cron {
        schedule: String,
        max_catch_up: Option<u32>,
    },
    Webhook {
        path: String,
        secret: Option<String>,
        secret_env: Option<String>,
    },
    EvmBlocks {
        rpc_url: String,
        poll: Option<String>,
        confirmations: Option<u64>,
        start_block: Option<u64>,
    },
    EvmLogs {
        rpc_url: String,
        address: String,
        #[serde(default)]
        topics: Vec<serde_json::Value>,
        poll: Option<String>,
        confirmations: Option<u64>,
        start_block: Option<u64>,
        max_block_range: Option<u64>,
    },
    HttpPoll {
        url: String,
        every: String,
        pointer: Option<String>,
        #[serde(default)]
        fire_on_first: bool,
    },
}

/// Missed fires delivered after a downtime, unless the trigger says.
pub const DEFAULT_MAX_CATCH_UP: u32 = 10;
/// Most blocks in one `eth_getLogs`, unless the trigger says.
pub const DEFAULT_MAX_BLOCK_RANGE: u64 = 1000;
const DEFAULT_EVM_POLL: Duration = Duration::from_secs(2);

/// Parse a duration written as a whole number and a unit: `250ms`, `5s`,
/// `2m`, `1h`, `1d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {s:?} has no unit (ms, s, m, h or d)"))?;
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("duration {s:?} does not start with a whole number"))?;
    let per = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "duration {s:?}: unknown unit {unit:?} (ms, s, m, h or d)"
            ))
        }
    };
    let ms = n
        .checked_mul(per)
        .ok_or_else(|| format!("duration {s:?} is too long"))?;
    if ms == 0 {
        return Err(format!("duration {s:?} must be more than zero"));
    }
    Ok(Duration::from_millis(ms))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn valid_address(a: &str) -> bool {
    a.len() == 42 && a.starts_with("0x") && a[2..].chars().all(|c| c.is_ascii_hexdigit())
}

fn valid_topic(t: &str) -> bool {
    t.len() == 66 && t.starts_with("0x") && t[2..].chars().all(|c| c.is_ascii_hexdigit())
}

fn http_url(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://")) && u.len() > "http://".len()
}

impl FileRetry {
    fn over(&self, base: &RetryPolicy) -> Result<RetryPolicy, String> {
        let mut p = base.clone();
        if let Some(n) = self.max_attempts {
            if n == 0 {
                return Err("retry.max_attempts must be at least 1".into());
            }
            p.max_attempts = n;
        }
        if let Some(d) = &self.initial_backoff {
            p.initial = parse_duration(d).map_err(|e| format!("retry.initial_backoff: {e}"))?;
        }
        if let Some(d) = &self.max_backoff {
            p.max = parse_duration(d).map_err(|e| format!("retry.max_backoff: {e}"))?;
        }
        if let Some(m) = self.multiplier {
            if !(1.0..=100.0).contains(&m) {
                return Err("retry.multiplier must be between 1 and 100".into());
            }
            p.multiplier = m;
        }
        if p.max < p.initial {
            return Err("retry.max_backoff is shorter than retry.initial_backoff".into());
        }
        Ok(p)
    }
}

fn topics(
    name: &str,
    raw: Vec<serde_json::Value>,
) -> Result<Vec<Option<Vec<String>>>, ConfigError> {
    if raw.len() > 4 {
        return Err(trigger_err(name, "an EVM log has at most 4 topics"));
    }
    let one = |v: &serde_json::Value| -> Result<String, ConfigError> {
        match v.as_str() {
            Some(t) if valid_topic(t) => Ok(t.to_ascii_lowercase()),
            _ => Err(trigger_err(
                name,
                format!("topic {v} is not 0x followed by 64 hex digits"),
            )),
        }
    };
    raw.iter()
        .map(|v| match v {
            serde_json::Value::String(s) if s.is_empty() || s == "*" => Ok(None),
            serde_json::Value::String(_) => Ok(Some(vec![one(v)?])),
            serde_json::Value::Array(a) if !a.is_empty() => {
                Ok(Some(a.iter().map(one).collect::<Result<_, _>>()?))
            }
            _ => Err(trigger_err(
                name,
                format!("topic {v}: give a topic, a list of topics, or \"*\" for any"),
            )),
        })
        .collect()
}

fn evm(
    name: &str,
    rpc_url: String,
    poll: Option<String>,
    confirmations: Option<u64>,
    start_block: Option<u64>,
) -> Result<EvmSource, ConfigError> {
    if !http_url(&rpc_url) {
        return Err(trigger_err(
            name,
            format!("rpc_url {rpc_url:?} is not an http(s) URL"),
        ));
    }
    let poll = match poll {
        Some(p) => parse_duration(&p).map_err(|e| trigger_err(name, format!("poll: {e}")))?,
        None => DEFAULT_EVM_POLL,
    };
    Ok(EvmSource {
        rpc_url,
        poll,
        confirmations: confirmations.unwrap_or(0),
        start_block,
    })
}

fn source(name: &str, raw: FileSource) -> Result<Source, ConfigError> {
    let err = |m: String| trigger_err(name, m);
    Ok(match raw {
        FileSource::Interval {
            every,
            max_catch_up,
        } => Source::Interval {
            every: Interval::new(parse_duration(&every).map_err(|e| err(format!("every: {e}")))?),
            max_catch_up: max_catch_up.unwrap_or(DEFAULT_MAX_CATCH_UP),
        },
        FileSource::Cron {
            schedule,
            max_catch_up,
        } => Source::Cron {
            schedule: CronSchedule::parse(&schedule).map_err(err)?,
            max_catch_up: max_catch_up.unwrap_or(DEFAULT_MAX_CATCH_UP),
        },
        FileSource::Webhook {
            path,
            secret,
            secret_env,
        } => {
            if !path.starts_with('/') || path.len() < 2 || path.contains(['?', '#', ' ', '{']) {
                return Err(err(format!(
                    "path {path:?} must start with / and be a plain URL path"
                )));
            }
            let secret = Secret::from_pair(secret, secret_env, "secret")
                .map_err(err)?
                .ok_or_else(|| {
                    err(
                        "a webhook needs secret_env (or secret): unsigned webhooks are refused"
                            .into(),
                    )
                })?;
            Source::Webhook { path, secret }
        }
        FileSource::EvmBlocks {
            rpc_url,
            poll,
            confirmations,
            start_block,
        } => Source::EvmBlocks(evm(name, rpc_url, poll, confirmations, start_block)?),
        FileSource::EvmLogs {
            rpc_url,
            address,
            topics: raw_topics,
            poll,
            confirmations,
            start_block,
            max_block_range,
        } => {
            if !valid_address(&address) {
                return Err(err(format!(
                    "address {address:?} is not 0x followed by 40 hex digits"
                )));
            }
            let max_block_range = max_block_range.unwrap_or(DEFAULT_MAX_BLOCK_RANGE);
            if max_block_range == 0 {
                return Err(err("max_block_range must be at least 1".into()));
            }
            Source::EvmLogs {
                chain: evm(name, rpc_url, poll, confirmations, start_block)?,
                address: address.to_ascii_lowercase(),
                topics: topics(name, raw_topics)?,
                max_block_range,
            }
        }
        FileSource::HttpPoll {
            url,
            every,
            pointer,
            fire_on_first,
        } => {
            if !http_url(&url) {
                return Err(err(format!("url {url:?} is not an http(s) URL")));
            }
            if let Some(p) = &pointer {
                if !p.is_empty() && !p.starts_with('/') {
                    return Err(err(format!(
                        "pointer {p:?} is not a JSON pointer (it starts with /)"
                    )));
                }
            }
            Source::HttpPoll {
                url,
                every: parse_duration(&every).map_err(|e| err(format!("every: {e}")))?,
                pointer,
                fire_on_first,
            }
        }
    })
}

impl Config {
    /// Read and validate a configuration file; relative paths in it are
    /// resolved against its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let default_db = path.with_extension("db");
        Config::parse(&text, base, &default_db).map_err(|e| match e {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parse and validate configuration text. `base` resolves relative
    /// paths; `default_db` is the database when the file names none.
    pub fn parse(text: &str, base: &Path, default_db: &Path) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: PathBuf::from("triggers.toml"),
            message: e.to_string(),
        })?;
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let default_key = Secret::from_pair(file.private_key, file.private_key_env, "private_key")
            .map_err(ConfigError::Invalid)?;
        let retry = file
            .retry
            .over(&RetryPolicy::default())
            .map_err(ConfigError::Invalid)?;
        let webhook_listen = match file.webhook {
            Some(w) => Some(w.listen.parse::<SocketAddr>().map_err(|_| {
                ConfigError::Invalid(format!(
                    "webhook.listen {:?} is not an address like 127.0.0.1:8787",
                    w.listen
                ))
            })?),
            None => None,
        };
        if file.triggers.is_empty() {
            return Err(ConfigError::Invalid(
                "no [[trigger]]: nothing to listen for".into(),
            ));
        }
        let mut names = BTreeSet::new();
        let mut paths = BTreeSet::new();
        let mut triggers = Vec::new();
        for t in file.triggers {
            let name = t.name;
            if !valid_name(&name) {
                return Err(ConfigError::Invalid(format!(
                    "trigger name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
                )));
            }
            if !names.insert(name.clone()) {
                return Err(ConfigError::Invalid(format!(
                    "two triggers are named {name:?}"
                )));
            }
            let action = match (t.action.cid, t.action.file) {
                (Some(cid), None) => {
                    candela_cid::parse_cid_v0(&cid).map_err(|e| {
                        trigger_err(&name, format!("action.cid {cid:?} is not a CIDv0: {e}"))
                    })?;
                    ActionRef::Cid(cid)
                }
                (None, Some(f)) => ActionRef::File(resolve(&f)),
                _ => {
                    return Err(trigger_err(
                        &name,
                        "give exactly one of action.cid or action.file",
                    ))
                }
            };
            let params = match t.params {
                Some(p) if !p.is_object() => {
                    return Err(trigger_err(
                        &name,
                        "params must be a table (jsParams is an object)",
                    ))
                }
                Some(p) => p,
                None => serde_json::json!({"event": "{{event}}"}),
            };
            let params =
                Template::parse(params).map_err(|e| trigger_err(&name, format!("params: {e}")))?;
            let private_key = Secret::from_pair(t.private_key, t.private_key_env, "private_key")
                .map_err(|e| trigger_err(&name, e))?
                .or_else(|| default_key.clone())
                .ok_or_else(|| {
                    trigger_err(
                        &name,
                        "no private key: set private_key_env (or private_key) on the trigger or at the top of the file",
                    )
                })?;
            let retry = match &t.retry {
                Some(r) => r.over(&retry).map_err(|e| trigger_err(&name, e))?,
                None => retry.clone(),
            };
            let source = source(&name, t.source)?;
            if let Source::Webhook { path, .. } = &source {
                if webhook_listen.is_none() {
                    return Err(trigger_err(
                        &name,
                        "a webhook trigger needs [webhook] listen = \"HOST:PORT\"",
                    ));
                }
                if !paths.insert(path.clone()) {
                    return Err(trigger_err(
                        &name,
                        format!("another webhook trigger already uses path {path:?}"),
                    ));
                }
            }
            triggers.push(Trigger {
                name,
                source,
                action,
                params,
                private_key,
                retry,
            });
        }
        Ok(Config {
            network: resolve(&file.network),
            database: file.database.map(|d| resolve(&d)).unwrap_or_else(|| {
                if default_db.is_absolute() {
                    default_db.to_path_buf()
                } else {
                    base.join(default_db.file_name().unwrap_or_default())
                }
            }),
            webhook_listen,
            triggers,
        })
    }

    /// The trigger called `name`.
    pub fn trigger(&self, name: &str) -> Option<&Trigger> {
        self.triggers.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "QmSYPYqkkDz7ZpUdrWhMnVe2WcpNMxoQZkrUchPzWAxPTR";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/cfg"), Path::new("/cfg/triggers.db"))
    }

    fn one(source: &str) -> String {
        format!(
            "network = \"net.json\"\nprivate_key_env = \"KEY\"\n[webhook]\nlisten = \"127.0.0.1:0\"\n[[trigger]]\nname = \"t\"\naction.cid = \"{CID}\"\n[trigger.source]\n{source}\n"
        )
    }

    fn message(r: Result<Config, ConfigError>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_source_kind_parses_with_paths_resolved_against_the_file() {
        for (src, kind) in [
            ("type = \"interval\"\nevery = \"5s\"", "interval"),
            ("type = \"cron\"\nschedule = \"*/2 * * * * *\"", "cron"),
            (
                "type = \"webhook\"\npath = \"/hooks/a\"\nsecret_env = \"S\"",
                "webhook",
            ),
            (
                "type = \"evm_blocks\"\nrpc_url = \"http://127.0.0.1:8545\"",
                "evm_blocks",
            ),
            (
                "type = \"evm_logs\"\nrpc_url = \"http://x\"\naddress = \"0x00000000000000000000000000000000000000aA\"\ntopics = [\"0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef\", \"*\", [\"0x0000000000000000000000000000000000000000000000000000000000000001\"]]",
                "evm_logs",
            ),
            (
                "type = \"http_poll\"\nurl = \"http://x/y\"\nevery = \"1m\"\npointer = \"/a/b\"",
                "http_poll",
            ),
        ] {
            let c = parse(&one(src)).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(c.triggers[0].source.kind(), kind);
            assert_eq!(c.network, PathBuf::from("/cfg/net.json"));
            assert_eq!(c.database, PathBuf::from("/cfg/triggers.db"));
            assert_eq!(c.triggers[0].private_key, Secret::Env("KEY".into()));
        }
    }

    #[test]
    fn log_topics_keep_position_and_wildcards() {
        let c = parse(&one("type = \"evm_logs\"\nrpc_url = \"http://x\"\naddress = \"0x00000000000000000000000000000000000000AA\"\ntopics = [\"*\", \"0x00000000000000000000000000000000000000000000000000000000000000AB\"]")).unwrap();
        match &c.triggers[0].source {
            Source::EvmLogs {
                address, topics, ..
            } => {
                assert_eq!(address, "0x00000000000000000000000000000000000000aa");
                assert_eq!(topics.len(), 2);
                assert!(topics[0].is_none());
                assert_eq!(
                    topics[1].as_deref(),
                    Some(
                        &[
                            "0x00000000000000000000000000000000000000000000000000000000000000ab"
                                .to_string()
                        ][..]
                    )
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn config_errors_name_the_trigger_and_the_setting() {
        let cases = [
            (one("type = \"interval\"\nevery = \"5\""), "trigger \"t\": every: duration \"5\" has no unit"),
            (one("type = \"interval\"\nevery = \"0s\""), "must be more than zero"),
            (one("type = \"interval\"\nevery = \"5 parsecs\""), "unknown unit"),
            (one("type = \"cron\"\nschedule = \"61 * * * *\""), "trigger \"t\": cron schedule \"61 * * * *\""),
            (one("type = \"webhook\"\npath = \"/h\""), "unsigned webhooks are refused"),
            (one("type = \"webhook\"\npath = \"h\"\nsecret = \"x\""), "must start with /"),
            (one("type = \"evm_logs\"\nrpc_url = \"http://x\"\naddress = \"0x12\""), "address \"0x12\" is not 0x followed by 40 hex digits"),
            (one("type = \"evm_logs\"\nrpc_url = \"http://x\"\naddress = \"0x00000000000000000000000000000000000000aa\"\ntopics = [\"0x1\"]"), "topic \"0x1\" is not 0x followed by 64 hex digits"),
            (one("type = \"evm_blocks\"\nrpc_url = \"localhost:8545\""), "is not an http(s) URL"),
            (one("type = \"http_poll\"\nurl = \"http://x\"\nevery = \"1s\"\npointer = \"a\""), "is not a JSON pointer"),
            (one("type = \"smoke_signals\""), "unknown variant `smoke_signals`"),
            (one("type = \"interval\"\nevery = \"1s\"\nevry = \"2s\""), "unknown field `evry`"),
        ];
        for (text, want) in cases {
            let got = message(parse(&text));
            assert!(got.contains(want), "{got:?} should contain {want:?}");
        }
    }

    #[test]
    fn file_level_errors_are_clear() {
        let base = "network = \"n.json\"\nprivate_key_env = \"K\"\n";
        let trig = |name: &str, extra: &str| {
            format!("[[trigger]]\nname = \"{name}\"\n{extra}\n[trigger.source]\ntype = \"interval\"\nevery = \"1s\"\n")
        };
        let cid = format!("action.cid = \"{CID}\"");
        let cases = [
            (base.to_string(), "no [[trigger]]".to_string()),
            (
                format!("{base}{}{}", trig("a", &cid), trig("a", &cid)),
                "two triggers are named \"a\"".into(),
            ),
            (format!("{base}{}", trig("a b", &cid)), "trigger name \"a b\"".into()),
            (
                format!("{base}{}", trig("a", "action.cid = \"Qmnope\"")),
                "trigger \"a\": action.cid \"Qmnope\" is not a CIDv0".into(),
            ),
            (
                format!("{base}{}", trig("a", "action = {}")),
                "give exactly one of action.cid or action.file".into(),
            ),
            (
                format!("{base}{}", trig("a", &format!("{cid}\nparams = {{ n = \"{{{{block.number}}}}\" }}"))),
                "trigger \"a\": params: placeholder {{block.number}} must start with event, trigger or eventId".into(),
            ),
            (
                format!("network = \"n.json\"\n{}", trig("a", &cid)),
                "trigger \"a\": no private key".into(),
            ),
            (
                format!("{base}[retry]\nmax_attempts = 0\n{}", trig("a", &cid)),
                "retry.max_attempts must be at least 1".into(),
            ),
            (
                format!("{base}{}", trig("a", &cid)).replace("[trigger.source]\ntype = \"interval\"\nevery = \"1s\"", "[trigger.source]\ntype = \"webhook\"\npath = \"/a\"\nsecret = \"s\""),
                "needs [webhook] listen".into(),
            ),
            ("network = [\n".to_string(), "triggers.toml: TOML parse error at line".into()),
        ];
        for (text, want) in cases {
            let got = message(parse(&text));
            assert!(got.contains(&want), "{got:?} should contain {want:?}");
        }
    }

    #[test]
    fn per_trigger_retry_and_key_override_the_file_defaults() {
        let text = "network = \"n.json\"\nprivate_key_env = \"K\"\n[retry]\nmax_attempts = 7\ninitial_backoff = \"2s\"\n[[trigger]]\nname = \"a\"\naction.file = \"act.js\"\nprivate_key = \"0xabc\"\nretry.max_attempts = 2\n[trigger.source]\ntype = \"interval\"\nevery = \"1s\"\n";
        let c = parse(text).unwrap();
        let t = &c.triggers[0];
        assert_eq!(t.retry.max_attempts, 2);
        assert_eq!(t.retry.initial, Duration::from_secs(2));
        assert_eq!(t.private_key, Secret::Inline("0xabc".into()));
        assert_eq!(t.action, ActionRef::File(PathBuf::from("/cfg/act.js")));
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let text = include_str!("../../../examples/listen/triggers.toml");
        let c = parse(text).unwrap_or_else(|e| panic!("examples/listen/triggers.toml: {e}"));
        let kinds: Vec<&str> = c.triggers.iter().map(|t| t.source.kind()).collect();
        assert_eq!(
            kinds,
            [
                "interval",
                "cron",
                "webhook",
                "evm_blocks",
                "evm_logs",
                "http_poll"
            ]
        );
        assert_eq!(c.database, PathBuf::from("/cfg/listener.db"));
    }

    #[test]
    fn debug_output_never_shows_an_inline_secret() {
        let text = one("type = \"webhook\"\npath = \"/h\"\nsecret = \"hunter2\"")
            .replace("private_key_env = \"KEY\"", "private_key = \"0xdeadbeef\"");
        let c = parse(&text).unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("deadbeef"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn durations_take_whole_numbers_and_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
