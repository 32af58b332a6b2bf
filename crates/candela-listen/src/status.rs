//! `candela listen status`: per trigger, what its source has seen, how its
//! runs went, where its cursor is, and its dead letters.
use serde::Serialize;
use serde_json::Value;

use crate::config::{ActionRef, Config};
use crate::store::{Counters, EventRecord, EventState, Store, StoreError};

/// Dead letters listed per trigger at most.
pub const MAX_DEAD_LETTERS_SHOWN: u32 = 100;

/// One trigger's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerStatus {
    /// The trigger's name.
    pub name: String,
    /// Its source kind.
    pub source: String,
    /// Its action (`cid:Qm…` or `file:path`).
    pub action: String,
    /// Its counters.
    #[serde(flatten)]
    pub counters: Counters,
    /// Its source's cursor.
    pub cursor: Option<Value>,
    /// The last failure reading the source.
    pub last_source_error: Option<String>,
    /// The most recently recorded delivered event.
    pub last_delivered: Option<EventRecord>,
    /// The dead-letter list, newest first.
    pub dead_letters: Vec<EventRecord>,
    /// The last few events in any state, newest first.
    pub recent: Vec<EventRecord>,
}

/// How many of a trigger's latest events `listen status` shows.
pub const RECENT_EVENTS_SHOWN: u32 = 5;

/// The status of every configured trigger.
pub fn status(config: &Config, store: &Store) -> Result<Vec<TriggerStatus>, StoreError> {
    config
        .triggers
        .iter()
        .map(|t| {
            let (counters, last_source_error) = store.counters(&t.name)?;
            Ok(TriggerStatus {
                name: t.name.clone(),
                source: t.source.kind().to_string(),
                action: match &t.action {
                    ActionRef::Cid(c) => format!("cid:{c}"),
                    ActionRef::File(f) => format!("file:{}", f.display()),
                },
                counters,
                cursor: store.cursor(&t.name)?,
                last_source_error,
                last_delivered: store
                    .events(&t.name, Some(EventState::Delivered), 1)?
                    .into_iter()
                    .next(),
                dead_letters: store.events(
                    &t.name,
                    Some(EventState::Dead),
                    MAX_DEAD_LETTERS_SHOWN,
                )?,
                recent: store.events(&t.name, None, RECENT_EVENTS_SHOWN)?,
            })
        })
        .collect()
}

/// Status as text for a terminal.
pub fn render_text(all: &[TriggerStatus]) -> String {
    let mut out = String::new();
    for t in all {
        let c = &t.counters;
        out.push_str(&format!("{} ({}, {})\n", t.name, t.source, t.action));
        out.push_str(&format!(
            "  delivered {}  retried {}  dead {}  pending {}\n",
            c.delivered, c.retried, c.dead_letter_count, c.pending
        ));
        out.push_str(&format!(
            "  events seen {}  duplicates {}  runs succeeded {}  runs failed {}  source errors {}\n",
            c.events_seen, c.duplicates, c.runs_succeeded, c.runs_failed, c.source_errors
        ));
        out.push_str(&format!(
            "  cursor {}\n",
            t.cursor
                .as_ref()
                .map_or("(none yet)".to_string(), |v| v.to_string())
        ));
        if let Some(e) = &t.last_source_error {
            out.push_str(&format!("  last source error: {e}\n"));
        }
        if let Some(d) = &t.last_delivered {
            out.push_str(&format!(
                "  last delivered {}: {}\n",
                d.key,
                d.response
                    .as_deref()
                    .unwrap_or("(ran before a restart; response unknown)")
            ));
        }
        if !t.recent.is_empty() {
            out.push_str("  recent events (newest first):\n");
        }
        for e in &t.recent {
            out.push_str(&format!(
                "    {} {} after {} attempt{}{}\n",
                e.key,
                e.state.as_str(),
                e.attempts,
                if e.attempts == 1 { "" } else { "s" },
                e.last_error
                    .as_deref()
                    .map(|err| format!(": {err}"))
                    .unwrap_or_default()
            ));
        }
        for d in &t.dead_letters {
            out.push_str(&format!(
                "  dead letter {} after {} attempts: {}\n",
                d.key,
                d.attempts,
                d.last_error.as_deref().unwrap_or("")
            ));
        }
    }
    out
}
