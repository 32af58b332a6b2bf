//! The listener's durable state in one SQLite file: per trigger a cursor
//! (how far its source has been read), every event seen with its delivery
//! state, and counters.
//!
//! An event is recorded in the same transaction that advances its source's
//! cursor, keyed by `(trigger, event key)` so an event read twice is stored
//! once. Delivery is a state machine per event: `pending` → `running`
//! (an attempt started, its number and request id written before the
//! action is sent) → `delivered`, or back to `pending` with a later
//! `next_attempt_at` after a failure, or `dead` once the retries are spent.
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite refused.
    #[error("listener database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON value does not parse.
    #[error("listener database holds malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `status` was asked for a database that does not exist yet.
    #[error("no listener database at {0}: the listener has not run with this configuration yet")]
    Missing(String),
    /// An attempt was started on an event that another worker moved on.
    #[error("event {0} is not in the state this attempt expected")]
    Conflict(i64),
}

/// An event read from a source, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The idempotency key within the trigger (block number, log position,
    /// fire time, webhook id...).
    pub key: String,
    /// The event's data, as templates see it under `event`.
    pub payload: Value,
}

/// An event whose next attempt is due.
#[derive(Debug, Clone, PartialEq)]
pub struct DueEvent {
    /// The event's row.
    pub seq: i64,
    /// Its idempotency key.
    pub key: String,
    /// Its data.
    pub payload: Value,
    /// Attempts already started.
    pub attempts: u32,
    /// Attempts made before the event was last requeued from the dead
    /// letters: the retry budget counts from here (attempt numbers, and so
    /// request ids, never repeat).
    pub retry_base: u32,
    /// True when the last attempt was started but never recorded (the
    /// listener stopped while it ran): it must be sent again with the same
    /// request id, not a new one.
    pub in_flight: bool,
    /// That attempt's request id, when in flight.
    pub request_id: Option<String>,
}

/// An event's delivery state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventState {
    /// Waiting for its first or next attempt.
    Pending,
    /// An attempt started and was not recorded yet.
    Running,
    /// The action ran.
    Delivered,
    /// The retries are spent.
    Dead,
}

impl EventState {
    /// The state's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Pending => "pending",
            EventState::Running => "running",
            EventState::Delivered => "delivered",
            EventState::Dead => "dead",
        }
    }

    fn parse(s: &str) -> EventState {
        match s {
            "running" => EventState::Running,
            "delivered" => EventState::Delivered,
            "dead" => EventState::Dead,
            _ => EventState::Pending,
        }
    }
}

/// One stored event, as status shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// Its idempotency key.
    pub key: String,
    /// Its state.
    pub state: EventState,
    /// Attempts started.
    pub attempts: u32,
    /// The last attempt's request id.
    pub request_id: Option<String>,
    /// The action's response, once delivered.
    pub response: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Its data.
    pub payload: Value,
    /// When it was recorded (ms).
    pub seen_at: i64,
    /// When it was delivered or dead-lettered (ms).
    pub finished_at: Option<i64>,
}

/// A trigger's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Distinct events recorded.
    pub events_seen: u64,
    /// Events read again and ignored (already recorded).
    pub duplicates: u64,
    /// Attempts that ran the action.
    pub runs_succeeded: u64,
    /// Attempts that failed.
    pub runs_failed: u64,
    /// Events waiting for an attempt (or running).
    pub pending: u64,
    /// Events in the dead-letter list.
    pub dead_letter_count: u64,
    /// Events delivered (their action ran and answered).
    pub delivered: u64,
    /// Events that needed more than one attempt (whatever became of them).
    pub retried: u64,
    /// Failures reading the source.
    pub source_errors: u64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (
    trigger TEXT PRIMARY KEY,
    cursor TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger TEXT NOT NULL,
    event_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_base INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    request_id TEXT,
    response TEXT,
    last_error TEXT,
    seen_at INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (trigger, event_key)
);
CREATE INDEX IF NOT EXISTS events_due ON events (trigger, state, next_attempt_at, seq);
CREATE TABLE IF NOT EXISTS counters (
    trigger TEXT PRIMARY KEY,
    seen INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    source_errors INTEGER NOT NULL DEFAULT 0,
    last_source_error TEXT
);
";

/// The listener's database.
pub struct Store {
    conn: Mutex<Connection>,
    listener_id: String,
}

fn bump(conn: &Connection, trigger: &str, column: &str, by: u64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO counters (trigger) VALUES (?1) ON CONFLICT (trigger) DO NOTHING",
        params![trigger],
    )?;
    // `column` is one of this module's constants, never input.
    conn.execute(
        &format!("UPDATE counters SET {column} = {column} + ?2 WHERE trigger = ?1"),
        params![trigger, by as i64],
    )?;
    Ok(())
}

impl Store {
    /// Open (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// Open an existing database (for status); an absent file is an error.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.display().to_string()));
        }
        Self::open(path)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a transaction that returned is on disk, even after a power
        // loss, before the action it records is sent.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        let existing: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'listener_id'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let listener_id = match existing {
            Some(id) => id,
            None => {
                use rand_core::RngCore;
                let mut b = [0u8; 8];
                rand_core::OsRng.fill_bytes(&mut b);
                let id = hex::encode(b);
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('listener_id', ?1)",
                    params![id],
                )?;
                conn.query_row(
                    "SELECT value FROM meta WHERE key = 'listener_id'",
                    [],
                    |r| r.get(0),
                )?
            }
        };
        Ok(Store {
            conn: Mutex::new(conn),
            listener_id,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (every
        // change is a transaction), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This database's random id (16 hex digits), part of every request id
    /// so two listeners never collide on one network.
    pub fn listener_id(&self) -> &str {
        &self.listener_id
    }

    /// The request id of attempt `attempt` of an event: the same inputs give
    /// the same id, so an attempt sent again after a restart is recognised
    /// by the nodes as a replay and not run twice.
    pub fn request_id(&self, trigger: &str, key: &str, attempt: u32) -> String {
        let mut h = Sha256::new();
        h.update(trigger.as_bytes());
        h.update([0]);
        h.update(key.as_bytes());
        let digest = hex::encode(h.finalize());
        format!("lsn-{}-{}-{attempt}", self.listener_id, &digest[..40])
    }

    /// The trigger's cursor, if its source has been read before.
    pub fn cursor(&self, trigger: &str) -> Result<Option<Value>, StoreError> {
        let text: Option<String> = self
            .lock()
            .query_row(
                "SELECT cursor FROM cursors WHERE trigger = ?1",
                params![trigger],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    /// Record `events` and move the trigger's cursor to `cursor`, in one
    /// transaction. Events already recorded are ignored (counted as
    /// duplicates). Returns the keys newly recorded.
    pub fn record(
        &self,
        trigger: &str,
        events: &[NewEvent],
        cursor: Option<&Value>,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut new = Vec::new();
        for e in events {
            let n = tx.execute(
                "INSERT OR IGNORE INTO events (trigger, event_key, payload, state, next_attempt_at, seen_at)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?4)",
                params![trigger, e.key, serde_json::to_string(&e.payload)?, now],
            )?;
            if n == 1 {
                new.push(e.key.clone());
            }
        }
        bump(&tx, trigger, "seen", new.len() as u64)?;
        bump(
            &tx,
            trigger,
            "duplicates",
            (events.len() - new.len()) as u64,
        )?;
        if let Some(c) = cursor {
            tx.execute(
                "INSERT INTO cursors (trigger, cursor, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (trigger) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                params![trigger, serde_json::to_string(c)?, now],
            )?;
        }
        tx.commit()?;
        Ok(new)
    }

    /// The event to attempt now: an attempt left in flight by a stop first,
    /// then the oldest pending event that is due.
    pub fn next_due(&self, trigger: &str, now: i64) -> Result<Option<DueEvent>, StoreError> {
        let row = self
            .lock()
            .query_row(
                "SELECT seq, event_key, payload, attempts, state, request_id, retry_base FROM events
                 WHERE trigger = ?1 AND (state = 'running' OR (state = 'pending' AND next_attempt_at <= ?2))
                 ORDER BY state = 'running' DESC, seq LIMIT 1",
                params![trigger, now],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, u32>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, u32>(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((seq, key, payload, attempts, state, request_id, retry_base)) = row else {
            return Ok(None);
        };
        let in_flight = state == "running";
        Ok(Some(DueEvent {
            seq,
            key,
            payload: serde_json::from_str(&payload)?,
            attempts,
            retry_base,
            in_flight,
            request_id: if in_flight { request_id } else { None },
        }))
    }

    /// When the trigger's next pending event becomes due (ms), if any.
    pub fn next_wakeup(&self, trigger: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.lock().query_row(
            "SELECT min(next_attempt_at) FROM events WHERE trigger = ?1 AND state = 'pending'",
            params![trigger],
            |r| r.get(0),
        )?)
    }

    /// Durably start attempt `attempt` (the previous count plus one) of
    /// event `seq` with `request_id`, before the action is sent.
    pub fn begin_attempt(
        &self,
        seq: i64,
        attempt: u32,
        request_id: &str,
    ) -> Result<(), StoreError> {
        let n = self.lock().execute(
            "UPDATE events SET state = 'running', attempts = ?2, request_id = ?3
             WHERE seq = ?1 AND state = 'pending' AND attempts = ?2 - 1",
            params![seq, attempt, request_id],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(seq));
        }
        Ok(())
    }

    fn trigger_of(tx: &Connection, seq: i64) -> rusqlite::Result<String> {
        tx.query_row(
            "SELECT trigger FROM events WHERE seq = ?1",
            params![seq],
            |r| r.get(0),
        )
    }

    /// Record that the running attempt of `seq` ran the action.
    pub fn succeed(&self, seq: i64, response: Option<&str>, now: i64) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let trigger = Self::trigger_of(&tx, seq)?;
        tx.execute(
            "UPDATE events SET state = 'delivered', response = ?2, last_error = NULL, finished_at = ?3 WHERE seq = ?1",
            params![seq, response, now],
        )?;
        bump(&tx, &trigger, "succeeded", 1)?;
        tx.commit()?;
        Ok(())
    }

    /// Record that the running attempt of `seq` failed with `error`: the
    /// event is due again at `retry_at`, or dead-lettered when `None`.
    pub fn fail(
        &self,
        seq: i64,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let trigger = Self::trigger_of(&tx, seq)?;
        let state = match retry_at {
            Some(_) => EventState::Pending,
            None => EventState::Dead,
        };
        tx.execute(
            "UPDATE events SET state = ?2, last_error = ?3, next_attempt_at = ?4, finished_at = ?5 WHERE seq = ?1",
            params![
                seq,
                state.as_str(),
                error,
                retry_at.unwrap_or(now),
                retry_at.is_none().then_some(now)
            ],
        )?;
        bump(&tx, &trigger, "failed", 1)?;
        tx.commit()?;
        Ok(())
    }

    /// Count a failure to read the trigger's source.
    pub fn source_error(&self, trigger: &str, error: &str) -> Result<(), StoreError> {
        let conn = self.lock();
        bump(&conn, trigger, "source_errors", 1)?;
        conn.execute(
            "UPDATE counters SET last_source_error = ?2 WHERE trigger = ?1",
            params![trigger, error],
        )?;
        Ok(())
    }

    /// The trigger's counters and its last source error.
    pub fn counters(&self, trigger: &str) -> Result<(Counters, Option<String>), StoreError> {
        let conn = self.lock();
        let row: Option<(u64, u64, u64, u64, u64, Option<String>)> = conn
            .query_row(
                "SELECT seen, duplicates, succeeded, failed, source_errors, last_source_error FROM counters WHERE trigger = ?1",
                params![trigger],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()?;
        let retried: u64 = conn.query_row(
            "SELECT count(*) FROM events WHERE trigger = ?1 AND attempts > 1",
            params![trigger],
            |r| r.get(0),
        )?;
        let count = |states: &str| -> rusqlite::Result<u64> {
            conn.query_row(
                &format!("SELECT count(*) FROM events WHERE trigger = ?1 AND state IN ({states})"),
                params![trigger],
                |r| r.get(0),
            )
        };
        let (seen, duplicates, succeeded, failed, source_errors, last) = row.unwrap_or_default();
        Ok((
            Counters {
                events_seen: seen,
                duplicates,
                runs_succeeded: succeeded,
                runs_failed: failed,
                pending: count("'pending', 'running'")?,
                dead_letter_count: count("'dead'")?,
                delivered: count("'delivered'")?,
                retried,
                source_errors,
            },
            last,
        ))
    }

    /// The trigger's events in `state` (all states when `None`), newest
    /// first, at most `limit`.
    pub fn events(
        &self,
        trigger: &str,
        state: Option<EventState>,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT event_key, state, attempts, request_id, response, last_error, payload, seen_at, finished_at
             FROM events WHERE trigger = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY seq DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![trigger, state.map(EventState::as_str), limit],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (
                key,
                state,
                attempts,
                request_id,
                response,
                last_error,
                payload,
                seen_at,
                finished_at,
            ) = row?;
            out.push(EventRecord {
                key,
                state: EventState::parse(&state),
                attempts,
                request_id,
                response,
                last_error,
                payload: serde_json::from_str(&payload)?,
                seen_at,
                finished_at,
            });
        }
        Ok(out)
    }

    /// Put the trigger's dead letters back in the queue with a fresh retry
    /// budget (attempt numbers go on from where they were, so no request id
    /// is reused); returns how many.
    pub fn requeue_dead(&self, trigger: &str, now: i64) -> Result<u64, StoreError> {
        let n = self.lock().execute(
            "UPDATE events SET state = 'pending', next_attempt_at = ?2, finished_at = NULL, retry_base = attempts
             WHERE trigger = ?1 AND state = 'dead'",
            params![trigger, now],
        )?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(key: &str) -> NewEvent {
        NewEvent {
            key: key.into(),
            payload: json!({"k": key}),
        }
    }

    #[test]
    fn cursor_and_events_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let id = {
            let s = Store::open(&path).unwrap();
            s.record("t", &[ev("1"), ev("2")], Some(&json!({"block": 2})), 10)
                .unwrap();
            let due = s.next_due("t", 10).unwrap().unwrap();
            let rid = s.request_id("t", &due.key, 1);
            s.begin_attempt(due.seq, 1, &rid).unwrap();
            s.listener_id().to_string()
        };
        let s = Store::open(&path).unwrap();
        assert_eq!(s.listener_id(), id, "the listener id is kept");
        assert_eq!(s.cursor("t").unwrap(), Some(json!({"block": 2})));
        assert_eq!(s.cursor("other").unwrap(), None);
        // The attempt that was running when the store closed comes back
        // first, with its request id, marked in flight.
        let due = s.next_due("t", 10).unwrap().unwrap();
        assert_eq!(due.key, "1");
        assert!(due.in_flight);
        assert_eq!(due.attempts, 1);
        assert_eq!(due.request_id, Some(s.request_id("t", "1", 1)));
    }

    #[test]
    fn an_event_recorded_twice_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("l.db")).unwrap();
        assert_eq!(
            s.record("t", &[ev("a"), ev("b")], None, 1).unwrap(),
            vec!["a", "b"]
        );
        assert_eq!(
            s.record("t", &[ev("b"), ev("c")], None, 2).unwrap(),
            vec!["c"]
        );
        // Another trigger has its own keys.
        assert_eq!(s.record("u", &[ev("a")], None, 2).unwrap(), vec!["a"]);
        let (c, _) = s.counters("t").unwrap();
        assert_eq!((c.events_seen, c.duplicates, c.pending), (3, 1, 3));
    }

    #[test]
    fn events_are_due_in_order_and_retries_wait_for_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("l.db")).unwrap();
        s.record("t", &[ev("a"), ev("b")], None, 100).unwrap();
        let a = s.next_due("t", 100).unwrap().unwrap();
        assert_eq!((a.key.as_str(), a.attempts, a.in_flight), ("a", 0, false));
        s.begin_attempt(a.seq, 1, "r1").unwrap();
        // Starting the same attempt twice is refused.
        assert!(matches!(
            s.begin_attempt(a.seq, 1, "r1"),
            Err(StoreError::Conflict(_))
        ));
        s.fail(a.seq, "boom", Some(500), 100).unwrap();
        let b = s.next_due("t", 100).unwrap().unwrap();
        assert_eq!(b.key, "b", "a waits for its retry time");
        assert_eq!(s.next_wakeup("t").unwrap(), Some(100));
        s.begin_attempt(b.seq, 1, "r2").unwrap();
        s.succeed(b.seq, Some("ok"), 110).unwrap();
        assert_eq!(s.next_due("t", 499).unwrap(), None);
        assert_eq!(s.next_wakeup("t").unwrap(), Some(500));
        let a2 = s.next_due("t", 500).unwrap().unwrap();
        assert_eq!((a2.key.as_str(), a2.attempts), ("a", 1));
        s.begin_attempt(a2.seq, 2, "r3").unwrap();
        s.fail(a2.seq, "boom again", None, 600).unwrap();
        let (c, _) = s.counters("t").unwrap();
        assert_eq!(
            (
                c.events_seen,
                c.runs_succeeded,
                c.runs_failed,
                c.pending,
                c.dead_letter_count
            ),
            (2, 1, 2, 0, 1)
        );
        let dead = s.events("t", Some(EventState::Dead), 10).unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].key, "a");
        assert_eq!(dead[0].attempts, 2);
        assert_eq!(dead[0].last_error.as_deref(), Some("boom again"));
        let delivered = s.events("t", Some(EventState::Delivered), 10).unwrap();
        assert_eq!(delivered[0].response.as_deref(), Some("ok"));
        // Requeued dead letters are due again.
        assert_eq!(s.requeue_dead("t", 700).unwrap(), 1);
        let again = s.next_due("t", 700).unwrap().unwrap();
        assert_eq!(
            (again.key.as_str(), again.attempts, again.retry_base),
            ("a", 2, 2)
        );
    }

    #[test]
    fn request_ids_are_stable_distinct_and_valid_for_the_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("l.db")).unwrap();
        let a = s.request_id("t", "k", 1);
        assert_eq!(a, s.request_id("t", "k", 1));
        assert_ne!(a, s.request_id("t", "k", 2));
        assert_ne!(a, s.request_id("t2", "k", 1));
        assert_ne!(a, s.request_id("t", "k2", 1));
        let long = s.request_id(&"x".repeat(64), &"y".repeat(500), u32::MAX);
        for id in [a, long] {
            assert!(id.len() <= 128, "{id}");
            assert!(id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        }
    }
}
