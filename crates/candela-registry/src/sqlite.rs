//! The embedded SQLite registry.
use std::path::Path;
use std::sync::Mutex;

use candela_crypto::derive;
use candela_crypto::AffinePoint;
use rand_core::{OsRng, RngCore};
use rusqlite::{params, Connection, OptionalExtension};

use crate::{PkpRecord, Registry, RegistryError};

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
            CREATE INDEX IF NOT EXISTS pkps_owner ON pkps(owner);",
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

impl Registry for SqliteRegistry {
    fn mint(&self, owner: [u8; 20], root: &AffinePoint) -> Result<PkpRecord, RegistryError> {
        let mut key_id = [0u8; 32];
        OsRng.fill_bytes(&mut key_id);
        let public_key = derive::derive_public_key(root, &key_id)
            .map_err(|e| RegistryError::Encoding(e.to_string()))?;
        let rec = PkpRecord {
            token_id: derive::token_id(&public_key),
            key_id,
            public_key,
            owner,
        };
        self.lock().execute(
            "INSERT INTO pkps (token_id, key_id, public_key, owner) VALUES (?1, ?2, ?3, ?4)",
            params![
                hex::encode(rec.token_id),
                hex::encode(rec.key_id),
                pk_hex(&rec.public_key),
                hex::encode(owner)
            ],
        )?;
        Ok(rec)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use candela_crypto::{ProjectivePoint, Scalar};
    use k256::elliptic_curve::Field;

    fn root() -> AffinePoint {
        (ProjectivePoint::GENERATOR * Scalar::random(&mut OsRng)).to_affine()
    }

    #[test]
    fn minted_pkp_is_derived_from_root_and_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let reg = SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap();
        let root = root();
        let owner = [7u8; 20];
        let a = reg.mint(owner, &root).unwrap();
        let b = reg.mint(owner, &root).unwrap();
        assert_ne!(a.key_id, b.key_id, "key ids are unique");
        a.check_derivation(&root).unwrap();
        assert_eq!(reg.by_public_key(&a.public_key).unwrap(), a);
        assert_eq!(reg.by_token_id(&a.token_id).unwrap(), a);
        assert_eq!(reg.owned_by(owner).unwrap().len(), 2);
        assert!(reg.owned_by([8u8; 20]).unwrap().is_empty());
    }

    #[test]
    fn a_record_not_derived_from_the_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let reg = SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap();
        let root_a = root();
        let rec = reg.mint([1u8; 20], &root_a).unwrap();
        assert!(matches!(
            rec.check_derivation(&root()),
            Err(RegistryError::NotDerived(_))
        ));
        let mut forged = rec.clone();
        forged.public_key = root();
        assert!(forged.check_derivation(&root_a).is_err());
    }

    #[test]
    fn unknown_pkp_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let reg = SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap();
        let e = reg.by_public_key(&root()).unwrap_err();
        assert!(e.to_string().starts_with("unknown PKP 0x04"), "{e}");
    }
}
