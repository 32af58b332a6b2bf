//! Per-node storage: an embedded SQLite database whose secret columns (key
//! shares, presignature shares) are sealed with XChaCha20-Poly1305 under the
//! node's storage key. The associated data binds each ciphertext to its row,
//! so a sealed value cannot be moved to another row.
//!
//! Presignature lifecycle: `free` → (`assigned` at the coordinator) → `used`.
//! `take_presignature` marks a presignature used and erases its sealed shares
//! in one committed transaction *before* returning them, so that a share
//! computed from it can leave the node at most once, across crashes.
//!
//! Rollback: a database restored from a backup or a VM snapshot holds as
//! `free` presignatures the node has since used. A store therefore hands out
//! no presignature (`take_presignature`, `assign` answer
//! [`StoreError::Syncing`]) until the node has marked used every
//! presignature its peers hold as used ([`Store::mark_used`]) and called
//! [`Store::set_reconciled`]. Key shares and used marks are committed with
//! `synchronous=FULL`.
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use zeroize::Zeroizing;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A sealed value did not open: wrong storage key or tampering.
    #[error("sealed value {0} failed to open (wrong storage key or tampered database)")]
    Unseal(String),
    /// The storage key is malformed.
    #[error("storage key: {0}")]
    Key(String),
    /// No such presignature (internal to `take_presignature`).
    #[error("no such presignature")]
    Missing,
    /// The store's presignatures have not been reconciled with the peers'
    /// used marks since it was opened (see [`Store::set_reconciled`]).
    #[error("presignatures are not reconciled with the peers yet (the node is syncing)")]
    Syncing,
    /// A stored value opened but does not decode.
    #[error("stored value does not decode: {0}")]
    Corrupt(String),
}

type TakeError = StoreError;

/// A coordinator's record of one request's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAssignment {
    /// The presignature assigned.
    pub presignature_id: String,
    /// The signing set.
    pub signers: Vec<u32>,
    /// `H(PKP, digest)` of the request that was assigned (hex).
    pub binding: String,
}

/// What happened when a presignature was requested for a request.
#[derive(Debug)]
pub enum Take {
    /// Marked used for this request; here are its sealed bytes, opened.
    Taken(Zeroizing<Vec<u8>>),
    /// Already used or assigned to another request.
    AlreadyUsed,
    /// This node does not hold it.
    Missing,
}

/// The associated data sealing one stored nonce.
fn nonce_aad(suite: &str, id: u64) -> String {
    format!("nonce/{suite}/{id}")
}

/// A kept run record: the caller (hex address) and the record's bytes.
pub type KeptRun = (String, Zeroizing<Vec<u8>>);

/// The node's database.
pub struct Store {
    conn: Mutex<Connection>,
    cipher: XChaCha20Poly1305,
    /// Presignatures may be handed out (the peers' used marks are in).
    reconciled: AtomicBool,
}

impl Store {
    /// Open the database with a 32-byte storage key.
    pub fn open(path: &Path, key: &[u8]) -> Result<Self, StoreError> {
        if key.len() != 32 {
            return Err(StoreError::Key(format!(
                "must be 32 bytes, got {}",
                key.len()
            )));
        }
        let cipher =
            XChaCha20Poly1305::new_from_slice(key).map_err(|e| StoreError::Key(e.to_string()))?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL in WAL mode survives a process crash; the one transaction
        // that must survive power loss too (taking a presignature) switches
        // to FULL for its commit.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS secrets (
                name TEXT PRIMARY KEY,
                sealed BLOB NOT NULL
            );
            CREATE TABLE IF NOT EXISTS presignatures (
                seq          INTEGER PRIMARY KEY AUTOINCREMENT,
                id           TEXT NOT NULL UNIQUE,
                participants TEXT NOT NULL,
                state        TEXT NOT NULL CHECK (state IN ('free', 'assigned', 'used')),
                request_id   TEXT,
                sealed       BLOB,
                created_at   INTEGER NOT NULL DEFAULT (unixepoch())
            );
            CREATE INDEX IF NOT EXISTS presignatures_state ON presignatures(state, seq);
            CREATE TABLE IF NOT EXISTS requests (
                request_id TEXT PRIMARY KEY,
                kind       TEXT NOT NULL,
                at         INTEGER NOT NULL DEFAULT (unixepoch())
            );
            CREATE TABLE IF NOT EXISTS actions (
                cid  TEXT PRIMARY KEY,
                code BLOB NOT NULL,
                at   INTEGER NOT NULL DEFAULT (unixepoch())
            );
            CREATE TABLE IF NOT EXISTS runs (
                seq        INTEGER PRIMARY KEY AUTOINCREMENT,
                request_id TEXT NOT NULL UNIQUE,
                caller     TEXT NOT NULL,
                sealed     BLOB NOT NULL
            );
            CREATE TABLE IF NOT EXISTS frost_nonces (
                suite  TEXT NOT NULL,
                id     INTEGER NOT NULL,
                sealed BLOB NOT NULL,
                PRIMARY KEY (suite, id)
            );
            CREATE TABLE IF NOT EXISTS frost_nonce_ids (
                suite   TEXT PRIMARY KEY,
                next_id INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS assignments (
                request_id      TEXT PRIMARY KEY,
                presignature_id TEXT NOT NULL,
                signers         TEXT NOT NULL,
                binding         TEXT NOT NULL DEFAULT '',
                at              INTEGER NOT NULL DEFAULT (unixepoch())
            );",
        )?;
        // A database made before assignments carried their binding.
        let has_binding: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('assignments') WHERE name = 'binding'")?
            .exists([])?;
        if !has_binding {
            conn.execute_batch(
                "ALTER TABLE assignments ADD COLUMN binding TEXT NOT NULL DEFAULT ''",
            )?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
            cipher,
            reconciled: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seal(&self, aad: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        out
    }

    fn open_sealed(&self, aad: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        if sealed.len() < 24 {
            return Err(StoreError::Unseal(aad.into()));
        }
        let (nonce, ct) = sealed.split_at(24);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| StoreError::Unseal(aad.into()))
    }

    /// Store a named secret (e.g. the root key share), sealed, committed
    /// with `synchronous=FULL` (it survives power loss once this returns).
    pub fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let sealed = self.seal(&format!("secret/{name}"), value);
        Self::durably(&self.lock(), |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO secrets (name, sealed) VALUES (?1, ?2)",
                params![name, sealed],
            )
            .map_err(StoreError::from)
        })?;
        Ok(())
    }

    /// Run `f` with `synchronous=FULL`, then set it back to NORMAL.
    fn durably<T>(
        conn: &Connection,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        conn.pragma_update(None, "synchronous", "FULL")?;
        let result = f(conn);
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        result
    }

    /// True once presignatures may be handed out (see the module doc).
    pub fn reconciled(&self) -> bool {
        self.reconciled.load(Ordering::SeqCst)
    }

    /// Allow presignatures to be handed out: the caller has marked used
    /// every presignature enough peers hold as used.
    pub fn set_reconciled(&self) {
        self.reconciled.store(true, Ordering::SeqCst);
    }

    fn require_reconciled(&self) -> Result<(), StoreError> {
        if self.reconciled() {
            Ok(())
        } else {
            Err(StoreError::Syncing)
        }
    }

    /// Up to `limit` presignatures not marked used here, after sequence
    /// number `after` (ascending): what a node asks its peers about.
    pub fn unused_presignatures(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT seq, id FROM presignatures WHERE state != 'used' AND seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every presignature this node holds that is neither used nor assigned
    /// to a request (what a refresh discards).
    pub fn free_presignatures(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT id FROM presignatures WHERE state = 'free'")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Which of `ids` this node holds as used or reserved for a request
    /// (what a peer answers a node that reconciles).
    pub fn used_among(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT state FROM presignatures WHERE id = ?1")?;
        let mut used = Vec::new();
        for id in ids {
            let state: Option<String> = stmt.query_row(params![id], |r| r.get(0)).optional()?;
            if matches!(state.as_deref(), Some("used") | Some("assigned")) {
                used.push(id.clone());
            }
        }
        Ok(used)
    }

    /// Which of `ids` this node does not hold at all (a generation session
    /// that never stored here, e.g. the node stopped just before): what a
    /// peer answers beside [`Store::used_among`].
    pub fn missing_among(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT 1 FROM presignatures WHERE id = ?1")?;
        let mut missing = Vec::new();
        for id in ids {
            if stmt
                .query_row(params![id], |_| Ok(()))
                .optional()?
                .is_none()
            {
                missing.push(id.clone());
            }
        }
        Ok(missing)
    }

    /// `peer` does not hold these presignatures: mark used (never handed
    /// out) each one still free here that `peer` takes part in, since no
    /// signing set with `peer` could use it. The number discarded.
    pub fn discard_missing_at(&self, peer: u32, ids: &[String]) -> Result<usize, StoreError> {
        let unusable: Vec<String> = {
            let conn = self.lock();
            let mut stmt = conn.prepare_cached(
                "SELECT participants FROM presignatures WHERE id = ?1 AND state = 'free'",
            )?;
            let mut out = Vec::new();
            for id in ids {
                let parts: Option<String> = stmt.query_row(params![id], |r| r.get(0)).optional()?;
                if parts.is_some_and(|p| split(&p).contains(&peer)) {
                    out.push(id.clone());
                }
            }
            out
        };
        self.mark_used(&unusable)
    }

    /// A peer used these presignatures: reserve each one that is still
    /// free here and that `reporter` takes part in for the request that
    /// used it (only that request can still take it; no coordinator hands
    /// it out). The number reserved.
    pub fn reserve_spent(
        &self,
        uses: &[crate::spent::PresignatureUse],
        reporter: u32,
    ) -> Result<usize, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        for u in uses {
            let parts: Option<String> = tx
                .query_row(
                    "SELECT participants FROM presignatures WHERE id = ?1 AND state = 'free'",
                    params![u.presignature_id],
                    |r| r.get(0),
                )
                .optional()?;
            if parts.is_some_and(|p| split(&p).contains(&reporter)) {
                n += tx.execute(
                    "UPDATE presignatures SET state = 'assigned', request_id = ?1 WHERE id = ?2 AND state = 'free'",
                    params![u.request_id, u.presignature_id],
                )?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Mark these presignatures used and erase their shares, durably
    /// (`synchronous=FULL`); the number newly marked.
    pub fn mark_used(&self, ids: &[String]) -> Result<usize, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.lock();
        conn.pragma_update(None, "synchronous", "FULL")?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut n = 0;
            for id in ids {
                n += tx.execute(
                    "UPDATE presignatures SET state = 'used', sealed = NULL WHERE id = ?1 AND state != 'used'",
                    params![id],
                )?;
            }
            tx.commit()?;
            Ok::<_, StoreError>(n)
        })();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        result
    }

    /// Forget a named secret (no error when there is none).
    pub fn delete_secret(&self, name: &str) -> Result<(), StoreError> {
        Self::durably(&self.lock(), |conn| {
            conn.execute("DELETE FROM secrets WHERE name = ?1", params![name])
                .map_err(StoreError::from)
        })?;
        Ok(())
    }

    /// Add unused Schnorr nonces of `suite` (sealed, one row each) and
    /// record that ids below `next_id` are made, in one transaction with
    /// `synchronous=FULL`.
    pub fn add_nonces(
        &self,
        suite: &str,
        next_id: u64,
        nonces: &[(u64, Zeroizing<Vec<u8>>)],
    ) -> Result<(), StoreError> {
        let sealed: Vec<(i64, Vec<u8>)> = nonces
            .iter()
            .map(|(id, plain)| (*id as i64, self.seal(&nonce_aad(suite, *id), plain)))
            .collect();
        let mut conn = self.lock();
        conn.pragma_update(None, "synchronous", "FULL")?;
        let result = (|| {
            let tx = conn.transaction()?;
            for (id, s) in &sealed {
                tx.execute(
                    "INSERT OR REPLACE INTO frost_nonces (suite, id, sealed) VALUES (?1, ?2, ?3)",
                    params![suite, id, s],
                )?;
            }
            tx.execute(
                "INSERT INTO frost_nonce_ids (suite, next_id) VALUES (?1, ?2)
                 ON CONFLICT (suite) DO UPDATE SET next_id = max(next_id, excluded.next_id)",
                params![suite, next_id as i64],
            )?;
            tx.commit()
        })();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(result?)
    }

    /// Delete every stored unused Schnorr nonce of `suite` for good (one
    /// transaction committed with `synchronous=FULL`) and give the next id
    /// to make, so that ids go on after the deleted ones.
    pub fn discard_nonces(&self, suite: &str) -> Result<u64, StoreError> {
        let mut conn = self.lock();
        conn.pragma_update(None, "synchronous", "FULL")?;
        let result = (|| {
            let tx = conn.transaction()?;
            let next: Option<i64> = tx
                .query_row(
                    "SELECT next_id FROM frost_nonce_ids WHERE suite = ?1",
                    params![suite],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute("DELETE FROM frost_nonces WHERE suite = ?1", params![suite])?;
            tx.commit()?;
            Ok::<_, rusqlite::Error>(next.unwrap_or(0) as u64)
        })();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(result?)
    }

    /// Spend Schnorr nonces for good, `(suite, id)` each, in one
    /// transaction committed with `synchronous=FULL`: once this returns, no
    /// restart brings them back.
    pub fn spend_nonces(&self, spent: &[(String, u64)]) -> Result<(), StoreError> {
        let mut conn = self.lock();
        conn.pragma_update(None, "synchronous", "FULL")?;
        let result = (|| {
            let tx = conn.transaction()?;
            for (suite, id) in spent {
                tx.execute(
                    "DELETE FROM frost_nonces WHERE suite = ?1 AND id = ?2",
                    params![suite, *id as i64],
                )?;
            }
            tx.commit()
        })();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(result?)
    }

    /// Read a named secret.
    pub fn get_secret(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let sealed: Option<Vec<u8>> = self
            .lock()
            .query_row(
                "SELECT sealed FROM secrets WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?;
        sealed
            .map(|s| self.open_sealed(&format!("secret/{name}"), &s))
            .transpose()
    }

    /// Add freshly generated presignatures (id, participants, bytes).
    pub fn insert_presignatures(
        &self,
        items: &[(String, Vec<u32>, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for (id, parts, bytes) in items {
            let sealed = self.seal(&format!("presig/{id}"), bytes);
            tx.execute(
                "INSERT INTO presignatures (id, participants, state, sealed) VALUES (?1, ?2, 'free', ?3)",
                params![id, join(parts), sealed],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Presignatures by state: (free, assigned + used).
    pub fn presignature_counts(&self) -> Result<(u64, u64), StoreError> {
        let conn = self.lock();
        let free: u64 = conn.query_row(
            "SELECT count(*) FROM presignatures WHERE state = 'free'",
            [],
            |r| r.get(0),
        )?;
        let used: u64 = conn.query_row(
            "SELECT count(*) FROM presignatures WHERE state != 'free'",
            [],
            |r| r.get(0),
        )?;
        Ok((free, used))
    }

    /// Record a request id; false if it was seen before (a replay).
    pub fn claim_request(&self, request_id: &str, kind: &str) -> Result<bool, StoreError> {
        let n = self.lock().execute(
            "INSERT OR IGNORE INTO requests (request_id, kind) VALUES (?1, ?2)",
            params![request_id, kind],
        )?;
        Ok(n == 1)
    }

    /// Record `key` (of `kind`) as used, durably (synchronous commit);
    /// false if it was recorded before. DKLs23 signing session ids go here
    /// before a session sends its first message.
    pub fn claim_durably(&self, key: &str, kind: &str) -> Result<bool, StoreError> {
        let n = Self::durably(&self.lock(), |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO requests (request_id, kind) VALUES (?1, ?2)",
                params![key, kind],
            )
            .map_err(StoreError::from)
        })?;
        Ok(n == 1)
    }

    /// As coordinator of a network without presignatures (DKLs23): the
    /// signing set of `request_id`, recorded with its binding on first
    /// call (`choose` picks it; `label` stands in the presignature id
    /// column), or the one recorded before.
    pub fn assign_signers(
        &self,
        request_id: &str,
        binding: &str,
        label: &str,
        choose: impl FnOnce() -> Option<Vec<u32>>,
    ) -> Result<Option<StoredAssignment>, StoreError> {
        self.require_reconciled()?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<(String, String, String)> = tx
            .query_row(
                "SELECT presignature_id, signers, binding FROM assignments WHERE request_id = ?1",
                params![request_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((presignature_id, signers, binding)) = existing {
            return Ok(Some(StoredAssignment {
                presignature_id,
                signers: split(&signers),
                binding,
            }));
        }
        let Some(signers) = choose() else {
            return Ok(None);
        };
        tx.execute(
            "INSERT INTO assignments (request_id, presignature_id, signers, binding) VALUES (?1, ?2, ?3, ?4)",
            params![request_id, label, join(&signers), binding],
        )?;
        tx.commit()?;
        Ok(Some(StoredAssignment {
            presignature_id: label.to_string(),
            signers,
            binding: binding.to_string(),
        }))
    }

    /// Store an action's code under its CID (checked by the caller). The
    /// store is immutable: storing a CID again keeps the first copy.
    pub fn put_action(&self, cid: &str, code: &[u8]) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT OR IGNORE INTO actions (cid, code) VALUES (?1, ?2)",
            params![cid, code],
        )?;
        Ok(())
    }

    /// Keep the record of an execution (sealed), for `caller` (hex address),
    /// then drop the oldest records beyond the newest `keep`.
    pub fn put_run(
        &self,
        request_id: &str,
        caller: &str,
        record: &[u8],
        keep: usize,
    ) -> Result<(), StoreError> {
        let sealed = self.seal(&format!("run:{request_id}"), record);
        let conn = self.lock();
        conn.execute(
            "INSERT OR REPLACE INTO runs (request_id, caller, sealed) VALUES (?1, ?2, ?3)",
            params![request_id, caller, sealed],
        )?;
        conn.execute(
            "DELETE FROM runs WHERE seq NOT IN (SELECT seq FROM runs ORDER BY seq DESC LIMIT ?1)",
            params![keep as i64],
        )?;
        Ok(())
    }

    /// The caller (hex address) and record of an execution, if kept.
    pub fn get_run(&self, request_id: &str) -> Result<Option<KeptRun>, StoreError> {
        let row: Option<(String, Vec<u8>)> = self
            .lock()
            .query_row(
                "SELECT caller, sealed FROM runs WHERE request_id = ?1",
                params![request_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((caller, sealed)) => Ok(Some((
                caller,
                self.open_sealed(&format!("run:{request_id}"), &sealed)?,
            ))),
        }
    }

    /// The code stored under `cid`, unverified (the caller verifies it).
    pub fn get_action(&self, cid: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT code FROM actions WHERE cid = ?1",
                params![cid],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Coordinator: the presignature and signing set for a request, chosen
    /// once and recorded durably with the binding `H(PKP, digest)` of the
    /// request that asked first (a later call for the same request id gets
    /// that record back, whatever binding it brings). `choose` gets each
    /// candidate's participants and returns the signing set if it can be used.
    pub fn assign(
        &self,
        request_id: &str,
        binding: &str,
        choose: impl Fn(&[u32]) -> Option<Vec<u32>>,
    ) -> Result<Option<StoredAssignment>, StoreError> {
        self.require_reconciled()?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<(String, String, String)> = tx
            .query_row(
                "SELECT presignature_id, signers, binding FROM assignments WHERE request_id = ?1",
                params![request_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((presignature_id, signers, binding)) = existing {
            return Ok(Some(StoredAssignment {
                presignature_id,
                signers: split(&signers),
                binding,
            }));
        }
        let candidates: Vec<(String, String)> = {
            let mut stmt = tx.prepare("SELECT id, participants FROM presignatures WHERE state = 'free' ORDER BY seq LIMIT 64")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (id, parts) in candidates {
            if let Some(signers) = choose(&split(&parts)) {
                tx.execute(
                    "UPDATE presignatures SET state = 'assigned', request_id = ?1 WHERE id = ?2 AND state = 'free'",
                    params![request_id, id],
                )?;
                tx.execute(
                    "INSERT INTO assignments (request_id, presignature_id, signers, binding) VALUES (?1, ?2, ?3, ?4)",
                    params![request_id, id, join(&signers), binding],
                )?;
                tx.commit()?;
                return Ok(Some(StoredAssignment {
                    presignature_id: id,
                    signers,
                    binding: binding.to_string(),
                }));
            }
        }
        Ok(None)
    }

    /// Mark a presignature used for `request_id` and erase it, durably, then
    /// hand back its opened bytes. Never returns the same presignature twice.
    pub fn take_presignature(&self, id: &str, request_id: &str) -> Result<Take, StoreError> {
        self.require_reconciled()?;
        match self.take_presignature_inner(id, request_id) {
            Err(StoreError::Missing) => Ok(Take::Missing),
            other => other,
        }
    }

    fn take_presignature_inner(&self, id: &str, request_id: &str) -> Result<Take, StoreError> {
        let mut conn = self.lock();
        conn.pragma_update(None, "synchronous", "FULL")?;
        let result = Self::take_in(&mut conn, id, request_id);
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        drop(conn);
        match result? {
            Some(sealed) => Ok(Take::Taken(
                self.open_sealed(&format!("presig/{id}"), &sealed)?,
            )),
            None => Ok(Take::AlreadyUsed),
        }
    }

    /// Ok(None): already used; Err(Missing) is encoded as a separate check.
    fn take_in(
        conn: &mut Connection,
        id: &str,
        request_id: &str,
    ) -> Result<Option<Vec<u8>>, TakeError> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(String, Option<String>, Option<Vec<u8>>)> = tx
            .query_row(
                "SELECT state, request_id, sealed FROM presignatures WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((state, owner, sealed)) = row else {
            return Err(TakeError::Missing);
        };
        let usable =
            state == "free" || (state == "assigned" && owner.as_deref() == Some(request_id));
        let Some(sealed) = sealed.filter(|_| usable) else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE presignatures SET state = 'used', request_id = ?1, sealed = NULL WHERE id = ?2",
            params![request_id, id],
        )?;
        tx.commit()?;
        Ok(Some(sealed))
    }
}

fn join(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

fn split(s: &str) -> Vec<u32> {
    s.split(',').filter_map(|x| x.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose presignatures are reconciled (a node past start-up).
    fn store(dir: &Path, key: [u8; 32]) -> Store {
        let s = Store::open(&dir.join("node.sqlite"), &key).unwrap();
        s.set_reconciled();
        s
    }

    #[test]
    fn a_restored_store_never_hands_out_a_presignature_its_peers_saw_used() {
        let dir = tempfile::tempdir().unwrap();
        let backup = tempfile::tempdir().unwrap();
        let items = [
            ("p1".to_string(), vec![0, 1, 2], b"x".to_vec()),
            ("p2".to_string(), vec![0, 1, 2], b"y".to_vec()),
        ];
        {
            let s = store(dir.path(), [1; 32]);
            s.insert_presignatures(&items).unwrap();
        }
        // the backup: a copy of the database before p1 is used
        std::fs::copy(
            dir.path().join("node.sqlite"),
            backup.path().join("node.sqlite"),
        )
        .unwrap();
        let peer = store(dir.path(), [1; 32]);
        assert!(matches!(
            peer.take_presignature("p1", "req-a").unwrap(),
            Take::Taken(_)
        ));
        // restored: nothing is handed out before reconciling
        let restored = Store::open(&backup.path().join("node.sqlite"), &[1; 32]).unwrap();
        assert!(matches!(
            restored.take_presignature("p1", "req-b"),
            Err(StoreError::Syncing)
        ));
        assert!(matches!(
            restored.assign("req-b", "b", |p| Some(p.to_vec())),
            Err(StoreError::Syncing)
        ));
        // reconcile: ask about every unused presignature, mark what the peer saw used
        let asked: Vec<String> = restored
            .unused_presignatures(0, 100)
            .unwrap()
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        assert_eq!(asked, vec!["p1".to_string(), "p2".to_string()]);
        let used = peer.used_among(&asked).unwrap();
        assert_eq!(used, vec!["p1".to_string()]);
        assert!(peer.missing_among(&asked).unwrap().is_empty());
        assert_eq!(
            peer.missing_among(&["never-stored".to_string()]).unwrap(),
            vec!["never-stored".to_string()]
        );
        assert_eq!(restored.mark_used(&used).unwrap(), 1);
        assert_eq!(restored.mark_used(&used).unwrap(), 0, "idempotent");
        restored.set_reconciled();
        assert!(matches!(
            restored.take_presignature("p1", "req-b").unwrap(),
            Take::AlreadyUsed
        ));
        let id = restored
            .assign("req-c", "b", |p| Some(p.to_vec()))
            .unwrap()
            .unwrap()
            .presignature_id;
        assert_eq!(id, "p2", "the coordinator skips the used one");
        assert!(matches!(
            restored.take_presignature("p2", "req-c").unwrap(),
            Take::Taken(_)
        ));
        assert_eq!(restored.unused_presignatures(0, 100).unwrap(), vec![]);
    }

    #[test]
    fn secrets_are_sealed_at_rest_and_need_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let secret = b"THIS-IS-A-KEY-SHARE-0123456789ab".to_vec();
        {
            let s = store(dir.path(), [1; 32]);
            s.put_secret("root", &secret).unwrap();
            s.insert_presignatures(&[(
                "p1".into(),
                vec![0, 1],
                b"PRESIGNATURE-SHARE-BYTES".to_vec(),
            )])
            .unwrap();
            assert_eq!(&*s.get_secret("root").unwrap().unwrap(), &secret);
        }
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            assert!(
                !bytes.windows(16).any(|w| w == &secret[..16]),
                "key share in the clear"
            );
            assert!(
                !bytes.windows(16).any(|w| w == b"PRESIGNATURE-SHA"),
                "presignature in the clear"
            );
        }
        let wrong = store(dir.path(), [2; 32]);
        assert!(matches!(
            wrong.get_secret("root"),
            Err(StoreError::Unseal(_))
        ));
    }

    #[test]
    fn a_presignature_is_taken_at_most_once_even_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = store(dir.path(), [1; 32]);
            s.insert_presignatures(&[("p1".into(), vec![0, 1, 2], b"x".to_vec())])
                .unwrap();
            assert!(matches!(
                s.take_presignature("p1", "req-a").unwrap(),
                Take::Taken(_)
            ));
            assert!(matches!(
                s.take_presignature("p1", "req-a").unwrap(),
                Take::AlreadyUsed
            ));
        }
        let s = store(dir.path(), [1; 32]);
        assert!(matches!(
            s.take_presignature("p1", "req-b").unwrap(),
            Take::AlreadyUsed
        ));
        assert!(matches!(
            s.take_presignature("nope", "req-b").unwrap(),
            Take::Missing
        ));
        assert_eq!(s.presignature_counts().unwrap(), (0, 1));
    }

    #[test]
    fn a_spent_notice_keeps_a_presignature_from_every_other_request() {
        use crate::spent::PresignatureUse;
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), [1; 32]);
        s.insert_presignatures(&[
            ("p1".into(), vec![0, 1, 2], b"x".to_vec()),
            ("p2".into(), vec![0, 1, 2], b"y".to_vec()),
        ])
        .unwrap();
        let spent = |id: &str, rid: &str| PresignatureUse {
            presignature_id: id.into(),
            request_id: rid.into(),
        };
        assert_eq!(
            s.reserve_spent(&[spent("p1", "r1")], 7).unwrap(),
            0,
            "a node outside the presignature cannot reserve it"
        );
        assert_eq!(s.reserve_spent(&[spent("p1", "r1")], 2).unwrap(), 1);
        assert_eq!(s.reserve_spent(&[spent("p1", "r9")], 2).unwrap(), 0, "once");
        // as coordinator this node now skips p1
        let pick = |p: &[u32]| Some(p.to_vec());
        let a = s.assign("r2", "b", pick).unwrap().unwrap();
        assert_eq!(a.presignature_id, "p2");
        // p1 is still there for the request that used it, and only for it
        assert!(matches!(
            s.take_presignature("p1", "r3").unwrap(),
            Take::AlreadyUsed
        ));
        assert!(matches!(
            s.take_presignature("p1", "r1").unwrap(),
            Take::Taken(_)
        ));
    }

    #[test]
    fn an_assignment_is_fixed_once_and_reserves_the_presignature() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), [1; 32]);
        s.insert_presignatures(&[
            ("p1".into(), vec![0, 1, 2], b"x".to_vec()),
            ("p2".into(), vec![0, 1, 2], b"y".to_vec()),
        ])
        .unwrap();
        let pick = |p: &[u32]| Some(p[..2].to_vec());
        let a = s.assign("r1", "b1", pick).unwrap().unwrap();
        assert_eq!(a.binding, "b1");
        assert_eq!(
            s.assign("r1", "b1", pick).unwrap().unwrap(),
            a,
            "same answer for the same request"
        );
        assert_eq!(
            s.assign("r1", "other", pick).unwrap().unwrap().binding,
            "b1",
            "the first binding stays: a later asker sees it differs"
        );
        let b = s.assign("r2", "b2", pick).unwrap().unwrap();
        assert_ne!(
            a.presignature_id, b.presignature_id,
            "another request gets another presignature"
        );
        assert!(
            s.assign("r3", "b3", pick).unwrap().is_none(),
            "pool exhausted"
        );
        // the assigned presignature can be taken for its own request only
        assert!(matches!(
            s.take_presignature(&a.presignature_id, "r2").unwrap(),
            Take::AlreadyUsed
        ));
        assert!(matches!(
            s.take_presignature(&a.presignature_id, "r1").unwrap(),
            Take::Taken(_)
        ));
    }

    #[test]
    fn an_action_is_stored_once_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), [1; 32]);
        assert!(s.get_action("QmX").unwrap().is_none());
        s.put_action("QmX", b"first").unwrap();
        s.put_action("QmX", b"second").unwrap();
        assert_eq!(s.get_action("QmX").unwrap().unwrap(), b"first");
    }

    #[test]
    fn a_request_id_is_claimed_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), [1; 32]);
        assert!(s.claim_request("abc", "pkp-sign").unwrap());
        assert!(!s.claim_request("abc", "pkp-sign").unwrap());
    }
}
