//! The embedded SQLite registry.
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use candela_crypto::derive;
use candela_crypto::AffinePoint;
use rand_core::{OsRng, RngCore};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::signed_op::{address_of, token_id_of, GrantWire, RegistryChange, SignedChange};
use crate::{
    signer_address, two_thirds_threshold, validate_scopes, KickTally, KickVote, Permission,
    PkpKeyType, PkpRecord, RegisteredNode, RegisteredNodeSet, Registry, RegistryError, SigningKey,
    BURNED_OWNER,
};

/// A registry in one SQLite file (WAL mode), shareable by several processes.
///
/// Tables: `pkps` (one row per PKP; a burned PKP's owner is the zero
/// address), `permissions` (one row per permitted auth method of a PKP,
/// keyed by `keccak256(abi.encode(type, id))`, its scopes as a bit set),
/// `nodes` and `meta` (the node set, its threshold and administrator),
/// `applied_changes` (the nonces of signed changes applied through a node,
/// so that each is applied at most once).
/// Permissions list in the order first granted: the order of their rowids
/// (an upsert keeps the row, a new grant gets a rowid above every live one).
pub struct SqliteRegistry {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS pkps (
        token_id   TEXT PRIMARY KEY,
        key_id     TEXT NOT NULL UNIQUE,
        public_key TEXT NOT NULL UNIQUE,
        owner      TEXT NOT NULL,
        created_at INTEGER NOT NULL DEFAULT (unixepoch()),
        key_type   INTEGER NOT NULL DEFAULT 2
    );
    CREATE INDEX IF NOT EXISTS pkps_owner ON pkps(owner);
    CREATE TABLE IF NOT EXISTS permissions (
        token_id         TEXT NOT NULL REFERENCES pkps(token_id),
        auth_method_id   BLOB NOT NULL CHECK (length(auth_method_id) = 32),
        auth_method_type INTEGER NOT NULL CHECK (auth_method_type > 0),
        id               BLOB NOT NULL,
        user_pubkey      BLOB NOT NULL,
        scopes           INTEGER NOT NULL,
        PRIMARY KEY (token_id, auth_method_id)
    );
    CREATE TABLE IF NOT EXISTS nodes (
        idx            INTEGER PRIMARY KEY,
        url            TEXT NOT NULL UNIQUE,
        identity_key   BLOB NOT NULL UNIQUE CHECK (length(identity_key) = 32),
        encryption_key BLOB NOT NULL CHECK (length(encryption_key) = 32),
        wallet_address BLOB CHECK (wallet_address IS NULL OR length(wallet_address) = 20)
    );
    CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS kick_votes (
        epoch  INTEGER NOT NULL,
        voter  INTEGER NOT NULL,
        target INTEGER NOT NULL,
        at     INTEGER NOT NULL DEFAULT (unixepoch()),
        PRIMARY KEY (epoch, voter, target)
    );
    CREATE TABLE IF NOT EXISTS applied_changes (
        nonce         TEXT PRIMARY KEY,
        signer        TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL
    );";

impl SqliteRegistry {
    /// Open (and create if needed) the registry file.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        migrate_key_types(&conn)?;
        migrate_node_wallets(&conn)?;
        migrate_token_ids(&conn)?;
        Ok(SqliteRegistry {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn query_one(&self, column: &str, value: &str) -> Result<Option<PkpRecord>, RegistryError> {
        let conn = self.lock();
        let sql = format!(
            "SELECT token_id, key_id, public_key, owner, key_type FROM pkps WHERE {column} = ?1"
        );
        let row = conn
            .prepare_cached(&sql)?
            .query_row(params![value], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .optional()?;
        row.map(decode).transpose()
    }

    /// Run `change` in an immediate transaction after checking that the PKP
    /// exists, is not burned and is owned by `owner`'s address.
    fn mutate_owned<T>(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        change: impl FnOnce(&Transaction<'_>) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        check_owner_in(&tx, signer_address(owner), token_id)?;
        let out = change(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Apply a change its owner signed for this network (root key `root`),
    /// at most once (its nonce is recorded in the same transaction); the
    /// minted record for a mint.
    pub fn apply_signed(
        &self,
        signed: &SignedChange,
        root: &AffinePoint,
        now_ms: u64,
    ) -> Result<Option<PkpRecord>, RegistryError> {
        let signer = signed.verify(&derive::public_key_hex(root), now_ms)?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let fresh = tx.execute(
            "INSERT INTO applied_changes (nonce, signer, expires_at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (nonce) DO NOTHING",
            params![
                signed.nonce.to_lowercase(),
                hex::encode(signer),
                signed.expires_at_ms as i64
            ],
        )?;
        if fresh == 0 {
            return Err(RegistryError::Invalid(
                "registry change refused: this change (its nonce) was already applied".into(),
            ));
        }
        let out = match &signed.change {
            RegistryChange::Mint {
                grants,
                burn,
                key_type,
            } => {
                let grants = grants
                    .iter()
                    .map(GrantWire::to_permission)
                    .collect::<Result<Vec<_>, _>>()?;
                let key_type = match key_type {
                    Some(k) => k.parse::<PkpKeyType>()?,
                    None => PkpKeyType::K256,
                };
                Some(mint_in(&tx, signer, root, key_type, &grants, *burn)?)
            }
            RegistryChange::Grant { token_id, grant } => {
                let id = token_id_of(token_id)?;
                let grant = grant.to_permission()?;
                type_to_sql(grant.method.auth_method_type)?;
                check_owner_in(&tx, signer, &id)?;
                grant_in(&tx, &id, &grant)?;
                None
            }
            RegistryChange::Revoke {
                token_id,
                auth_method_type,
                id,
            } => {
                let token = token_id_of(token_id)?;
                let id = hex::decode(id.trim_start_matches("0x"))
                    .map_err(|_| RegistryError::Invalid("auth method id is not hex".into()))?;
                crate::validate_auth_method(*auth_method_type, &id)?;
                check_owner_in(&tx, signer, &token)?;
                revoke_in(&tx, &token, *auth_method_type, &id)?;
                None
            }
            RegistryChange::Transfer { token_id, to } => {
                let token = token_id_of(token_id)?;
                let to = address_of(to)?;
                refuse_zero_transfer(to)?;
                check_owner_in(&tx, signer, &token)?;
                set_owner_in(&tx, &token, to)?;
                None
            }
            RegistryChange::Burn { token_id } => {
                let token = token_id_of(token_id)?;
                check_owner_in(&tx, signer, &token)?;
                set_owner_in(&tx, &token, BURNED_OWNER)?;
                None
            }
        };
        // forget nonces that can no longer be replayed (expired)
        tx.execute(
            "DELETE FROM applied_changes WHERE expires_at_ms < ?1",
            params![now_ms as i64],
        )?;
        tx.commit()?;
        Ok(out)
    }
}

/// Registries made before PKPs had key types have no `key_type` column:
/// add it, every existing PKP being a `K256` one (2), as they were.
fn migrate_key_types(conn: &Connection) -> Result<(), RegistryError> {
    let has: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('pkps') WHERE name = 'key_type'")?
        .exists([])?;
    if !has {
        conn.execute_batch("ALTER TABLE pkps ADD COLUMN key_type INTEGER NOT NULL DEFAULT 2")?;
    }
    Ok(())
}

/// Registries made before nodes had wallets have no `wallet_address`
/// column: add it, empty (such nodes' claim signatures count only once the
/// node set is registered again).
fn migrate_node_wallets(conn: &Connection) -> Result<(), RegistryError> {
    let has: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('nodes') WHERE name = 'wallet_address'")?
        .exists([])?;
    if !has {
        conn.execute_batch("ALTER TABLE nodes ADD COLUMN wallet_address BLOB")?;
    }
    Ok(())
}

/// The token id formula a registry's rows follow (`meta.token_id_formula`).
const TOKEN_ID_FORMULA: &str = "keccak256-65";

/// Registries made before token ids followed Lit's formula (keccak256 of
/// the 65-byte key, 0x04 included) hashed the 64 bytes: recompute every
/// PKP's token id (and its permissions' references) from its public key in
/// one transaction, once, and record the formula.
fn migrate_token_ids(conn: &Connection) -> Result<(), RegistryError> {
    let formula: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'token_id_formula'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if formula.as_deref() == Some(TOKEN_ID_FORMULA) {
        return Ok(());
    }
    // permissions reference pkps(token_id): check the references at commit
    conn.execute_batch("BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON;")?;
    let result = (|| -> Result<usize, RegistryError> {
        let rows: Vec<(String, String)> = conn
            .prepare("SELECT token_id, public_key FROM pkps")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut changed = 0;
        for (old_id, pk_hex_text) in rows {
            let pk = derive::parse_public_key(&pk_hex_text)
                .map_err(|e| RegistryError::Encoding(format!("stored public key: {e}")))?;
            let new_id = hex::encode(derive::token_id(&pk));
            if new_id != old_id {
                conn.execute(
                    "UPDATE pkps SET token_id = ?1 WHERE token_id = ?2",
                    params![new_id, old_id],
                )?;
                conn.execute(
                    "UPDATE permissions SET token_id = ?1 WHERE token_id = ?2",
                    params![new_id, old_id],
                )?;
                changed += 1;
            }
        }
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('token_id_formula', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![TOKEN_ID_FORMULA],
        )?;
        Ok(changed)
    })();
    match result {
        Ok(_) => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Refuse unless the PKP exists, is not burned and `signer` owns it.
fn check_owner_in(
    tx: &Transaction<'_>,
    signer: [u8; 20],
    token_id: &[u8; 32],
) -> Result<(), RegistryError> {
    let hex_id = || format!("0x{}", hex::encode(token_id));
    match owner_in(tx, token_id)? {
        None => Err(RegistryError::UnknownPkp(hex_id())),
        Some(o) if o == BURNED_OWNER => Err(RegistryError::Burned(hex_id())),
        Some(o) if o != signer => Err(RegistryError::NotOwner {
            token_id: hex_id(),
            owner: derive::checksum_address(&o),
            signer: derive::checksum_address(&signer),
        }),
        Some(_) => Ok(()),
    }
}

/// Mint a PKP for `owner` with `grants`, optionally burned, inside `tx`.
fn mint_in(
    tx: &Transaction<'_>,
    owner: [u8; 20],
    root: &AffinePoint,
    key_type: PkpKeyType,
    grants: &[Permission],
    burn: bool,
) -> Result<PkpRecord, RegistryError> {
    validate_grants(grants)?;
    let rec = new_record(owner, root, key_type)?;
    record_mint(tx, rec, grants, burn)
}

/// Refuse any malformed grant of a mint before anything is written.
fn validate_grants(grants: &[Permission]) -> Result<(), RegistryError> {
    for g in grants {
        validate(g)?;
        type_to_sql(g.method.auth_method_type)?;
    }
    Ok(())
}

/// Write the new PKP `rec` (owned by `rec.owner`) with its `grants`, then
/// burn it when `burn` is set, inside `tx`.
fn record_mint(
    tx: &Transaction<'_>,
    mut rec: PkpRecord,
    grants: &[Permission],
    burn: bool,
) -> Result<PkpRecord, RegistryError> {
    insert_pkp(tx, &rec, &rec.owner, rec.key_type)?;
    for g in grants {
        grant_in(tx, &rec.token_id, g)?;
    }
    if burn {
        set_owner_in(tx, &rec.token_id, BURNED_OWNER)?;
        rec.owner = BURNED_OWNER;
    }
    Ok(rec)
}

fn revoke_in(
    tx: &Transaction<'_>,
    token_id: &[u8; 32],
    auth_method_type: u64,
    id: &[u8],
) -> Result<(), RegistryError> {
    let hash = crate::auth_method_id(auth_method_type, id);
    tx.execute(
        "DELETE FROM permissions WHERE token_id = ?1 AND auth_method_id = ?2",
        params![hex::encode(token_id), hash.as_slice()],
    )?;
    Ok(())
}

fn refuse_zero_transfer(to: [u8; 20]) -> Result<(), RegistryError> {
    if to == BURNED_OWNER {
        return Err(RegistryError::Invalid(
            "cannot transfer a PKP to the zero address (burn it instead)".into(),
        ));
    }
    Ok(())
}

fn decode_fixed<const N: usize>(s: &str) -> Result<[u8; N], RegistryError> {
    let v = hex::decode(s).map_err(|e| RegistryError::Encoding(e.to_string()))?;
    v.try_into()
        .map_err(|_| RegistryError::Encoding(format!("expected {N} bytes")))
}

fn decode(row: (String, String, String, String, i64)) -> Result<PkpRecord, RegistryError> {
    let (token_id, key_id, public_key, owner, key_type) = row;
    Ok(PkpRecord {
        token_id: decode_fixed(&token_id)?,
        key_id: decode_fixed(&key_id)?,
        public_key: derive::parse_public_key(&public_key)
            .map_err(|e| RegistryError::Encoding(e.to_string()))?,
        owner: decode_fixed(&owner)?,
        key_type: PkpKeyType::from_number(u64::try_from(key_type).unwrap_or(0))?,
    })
}

fn pk_hex(pk: &AffinePoint) -> String {
    hex::encode(derive::point_to_bytes(pk, false))
}

fn new_record(
    owner: [u8; 20],
    root: &AffinePoint,
    key_type: PkpKeyType,
) -> Result<PkpRecord, RegistryError> {
    let mut key_id = [0u8; 32];
    OsRng.fill_bytes(&mut key_id);
    let public_key = derive::derive_public_key(root, &key_id)
        .map_err(|e| RegistryError::Encoding(e.to_string()))?;
    Ok(PkpRecord {
        token_id: derive::token_id(&public_key),
        key_id,
        public_key,
        owner,
        key_type,
    })
}

/// The owner of a PKP inside a transaction (None: unknown PKP).
fn owner_in(conn: &Connection, token_id: &[u8; 32]) -> Result<Option<[u8; 20]>, RegistryError> {
    let owner: Option<String> = conn
        .prepare_cached("SELECT owner FROM pkps WHERE token_id = ?1")?
        .query_row(params![hex::encode(token_id)], |r| r.get(0))
        .optional()?;
    owner.map(|o| decode_fixed(&o)).transpose()
}

/// Scope ids as a bit set (every id is below `MAX_SCOPE_ID` = 16).
fn scope_bits(scopes: &BTreeSet<u64>) -> i64 {
    scopes.iter().fold(0i64, |bits, s| bits | (1i64 << s))
}

fn scope_set(bits: i64) -> BTreeSet<u64> {
    (0..crate::MAX_SCOPE_ID)
        .filter(|s| bits & (1i64 << s) != 0)
        .collect()
}

/// Refuse a malformed grant before anything is written.
fn validate(grant: &Permission) -> Result<(), RegistryError> {
    grant.method.validate()?;
    validate_scopes(&grant.scopes)
}

/// Permit the auth method (union with the scopes it already has).
fn grant_in(
    conn: &Connection,
    token_id: &[u8; 32],
    grant: &Permission,
) -> Result<(), RegistryError> {
    let m = &grant.method;
    conn.prepare_cached(
        "INSERT INTO permissions
            (token_id, auth_method_id, auth_method_type, id, user_pubkey, scopes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (token_id, auth_method_id) DO UPDATE
            SET scopes = scopes | excluded.scopes, user_pubkey = excluded.user_pubkey",
    )?
    .execute(params![
        hex::encode(token_id),
        m.id_hash().as_slice(),
        m.auth_method_type as i64,
        m.id.as_slice(),
        m.user_pubkey.as_slice(),
        scope_bits(&grant.scopes),
    ])?;
    Ok(())
}

fn set_owner_in(
    conn: &Connection,
    token_id: &[u8; 32],
    owner: [u8; 20],
) -> Result<(), RegistryError> {
    conn.execute(
        "UPDATE pkps SET owner = ?1 WHERE token_id = ?2",
        params![hex::encode(owner), hex::encode(token_id)],
    )?;
    Ok(())
}

fn type_to_sql(auth_method_type: u64) -> Result<i64, RegistryError> {
    i64::try_from(auth_method_type).map_err(|_| {
        RegistryError::Invalid(format!("auth method type {auth_method_type} is too large"))
    })
}

impl Registry for SqliteRegistry {
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
        let mut stmt = conn.prepare_cached(
            "SELECT token_id, key_id, public_key, owner, key_type FROM pkps WHERE owner = ?1 ORDER BY created_at, token_id",
        )?;
        let rows = stmt.query_map(params![hex::encode(owner)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(decode(row?)?);
        }
        Ok(out)
    }

    fn permissions(&self, token_id: &[u8; 32]) -> Result<Vec<Permission>, RegistryError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT auth_method_type, id, user_pubkey, scopes FROM permissions
             WHERE token_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map(params![hex::encode(token_id)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (t, id, user_pubkey, bits) = row?;
            out.push(Permission {
                method: crate::AuthMethod {
                    auth_method_type: t as u64,
                    id,
                    user_pubkey,
                },
                scopes: scope_set(bits),
            });
        }
        Ok(out)
    }

    fn permission(
        &self,
        token_id: &[u8; 32],
        auth_method_type: u64,
        id: &[u8],
    ) -> Result<Option<BTreeSet<u64>>, RegistryError> {
        let bits: Option<i64> = self
            .lock()
            .prepare_cached(
                "SELECT scopes FROM permissions WHERE token_id = ?1 AND auth_method_id = ?2",
            )?
            .query_row(
                params![
                    hex::encode(token_id),
                    crate::auth_method_id(auth_method_type, id).as_slice()
                ],
                |r| r.get(0),
            )
            .optional()?;
        Ok(bits.map(scope_set))
    }

    fn epoch(&self) -> Result<u64, RegistryError> {
        epoch_in(&self.lock())
    }

    fn node_set(&self) -> Result<Option<RegisteredNodeSet>, RegistryError> {
        let conn = self.lock();
        let threshold: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'threshold'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(threshold) = threshold else {
            return Ok(None);
        };
        let threshold = threshold
            .parse()
            .map_err(|e| RegistryError::Encoding(format!("threshold: {e}")))?;
        let mut stmt = conn.prepare(
            "SELECT url, identity_key, encryption_key, wallet_address FROM nodes ORDER BY idx",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
            ))
        })?;
        let mut nodes = Vec::new();
        for row in rows {
            let (url, identity, encryption, wallet) = row?;
            let wallet_address = match wallet {
                None => [0u8; 20],
                Some(w) => <[u8; 20]>::try_from(w).map_err(|_| {
                    RegistryError::Encoding("node wallet address is not 20 bytes".into())
                })?,
            };
            let key = |v: Vec<u8>| {
                <[u8; 32]>::try_from(v)
                    .map_err(|_| RegistryError::Encoding("node key is not 32 bytes".into()))
            };
            nodes.push(RegisteredNode {
                url,
                identity_key: key(identity)?,
                encryption_key: key(encryption)?,
                wallet_address,
            });
        }
        let kicked: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'kicked'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let kicked = match kicked {
            None => BTreeSet::new(),
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| RegistryError::Encoding(format!("kicked members: {e}")))?,
        };
        Ok(Some(RegisteredNodeSet {
            nodes,
            threshold,
            kicked,
        }))
    }

    fn mint_typed(
        &self,
        owner: &SigningKey,
        root: &AffinePoint,
        key_type: PkpKeyType,
        grants: &[Permission],
        burn: bool,
    ) -> Result<PkpRecord, RegistryError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rec = mint_in(&tx, signer_address(owner), root, key_type, grants, burn)?;
        tx.commit()?;
        Ok(rec)
    }

    fn mint_claimed(
        &self,
        owner: &SigningKey,
        root: &AffinePoint,
        claim: &crate::claim::KeyClaim,
        grants: &[Permission],
        burn: bool,
    ) -> Result<PkpRecord, RegistryError> {
        validate_grants(grants)?;
        let rec = claim.record(self.node_set()?, root, signer_address(owner))?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if owner_in(&tx, &rec.token_id)?.is_some() {
            return Err(claim.already_minted(&rec.token_id));
        }
        let rec = record_mint(&tx, rec, grants, burn)?;
        tx.commit()?;
        Ok(rec)
    }

    fn apply_signed(
        &self,
        signed: &SignedChange,
        root: &AffinePoint,
        now_ms: u64,
    ) -> Result<Option<PkpRecord>, RegistryError> {
        SqliteRegistry::apply_signed(self, signed, root, now_ms)
    }

    fn grant(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        grant: &Permission,
    ) -> Result<(), RegistryError> {
        validate(grant)?;
        type_to_sql(grant.method.auth_method_type)?;
        self.mutate_owned(owner, token_id, |tx| grant_in(tx, token_id, grant))
    }

    fn revoke(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        auth_method_type: u64,
        id: &[u8],
    ) -> Result<(), RegistryError> {
        crate::validate_auth_method(auth_method_type, id)?;
        self.mutate_owned(owner, token_id, |tx| {
            revoke_in(tx, token_id, auth_method_type, id)
        })
    }

    fn transfer(
        &self,
        owner: &SigningKey,
        token_id: &[u8; 32],
        to: [u8; 20],
    ) -> Result<(), RegistryError> {
        refuse_zero_transfer(to)?;
        self.mutate_owned(owner, token_id, |tx| set_owner_in(tx, token_id, to))
    }

    fn burn(&self, owner: &SigningKey, token_id: &[u8; 32]) -> Result<(), RegistryError> {
        self.mutate_owned(owner, token_id, |tx| {
            set_owner_in(tx, token_id, BURNED_OWNER)
        })
    }

    fn set_node_set(
        &self,
        admin: &SigningKey,
        set: &RegisteredNodeSet,
    ) -> Result<(), RegistryError> {
        set.validate()?;
        let signer = signer_address(admin);
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = 'admin'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match current {
            Some(a) if a != hex::encode(signer) => {
                return Err(RegistryError::NotAdmin {
                    admin: derive::checksum_address(&decode_fixed(&a)?),
                    signer: derive::checksum_address(&signer),
                })
            }
            Some(_) => {}
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('admin', ?1)",
                    params![hex::encode(signer)],
                )?;
            }
        }
        write_node_set(&tx, set)?;
        tx.commit()?;
        Ok(())
    }

    fn vote_to_kick(&self, voter: &SigningKey, target: u32) -> Result<KickTally, RegistryError> {
        let wallet = signer_address(voter);
        let set = self
            .node_set()?
            .ok_or_else(|| RegistryError::Invalid("the registry has no node set".into()))?;
        let committee = set.committee();
        let voter_index = committee
            .iter()
            .copied()
            .find(|&i| set.nodes[i as usize].wallet_address == wallet)
            .ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "{} is not the wallet of a member of the committee",
                    derive::checksum_address(&wallet)
                ))
            })?;
        if !committee.contains(&target) {
            return Err(RegistryError::Invalid(format!(
                "node {target} is not a member of the committee"
            )));
        }
        if voter_index == target {
            return Err(RegistryError::Invalid(
                "a member cannot vote to kick itself".into(),
            ));
        }
        if committee.len() <= 2 {
            return Err(RegistryError::Invalid(format!(
                "kicking node {target} would leave fewer than two members"
            )));
        }
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let epoch = epoch_in(&tx)?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO kick_votes (epoch, voter, target) VALUES (?1, ?2, ?3)",
            params![epoch as i64, voter_index as i64, target as i64],
        )?;
        if inserted == 0 {
            return Err(RegistryError::Invalid(format!(
                "node {voter_index} already voted against node {target} in this epoch"
            )));
        }
        let votes: i64 = tx.query_row(
            "SELECT COUNT(*) FROM kick_votes WHERE epoch = ?1 AND target = ?2",
            params![epoch as i64, target as i64],
            |r| r.get(0),
        )?;
        let votes = votes as usize;
        let kicked = votes >= set.threshold;
        if kicked {
            let mut next = set.clone();
            next.kicked.insert(target);
            next.threshold = two_thirds_threshold(committee.len() - 1);
            next.validate()?;
            write_node_set(&tx, &next)?;
        }
        tx.commit()?;
        Ok(KickTally {
            votes,
            needed: set.threshold,
            kicked,
        })
    }

    fn kick_votes(&self) -> Result<Vec<KickVote>, RegistryError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT epoch, voter, target FROM kick_votes ORDER BY epoch, target, voter")?;
        let rows = stmt.query_map([], |r| {
            Ok(KickVote {
                epoch: r.get::<_, i64>(0)? as u64,
                voter: r.get::<_, i64>(1)? as u32,
                target: r.get::<_, i64>(2)? as u32,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The current epoch (0 before the first node set).
fn epoch_in(conn: &Connection) -> Result<u64, RegistryError> {
    let epoch: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
            r.get(0)
        })
        .optional()?;
    match epoch {
        None => Ok(0),
        Some(e) => e
            .parse()
            .map_err(|e| RegistryError::Encoding(format!("epoch: {e}"))),
    }
}

/// Replace the node set, its threshold and its kicked members, and start
/// the next epoch.
fn write_node_set(
    tx: &rusqlite::Transaction<'_>,
    set: &RegisteredNodeSet,
) -> Result<(), RegistryError> {
    {
        tx.execute("DELETE FROM nodes", [])?;
        for (i, n) in set.nodes.iter().enumerate() {
            tx.execute(
                "INSERT INTO nodes (idx, url, identity_key, encryption_key, wallet_address)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    i as i64,
                    n.url,
                    n.identity_key.as_slice(),
                    n.encryption_key.as_slice(),
                    (n.wallet_address != [0u8; 20]).then_some(n.wallet_address.as_slice())
                ],
            )?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('threshold', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![set.threshold.to_string()],
        )?;
        let kicked = serde_json::to_string(&set.kicked)
            .map_err(|e| RegistryError::Encoding(format!("kicked members: {e}")))?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('kicked', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![kicked],
        )?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('epoch', '1')
             ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            [],
        )?;
    }
    Ok(())
}

/// Record a new PKP of `key_type` owned by `owner`.
fn insert_pkp(
    tx: &rusqlite::Transaction<'_>,
    rec: &PkpRecord,
    owner: &[u8; 20],
    key_type: PkpKeyType,
) -> Result<(), RegistryError> {
    tx.execute(
        "INSERT INTO pkps (token_id, key_id, public_key, owner, key_type) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            hex::encode(rec.token_id),
            hex::encode(rec.key_id),
            pk_hex(&rec.public_key),
            hex::encode(owner),
            key_type.number() as i64
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    fn open(dir: &tempfile::TempDir) -> SqliteRegistry {
        SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap()
    }

    #[test]
    fn a_registry_with_old_token_ids_is_migrated_to_lits_formula_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = conformance::random_root();
        let owner = conformance::random_key();
        let (rec, cid) = {
            let reg = open(&dir);
            let cid = conformance::CID_A;
            let rec = reg.mint_with_actions(&owner, &root, &[cid], false).unwrap();
            (rec, cid)
        };
        // rewrite the row as an older version stored it: keccak256 of the
        // 64 bytes, no formula recorded
        let pk = derive::point_to_bytes(&rec.public_key, false);
        let old_id = {
            use sha3::Digest;
            hex::encode(sha3::Keccak256::digest(&pk[1..]))
        };
        {
            let conn = Connection::open(dir.path().join("r.sqlite")).unwrap();
            conn.execute_batch("BEGIN; PRAGMA defer_foreign_keys = ON;")
                .unwrap();
            let new_id = hex::encode(rec.token_id);
            conn.execute(
                "UPDATE pkps SET token_id = ?1 WHERE token_id = ?2",
                params![old_id, new_id],
            )
            .unwrap();
            conn.execute(
                "UPDATE permissions SET token_id = ?1 WHERE token_id = ?2",
                params![old_id, new_id],
            )
            .unwrap();
            conn.execute("DELETE FROM meta WHERE key = 'token_id_formula'", [])
                .unwrap();
            conn.execute_batch("COMMIT").unwrap();
        }
        let reg = open(&dir);
        let found = reg.by_public_key(&rec.public_key).unwrap();
        assert_eq!(found.token_id, derive::token_id(&rec.public_key));
        assert!(reg.is_permitted_action(&found.token_id, cid).unwrap());
        // a second open changes nothing
        drop(reg);
        let reg = open(&dir);
        assert_eq!(
            reg.by_public_key(&rec.public_key).unwrap().token_id,
            found.token_id
        );
    }

    #[test]
    fn a_registry_made_before_key_types_gains_the_column_and_its_pkps_stay_k256() {
        let dir = tempfile::tempdir().unwrap();
        let root = conformance::random_root();
        let owner = conformance::random_key();
        let rec = open(&dir).mint(&owner, &root).unwrap();
        // drop the column as an older version's table lacked it
        {
            let conn = Connection::open(dir.path().join("r.sqlite")).unwrap();
            conn.execute_batch("ALTER TABLE pkps DROP COLUMN key_type")
                .unwrap();
            assert!(conn.prepare("SELECT key_type FROM pkps").is_err());
        }
        let reg = open(&dir);
        assert_eq!(reg.by_token_id(&rec.token_id).unwrap(), rec);
        assert_eq!(rec.key_type, PkpKeyType::K256);
        let ed = reg
            .mint_typed(&owner, &root, PkpKeyType::Ed25519, &[], false)
            .unwrap();
        drop(reg);
        // opening again keeps both
        let reg = open(&dir);
        assert_eq!(
            reg.by_token_id(&ed.token_id).unwrap().key_type,
            PkpKeyType::Ed25519
        );
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
    fn sqlite_node_set_round_trips_and_only_its_admin_changes_it() {
        let dir = tempfile::tempdir().unwrap();
        conformance::node_set_roundtrip(
            &open(&dir),
            &conformance::random_key(),
            &conformance::random_key(),
        );
    }

    #[test]
    fn the_threshold_of_members_votes_kicks_a_member_out_leaving_its_index_empty() {
        let dir = tempfile::tempdir().unwrap();
        let wallets: Vec<SigningKey> = (0..5).map(|_| conformance::random_key()).collect();
        conformance::kick_votes(&open(&dir), &conformance::random_key(), &wallets);
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
