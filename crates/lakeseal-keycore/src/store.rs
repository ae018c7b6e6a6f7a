//! The durable store: SQLite in the data directory.
//!
//! Why SQLite: its transactions are atomic and durable across `kill -9` and power loss
//! (`journal_mode=WAL`, `synchronous=FULL`), it is the most tested embedded store there is, and
//! `secure_delete` overwrites deleted rows with zeros — which crypto-erasure needs: destroying a
//! key must not leave its sealed material in a free page of the file. After a destruction the
//! write-ahead log is checkpointed and truncated, so no old page survives there either.
//!
//! Key material is stored only sealed under the root key (see [`crate::root`]). Metadata is JSON
//! in one column: it is read once at start and written per control-plane change.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::clock::Millis;
use crate::iam::{AccessKeyRecord, Role, User, WorkloadIdentity};
use crate::model::{AliasRecord, KeyRecord};
use crate::secrets::{Sealed, SecretRecord};
use crate::{Error, Result};

/// A key's record with the sealed material of each of its versions.
pub(crate) type StoredKey = (KeyRecord, Vec<(u32, Vec<u8>)>);

/// Everything the store holds, as loaded at start.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) keys: Vec<StoredKey>,
    /// Keys whose stored record cannot be read, with why: refused alone, the others still work.
    pub(crate) unreadable_keys: Vec<(String, String)>,
    pub(crate) aliases: Vec<AliasRecord>,
    pub(crate) deleted: Vec<String>,
    pub(crate) users: Vec<User>,
    pub(crate) roles: Vec<Role>,
    pub(crate) access_keys: Vec<AccessKeyRecord>,
    pub(crate) workloads: Vec<WorkloadIdentity>,
    /// Secrets with the sealed value of each version.
    pub(crate) secrets: Vec<(SecretRecord, BTreeMap<String, Sealed>)>,
}

#[derive(Debug)]
pub(crate) struct Store {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (key_id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS key_versions (
    key_id TEXT NOT NULL REFERENCES keys(key_id),
    version INTEGER NOT NULL,
    sealed_material BLOB NOT NULL,
    PRIMARY KEY (key_id, version)
);
CREATE TABLE IF NOT EXISTS aliases (name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deleted_keys (key_id TEXT PRIMARY KEY, deleted_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS iam_users (arn TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS iam_roles (arn TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS access_keys (access_key_id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (arn TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workload_identities (arn TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS secret_values (
    arn TEXT NOT NULL REFERENCES secrets(arn),
    version_id TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (arn, version_id)
);
";

impl Store {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    pub(crate) fn meta(&self, name: &str) -> Result<Option<String>> {
        meta(&self.conn, name)
    }

    pub(crate) fn set_meta(&mut self, pairs: &[(&str, &str)]) -> Result<()> {
        set_meta(&self.conn, pairs)
    }

    pub(crate) fn load(&self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        let mut versions = self.conn.prepare(
            "SELECT version, sealed_material FROM key_versions WHERE key_id = ?1 ORDER BY version",
        )?;
        for (key_id, record) in self.rows("SELECT key_id, record FROM keys ORDER BY key_id")? {
            let record: KeyRecord = match decode("keys", &key_id, &record) {
                Ok(record) => record,
                Err(e) => {
                    snapshot.unreadable_keys.push((key_id, e.to_string()));
                    continue;
                }
            };
            let sealed = versions
                .query_map([&record.key_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<(u32, Vec<u8>)>>>()?;
            snapshot.keys.push((record, sealed));
        }
        for (name, record) in self.rows("SELECT name, record FROM aliases ORDER BY name")? {
            snapshot.aliases.push(decode("aliases", &name, &record)?);
        }
        let mut deleted = self.conn.prepare("SELECT key_id FROM deleted_keys")?;
        snapshot.deleted = deleted
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for (arn, record) in self.rows("SELECT arn, record FROM iam_users ORDER BY arn")? {
            snapshot.users.push(decode("iam_users", &arn, &record)?);
        }
        for (arn, record) in self.rows("SELECT arn, record FROM iam_roles ORDER BY arn")? {
            snapshot.roles.push(decode("iam_roles", &arn, &record)?);
        }
        for (id, record) in self.rows("SELECT access_key_id, record FROM access_keys")? {
            snapshot
                .access_keys
                .push(decode("access_keys", &id, &record)?);
        }
        for (arn, record) in self.rows("SELECT arn, record FROM workload_identities")? {
            snapshot
                .workloads
                .push(decode("workload_identities", &arn, &record)?);
        }
        let mut values = self.conn.prepare(
            "SELECT version_id, wrapped_key, ciphertext FROM secret_values WHERE arn = ?1",
        )?;
        for (arn, record) in self.rows("SELECT arn, record FROM secrets ORDER BY arn")? {
            let record: SecretRecord = decode("secrets", &arn, &record)?;
            let sealed = values
                .query_map([&arn], |r| {
                    Ok((
                        r.get(0)?,
                        Sealed {
                            wrapped_key: r.get(1)?,
                            ciphertext: r.get(2)?,
                        },
                    ))
                })?
                .collect::<rusqlite::Result<BTreeMap<String, Sealed>>>()?;
            snapshot.secrets.push((record, sealed));
        }
        Ok(snapshot)
    }

    /// The (row key, JSON record) pairs a `SELECT <key>, record …` returns.
    fn rows(&self, sql: &str) -> Result<Vec<(String, String)>> {
        let mut statement = self.conn.prepare(sql)?;
        let rows = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Writes a key's record, and with it a new version's sealed material when given, in one
    /// transaction.
    pub(crate) fn put_key(
        &mut self,
        record: &KeyRecord,
        new_version: Option<(u32, &[u8])>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO keys (key_id, record) VALUES (?1, ?2)",
            params![record.key_id, encode(record)?],
        )?;
        if let Some((version, sealed)) = new_version {
            tx.execute(
                "INSERT INTO key_versions (key_id, version, sealed_material) VALUES (?1, ?2, ?3)",
                params![record.key_id, version, sealed],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn put_user(&mut self, user: &User) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO iam_users (arn, record) VALUES (?1, ?2)",
            params![user.arn, encode(user)?],
        )?;
        Ok(())
    }

    pub(crate) fn delete_user(&mut self, arn: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM iam_users WHERE arn = ?1", [arn])?;
        Ok(())
    }

    pub(crate) fn delete_role(&mut self, arn: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM iam_roles WHERE arn = ?1", [arn])?;
        Ok(())
    }

    pub(crate) fn put_role(&mut self, role: &Role) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO iam_roles (arn, record) VALUES (?1, ?2)",
            params![role.arn, encode(role)?],
        )?;
        Ok(())
    }

    pub(crate) fn put_access_key(&mut self, key: &AccessKeyRecord) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO access_keys (access_key_id, record) VALUES (?1, ?2)",
            params![key.access_key_id, encode(key)?],
        )?;
        Ok(())
    }

    pub(crate) fn delete_access_key(&mut self, access_key_id: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM access_keys WHERE access_key_id = ?1",
            [access_key_id],
        )?;
        Ok(())
    }

    pub(crate) fn put_workload(&mut self, workload: &WorkloadIdentity) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO workload_identities (arn, record) VALUES (?1, ?2)",
            params![workload.arn, encode(workload)?],
        )?;
        Ok(())
    }

    pub(crate) fn delete_workload(&mut self, arn: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM workload_identities WHERE arn = ?1", [arn])?;
        Ok(())
    }

    pub(crate) fn put_alias(&mut self, alias: &AliasRecord) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO aliases (name, record) VALUES (?1, ?2)",
            params![alias.name, encode(alias)?],
        )?;
        Ok(())
    }

    /// The key an alias names, read without loading the whole store.
    pub(crate) fn alias_target(&self, name: &str) -> Result<Option<String>> {
        let record: Option<String> = self
            .conn
            .query_row("SELECT record FROM aliases WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        record
            .map(|r| decode::<AliasRecord>("aliases", name, &r).map(|a| a.target_key_id))
            .transpose()
    }

    pub(crate) fn delete_alias(&mut self, name: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM aliases WHERE name = ?1", [name])?;
        Ok(())
    }

    /// Writes a secret's record, a new version's sealed value when given, and removes the
    /// values of pruned versions, in one transaction.
    pub(crate) fn put_secret(
        &mut self,
        record: &SecretRecord,
        new_value: Option<(&str, &Sealed)>,
        pruned: &[String],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO secrets (arn, record) VALUES (?1, ?2)",
            params![record.arn, encode(record)?],
        )?;
        if let Some((version_id, sealed)) = new_value {
            tx.execute(
                "INSERT INTO secret_values (arn, version_id, wrapped_key, ciphertext) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    record.arn,
                    version_id,
                    sealed.wrapped_key,
                    sealed.ciphertext
                ],
            )?;
        }
        for version_id in pruned {
            tx.execute(
                "DELETE FROM secret_values WHERE arn = ?1 AND version_id = ?2",
                params![record.arn, version_id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a secret and every sealed value, and purges the write-ahead log, as for a key.
    pub(crate) fn delete_secret(&mut self, arn: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM secret_values WHERE arn = ?1", [arn])?;
        tx.execute("DELETE FROM secrets WHERE arn = ?1", [arn])?;
        tx.commit()?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Deletes a key's imported material (all its versions' sealed rows) and writes its new
    /// record, in one transaction; then empties the WAL, as [`Store::destroy_key`] does, so no
    /// earlier image of the rows is left in it.
    pub(crate) fn remove_material(&mut self, record: &KeyRecord) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM key_versions WHERE key_id = ?1",
            [&record.key_id],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO keys (key_id, record) VALUES (?1, ?2)",
            params![record.key_id, encode(record)?],
        )?;
        tx.commit()?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Crypto-erasure: removes every version's sealed material, the key and its aliases, leaves
    /// a tombstone, and purges the write-ahead log.
    pub(crate) fn destroy_key(
        &mut self,
        key_id: &str,
        aliases: &[String],
        at: Millis,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM key_versions WHERE key_id = ?1", [key_id])?;
        tx.execute("DELETE FROM keys WHERE key_id = ?1", [key_id])?;
        for alias in aliases {
            tx.execute("DELETE FROM aliases WHERE name = ?1", [alias])?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO deleted_keys (key_id, deleted_at) VALUES (?1, ?2)",
            params![key_id, at],
        )?;
        tx.commit()?;
        // Copy the zeroed pages into the main file and empty the WAL, so that no earlier image
        // of the deleted pages is left in it.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("encoding a record: {e}")))
}

/// Sets values of the `meta` table, all or none.
pub(crate) fn set_meta(conn: &Connection, pairs: &[(&str, &str)]) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    for (name, value) in pairs {
        tx.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
            params![name, value],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// A value of the `meta` table.
pub(crate) fn meta(conn: &Connection, name: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?)
}

/// A stored JSON record; a corrupt one is named by its table and row.
fn decode<T: serde::de::DeserializeOwned>(table: &str, row: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        Error::Internal(format!(
            "the stored record {row:?} in table {table} is corrupt: {e}"
        ))
    })
}
