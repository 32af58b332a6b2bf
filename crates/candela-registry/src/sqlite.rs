//! The embedded SQLite registry.
use std::path::Path;
use std::sync::Mutex;

use candela_crypto::derive;
use candela_crypto::AffinePoint;
use rand_core::{OsRng, RngCore};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::{
    signer_address, PkpRecord, Registry, RegistryError, SigningKey, BURNED_OWNER,
    SCOPE_SIGN_ANYTHING,
};

/// A registry in one SQLite file (WAL mode), shareable by several processes.
pub struct SqliteRegistry {
    conn: Mutex<Connection>,
}

impl SqliteRegistry {
    /// Open (and create if needed) the registry file.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS pkps (
                token_id   TEXT PRIMARY KEY,
                key_id     TEXT NOT NULL UNIQUE,
                public_key TEXT NOT NULL UNIQUE,
                owner      TEXT NOT NULL,
                created_at INTEGER NOT NULL DEFAULT (unixepoch())
            );
            CREATE INDEX IF NOT EXISTS pkps_owner ON pkps(owner);
            CREATE TABLE IF NOT EXISTS permitted_actions (
                token_id   TEXT NOT NULL REFERENCES pkps(token_id),
                multihash  BLOB NOT NULL CHECK (length(multihash) = 34),
                scope      INTEGER NOT NULL,
                seq        INTEGER NOT NULL,
                PRIMARY KEY (token_id, multihash, scope)
            );",
        )?;
        Ok(SqliteRegistry {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn query_one(&self, column: &str, value: &str) -> Result<Option<PkpRecord>, RegistryError> {
        let conn = self.lock();
        let sql =
            format!("SELECT token_id, key_id, public_key, owner FROM pkps WHERE {column} = ?1");
        let row = conn
            .query_row(&sql, params![value], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .optional()?;
        row.map(decode).transpose()
    }
}

fn decode_fixed<const N: usize>(s: &str) -> Result<[u8; N], RegistryError> {
    let v = hex::decode(s).map_err(|e| RegistryError::Encoding(e.to_string()))?;
    v.try_into()
        .map_err(|_| RegistryError::Encoding(format!("expected {N} bytes")))
}

fn decode(row: (String, String, String, String)) -> Result<PkpRecord, RegistryError> {
    let (token_id, key_id, public_key, owner) = row;
    Ok(PkpRecord {
        token_id: decode_fixed(&token_id)?,
        key_id: decode_fixed(&key_id)?,
        public_key: derive::parse_public_key(&public_key)
            .map_err(|e| RegistryError::Encoding(e.to_string()))?,
        owner: decode_fixed(&owner)?,
    })
}

fn pk_hex(pk: &AffinePoint) -> String {
    hex::encode(derive::point_to_bytes(pk, false))
}

fn new_record(owner: [u8; 20], root: &AffinePoint) -> Result<PkpRecord, RegistryError> {
    let mut key_id = [0u8; 32];
    OsRng.fill_bytes(&mut key_id);
    let public_key = derive::derive_public_key(root, &key_id)
        .map_err(|e| RegistryError::Encoding(e.to_string()))?;
    Ok(PkpRecord {
        token_id: derive::token_id(&public_key),
        key_id,
        public_key,
        owner,
    })
}

/// The owner of a PKP inside a transaction (None: unknown PKP).
fn owner_in(conn: &Connection, token_id: &[u8; 32]) -> Result<Option<[u8; 20]>, RegistryError> {
    let owner: Option<String> = conn
        .query_row(
            "SELECT owner FROM pkps WHERE token_id = ?1",
            params![hex::encode(token_id)],
            |r| r.get(0),
        )
        .optional()?;
    owner.map(|o| decode_fixed(&o)).transpose()
}

fn permit_in(
    conn: &Connection,
    token_id: &[u8; 32],
    multihash: &[u8],
    scope: u64,
) -> Result<(), RegistryError> {
    conn.execute(
        "INSERT OR IGNORE INTO permitted_actions (token_id, multihash, scope, seq)
         VALUES (?1, ?2, ?3, (SELECT coalesce(max(seq), 0) + 1 FROM permitted_actions))",
        params![hex::encode(token_id), multihash, scope as i64],
    )?;
    Ok(())
}

impl Registry for SqliteRegistry {
    fn mint(&self, owner: &SigningKey, root: &AffinePoint) -> Result<PkpRecord, RegistryError> {
        self.mint_with_actions(owner, root, &[], false)
    }

    fn by_public_key(&self, public_key: &AffinePoint) -> Result<PkpRecord, RegistryError> {
        self.query_one("public_key", &pk_hex(public_key))?
            .ok_or_else(|| RegistryError::UnknownPkp(derive::public_key_hex(public_key)))
    }

    fn by_token_id(&self, token_id: &[u8; 32]) -> Result<PkpRecord, RegistryError> {
        self.query_one("token_id", &hex::encode(token_id))?
            .ok_or_else(|| RegistryError::UnknownPkp(format!("0x{}", hex::encode(token_id))))
    }

    fn owned_by(&self, owner: [u8; 20]) -> Result<Vec<PkpRecord>, RegistryError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT token_id, key_id, public_key, owner FROM pkps WHERE owner = ?1 ORDER BY created_at, token_id",
        )?;
        let rows = stmt.query_map(params![hex::encode(owner)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(decode(row?)?);
        }
        Ok(out)
    }

    fn add_permitted_action(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        ipfs_id: &str,
        scope: u64,
    ) -> Result<(), RegistryError> {
        let signer = signer_address(owner);
        let multihash = candela_cid::parse_cid_v0(ipfs_id)?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        match owner_in(&tx, token_id)? {
            None => {
                return Err(RegistryError::UnknownPkp(format!(
                    "0x{}",
                    hex::encode(token_id)
                )))
            }
            Some(o) if o == BURNED_OWNER => {
                return Err(RegistryError::Burned(format!(
                    "0x{}",
                    hex::encode(token_id)
                )))
            }
            Some(o) if o != signer => {
                return Err(RegistryError::NotOwner {
                    token_id: format!("0x{}", hex::encode(token_id)),
                    owner: derive::checksum_address(&o),
                    signer: derive::checksum_address(&signer),
                })
            }
            Some(_) => {}
        }
        permit_in(&tx, token_id, &multihash, scope)?;
        tx.commit()?;
        Ok(())
    }

    fn is_permitted_action(
        &self,
        token_id: &[u8; 32],
        ipfs_id: &str,
    ) -> Result<bool, RegistryError> {
        let multihash = candela_cid::parse_cid_v0(ipfs_id)?;
        let found: Option<i64> = self
            .lock()
            .query_row(
                "SELECT 1 FROM permitted_actions WHERE token_id = ?1 AND multihash = ?2 LIMIT 1",
                params![hex::encode(token_id), multihash.as_slice()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    fn permitted_actions(&self, token_id: &[u8; 32]) -> Result<Vec<String>, RegistryError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT multihash FROM permitted_actions WHERE token_id = ?1
             GROUP BY multihash ORDER BY min(seq)",
        )?;
        let rows = stmt.query_map(params![hex::encode(token_id)], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(candela_cid::multihash_to_cid_v0(&row?)?);
        }
        Ok(out)
    }

    fn mint_with_actions(
        &self,
        owner: &SigningKey,
        root: &AffinePoint,
        ipfs_ids: &[&str],
        burn: bool,
    ) -> Result<PkpRecord, RegistryError> {
        // Parse every CID before touching the database.
        let multihashes = ipfs_ids
            .iter()
            .map(|c| candela_cid::parse_cid_v0(c))
            .collect::<Result<Vec<_>, _>>()?;
        let owner = signer_address(owner);
        let mut rec = new_record(owner, root)?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO pkps (token_id, key_id, public_key, owner) VALUES (?1, ?2, ?3, ?4)",
            params![
                hex::encode(rec.token_id),
                hex::encode(rec.key_id),
                pk_hex(&rec.public_key),
                hex::encode(owner)
            ],
        )?;
        for mh in &multihashes {
            permit_in(&tx, &rec.token_id, mh, SCOPE_SIGN_ANYTHING)?;
        }
        if burn {
            tx.execute(
                "UPDATE pkps SET owner = ?1 WHERE token_id = ?2",
                params![hex::encode(BURNED_OWNER), hex::encode(rec.token_id)],
            )?;
            rec.owner = BURNED_OWNER;
        }
        tx.commit()?;
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    fn open(dir: &tempfile::TempDir) -> SqliteRegistry {
        SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap()
    }

    #[test]
    fn sqlite_passes_the_registry_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let reg = open(&dir);
        conformance::run_all(&reg, &conformance::random_root());
    }

    #[test]
    fn sqlite_conformance_twice_on_one_file_as_a_trait_object() {
        // A second run (another root, other keys) on a file that already
        // holds PKPs: every check is relative to what was there before.
        let dir = tempfile::tempdir().unwrap();
        conformance::run_all(&open(&dir), &conformance::random_root());
        let reg: Box<dyn Registry> = Box::new(open(&dir));
        conformance::run_all(reg.as_ref(), &conformance::random_root());
    }

    #[test]
    fn a_broken_database_is_a_storage_error() {
        let dir = tempfile::tempdir().unwrap();
        let reg = open(&dir);
        reg.lock().execute_batch("DROP TABLE pkps").unwrap();
        let e = reg.by_token_id(&[1u8; 32]).unwrap_err();
        assert!(matches!(e, RegistryError::Storage(_)), "{e}");
    }
}
