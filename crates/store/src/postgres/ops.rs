//! [`Store`] on PostgreSQL. Each operation takes a pooled connection, runs
//! its statements (several of them in one transaction), and gives the
//! connection back through [`release`], which retires it after a backend
//! error.

use super::sql::*;
use super::{backend_in, release, PostgresStore};
use crate::read_cache::{Answer, Query};
use crate::{
    After, AccessKeyRecord, AliasRecord, CustomKeyStoreRecord, EntityKind, EntityRecord, GrantRecord, KeyLocation, KeyRecord, KeyStoreConflict, KeyUsageRecord, MaterialRecord,
    Millis, PrincipalRecord, SealedColumn, SealedValue, Store, StoreError, StoredMaterial,
};

/// A key's row. A `custom_key_store_id` naming no key store fails the
/// reference: `NotFound`, as the contract says.
macro_rules! key_insert {
    () => {
        "INSERT INTO keys (key_id, account_id, region, state, deletion_date, next_rotation_at, material_valid_to, doc, custom_key_store_id, xks_key_id, row_version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1)"
    };
}
const KEY_INSERT: &str = key_insert!();

// A new key's rows as one statement (data-modifying WITH), so one round
// trip instead of BEGIN, an INSERT each and COMMIT: a statement of its own
// is a transaction of its own, committed, all or nothing, before its
// answer comes back. The key is `$1..$10`, its material `$11..$14`.
macro_rules! material_insert {
    () => {
        "INSERT INTO key_materials (key_id, material_id, stored, created_at) "
    };
}
const KEY_WITH_MATERIAL: &str = concat!("WITH k AS (", key_insert!(), ") ", material_insert!(), "VALUES ($11, $12, $13, $14)");
/// And an alias, `$15..$20` (its reference to the key is checked at the
/// statement's end, when the key's row is there).
const KEY_WITH_MATERIAL_AND_ALIAS: &str = concat!(
    "WITH k AS (",
    key_insert!(),
    "), m AS (",
    material_insert!(),
    "VALUES ($11, $12, $13, $14)) INSERT INTO aliases (account_id, region, alias_name, target_key_id, created_at, updated_at) VALUES ($15, $16, $17, $18, $19, $20)"
);
/// A fresh key (see [`Store::insert_fresh_key`]): the transaction first
/// marks the change as noted, so the counter trigger (migration 12), which
/// runs at the commit, does not move the counter.
const FRESH_KEY_WITH_MATERIAL: &str = concat!(
    "WITH noted AS (SELECT set_config('trent.change_noted', 'yes', true)), k AS (",
    key_insert!(),
    ") ",
    material_insert!(),
    "SELECT $11::TEXT, $12::TEXT, $13::BYTEA, $14::BIGINT FROM noted"
);

/// The advisory lock nodes take to create the first admin ("trent_bs").
const BOOTSTRAP_LOCK: i64 = 0x7472_656e_745f_6273;

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn insert_key(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<(), StoreError> {
        self.insert_key_and(key, material, None, false).await
    }

    async fn insert_fresh_key(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<(), StoreError> {
        self.insert_key_and(key, material, None, true).await
    }

    async fn insert_key_with_alias(&self, key: &KeyRecord, material: &MaterialRecord, alias: &AliasRecord) -> Result<(), StoreError> {
        self.insert_key_and(key, material, Some(alias), false).await
    }

    async fn get_key(&self, key_id: &str, region: &str) -> Result<Option<KeyRecord>, StoreError> {
        // As on SQLite: a miss reads the key's current material with it, in
        // the same statement (one round trip, not two), and the cache keeps
        // both for the lookup that follows.
        let load = async {
            let c = self.reader().await?;
            let result = async {
                let sql = "SELECT k.doc, k.row_version, m.stored, m.created_at FROM keys k \
                           LEFT JOIN key_materials m ON m.key_id = k.key_id AND m.material_id = (k.doc::json ->> 'current_material_id') \
                           WHERE k.key_id = $1 AND k.region = $2";
                let Some(row) = query_opt(&*c, sql, &[&key_id, &region]).await? else { return Ok((None, None)) };
                let key = key_from_row(&row)?;
                let also = if key.current_material_id.is_empty() {
                    None
                } else {
                    let (stored, created_at): (Option<Vec<u8>>, Option<i64>) = (get(&row, 2)?, get(&row, 3)?);
                    let material = stored.zip(created_at).map(|(stored, created_at)| MaterialRecord {
                        key_id: key.key_id.clone(),
                        material_id: key.current_material_id.clone(),
                        stored,
                        created_at,
                    });
                    Some((Query::Material(key.key_id.clone(), key.current_material_id.clone()), Answer::Material(material)))
                };
                Ok((Some(key), also))
            }
            .await;
            release(c, result)
        };
        self.cached_and_keep_also(Query::Key(key_id.to_owned(), region.to_owned()), load).await
    }

    async fn key_members(&self, key_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let c = self.reader().await?;
        let result = members(&*c, key_id).await;
        release(c, result)
    }

    async fn update_key(&self, key: &KeyRecord) -> Result<i64, StoreError> {
        let doc = key_doc(key)?;
        let mut c = self.client().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            let row_version = save_key(&tx, key, &doc).await?;
            commit(tx).await?;
            Ok(row_version)
        }
        .await;
        release(c, result)
    }

    async fn update_keys(&self, keys: &[KeyRecord]) -> Result<(), StoreError> {
        let docs = keys.iter().map(key_doc).collect::<Result<Vec<_>, StoreError>>()?;
        let mut c = self.client().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            // The members of a set, locked in the one order first (see lock_members).
            if let Some(first) = keys.first().filter(|k| k.multi_region) {
                lock_members(&tx, &first.key_id).await?;
            }
            for (key, doc) in keys.iter().zip(&docs) {
                save_key(&tx, key, doc).await?;
            }
            commit(tx).await
        }
        .await;
        release(c, result)
    }

    async fn insert_replica(&self, primary: &KeyRecord, replica: &KeyRecord) -> Result<(), StoreError> {
        let (doc, state) = (key_doc(replica)?, replica.state.as_str());
        let mut c = self.client().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            // The primary's row stays locked until the commit: a second
            // replication (or a change of the primary) waits, then finds
            // the version moved on. The replica's primary key refuses a
            // second member in one Region whichever way the race goes.
            let bumped = execute(
                &tx,
                "UPDATE keys SET row_version = row_version + 1 WHERE key_id = $1 AND region = $2 AND row_version = $3",
                &[&primary.key_id, &primary.region, &primary.row_version],
            )
            .await?;
            if bumped != 1 {
                let exists = query_opt(&tx, "SELECT 1 FROM keys WHERE key_id = $1 AND region = $2", &[&primary.key_id, &primary.region]).await?;
                return Err(if exists.is_some() { StoreError::Conflict } else { StoreError::NotFound });
            }
            let r = replica;
            execute(
                &tx,
                KEY_INSERT,
                &[&r.key_id, &r.account_id, &r.region, &state, &r.deletion_date, &r.rotation_due(), &r.next_material_expiry(), &doc, &r.custom_key_store_id, &r.xks_key_id],
            )
            .await?;
            commit(tx).await
        }
        .await;
        release(c, result)
    }

    async fn rotate_key(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<i64, StoreError> {
        self.save_key_with_material(key, material, StoredMaterial::MustBeNew).await
    }

    async fn save_imported_material(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<i64, StoreError> {
        self.save_key_with_material(key, material, StoredMaterial::KeepStored).await
    }

    async fn insert_key_without_material(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let (doc, state) = (key_doc(key)?, key.state.as_str());
        let c = self.client().await?;
        let result = execute(
            &*c,
            KEY_INSERT,
            &[&key.key_id, &key.account_id, &key.region, &state, &key.deletion_date, &key.rotation_due(), &key.next_material_expiry(), &doc, &key.custom_key_store_id, &key.xks_key_id],
        )
        .await
        .map(|_| ());
        release(c, result)
    }

    async fn remove_key_material(&self, key: &KeyRecord, material_ids: &[String]) -> Result<i64, StoreError> {
        let doc = key_doc(key)?;
        let mut c = self.client().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            // Locked before the write: no member's import can commit between
            // the look at what the set still uses and the delete.
            lock_members(&tx, &key.key_id).await?;
            let row_version = save_key(&tx, key, &doc).await?;
            let in_use = KeyRecord::materials_in_use(&members(&tx, &key.key_id).await?);
            let gone: Vec<String> = material_ids.iter().filter(|id| !in_use.contains(*id)).cloned().collect();
            execute(&tx, "DELETE FROM key_materials WHERE key_id = $1 AND material_id = ANY($2)", &[&key.key_id, &gone]).await?;
            commit(tx).await?;
            Ok(row_version)
        }
        .await;
        release(c, result)
    }

    async fn keys_with_expired_material(&self, now: Millis) -> Result<Vec<KeyLocation>, StoreError> {
        let c = self.reader().await?;
        let result = locations(&*c, "SELECT key_id, region FROM keys WHERE material_valid_to <= $1 ORDER BY material_valid_to, key_id, region", now).await;
        release(c, result)
    }

    async fn record_key_usage(&self, uses: &[KeyUsageRecord]) -> Result<(), StoreError> {
        // key_last_usage is no cached answer's (migration 13).
        let mut c = self.quiet_writer().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            for u in uses {
                // Keeps the later of the stored and the new use, only for a key that exists.
                let sql = "INSERT INTO key_last_usage (key_id, region, used_at, operation, request_id, event_id) \
                     SELECT $1, $6, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM keys WHERE key_id = $1 AND region = $6) \
                     ON CONFLICT (key_id, region) DO UPDATE SET used_at = excluded.used_at, operation = excluded.operation, request_id = excluded.request_id, event_id = excluded.event_id \
                     WHERE excluded.used_at > key_last_usage.used_at";
                execute(&tx, sql, &[&u.key_id, &u.used_at, &u.operation, &u.request_id, &u.event_id, &u.region]).await?;
            }
            commit(tx).await
        }
        .await;
        release(c, result)
    }

    async fn get_key_usage(&self, key_id: &str, region: &str) -> Result<Option<KeyUsageRecord>, StoreError> {
        let c = self.reader().await?;
        let result = async {
            let sql = "SELECT key_id, region, used_at, operation, request_id, event_id FROM key_last_usage WHERE key_id = $1 AND region = $2";
            let Some(r) = query_opt(&*c, sql, &[&key_id, &region]).await? else { return Ok(None) };
            Ok(Some(KeyUsageRecord { key_id: get(&r, 0)?, region: get(&r, 1)?, used_at: get(&r, 2)?, operation: get(&r, 3)?, request_id: get(&r, 4)?, event_id: get(&r, 5)? }))
        }
        .await;
        release(c, result)
    }

    async fn keys_due_for_rotation(&self, now: Millis) -> Result<Vec<KeyLocation>, StoreError> {
        let c = self.reader().await?;
        let result = locations(&*c, "SELECT key_id, region FROM keys WHERE state = 'Enabled' AND next_rotation_at <= $1 ORDER BY next_rotation_at, key_id, region", now).await;
        release(c, result)
    }

    async fn list_keys(&self, account_id: &str, region: &str, after: After<'_>, limit: usize) -> Result<Vec<KeyRecord>, StoreError> {
        let c = self.reader().await?;
        let result = async {
            let sql = "SELECT doc, row_version FROM keys WHERE account_id = $1 AND region = $2 AND key_id > $3 ORDER BY key_id LIMIT $4";
            let rows = query(&*c, sql, &[&account_id, &region, &after.unwrap_or(""), &sql_limit(limit)]).await?;
            rows.iter().map(key_from_row).collect()
        }
        .await;
        release(c, result)
    }

    async fn get_material(&self, key_id: &str, material_id: &str) -> Result<Option<MaterialRecord>, StoreError> {
        let load = async {
            let c = self.reader().await?;
            let result = async {
                let sql = "SELECT key_id, material_id, stored, created_at FROM key_materials WHERE key_id = $1 AND material_id = $2";
                let Some(r) = query_opt(&*c, sql, &[&key_id, &material_id]).await? else { return Ok(None) };
                Ok(Some(MaterialRecord { key_id: get(&r, 0)?, material_id: get(&r, 1)?, stored: get(&r, 2)?, created_at: get(&r, 3)? }))
            }
            .await;
            release(c, result)
        };
        self.cached(Query::Material(key_id.to_owned(), material_id.to_owned()), load).await
    }

    async fn keys_due_for_deletion(&self, now: Millis) -> Result<Vec<KeyLocation>, StoreError> {
        let c = self.reader().await?;
        let result = locations(&*c, "SELECT key_id, region FROM keys WHERE state = 'PendingDeletion' AND deletion_date <= $1 ORDER BY deletion_date, key_id, region", now).await;
        release(c, result)
    }

    async fn delete_key(&self, key_id: &str, region: &str, row_version: i64) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            // FOR UPDATE: without the lock another node could cancel the deletion
            // (bumping row_version) between this check and the deletes below.
            // Every member of the set is locked, in one order (no deadlock
            // between two nodes destroying two members), so whether this is
            // the last one cannot change before the commit.
            let members = query(&tx, "SELECT region, row_version FROM keys WHERE key_id = $1 ORDER BY region FOR UPDATE", &[&key_id]).await?;
            let current = members.iter().find(|r| get::<&str>(r, 0).is_ok_and(|r| r == region));
            match current.map(|r| get::<i64>(r, 1)).transpose()? {
                None => return Err(StoreError::NotFound),
                Some(v) if v != row_version => return Err(StoreError::Conflict),
                Some(_) => {}
            }
            execute(&tx, "DELETE FROM aliases WHERE target_key_id = $1 AND region = $2", &[&key_id, &region]).await?;
            execute(&tx, "DELETE FROM grants WHERE key_id = $1 AND region = $2", &[&key_id, &region]).await?;
            execute(&tx, "DELETE FROM key_last_usage WHERE key_id = $1 AND region = $2", &[&key_id, &region]).await?;
            execute(&tx, "DELETE FROM keys WHERE key_id = $1 AND region = $2", &[&key_id, &region]).await?;
            // The material goes with the set's last member.
            if members.len() == 1 {
                execute(&tx, "DELETE FROM key_materials WHERE key_id = $1", &[&key_id]).await?;
            }
            commit(tx).await
        }
        .await;
        release(c, result)
    }

    async fn insert_alias(&self, a: &AliasRecord) -> Result<(), StoreError> {
        let c = self.client().await?;
        let result = async {
            let sql = format!("INSERT INTO aliases ({ALIAS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
            execute(&*c, &sql, &[&a.account_id, &a.region, &a.alias_name, &a.target_key_id, &a.created_at, &a.updated_at]).await.map(|_| ())
        }
        .await;
        release(c, result)
    }

    async fn get_alias(&self, account_id: &str, region: &str, alias_name: &str) -> Result<Option<AliasRecord>, StoreError> {
        let load = async {
            let c = self.reader().await?;
            let result = async {
                let sql = format!("SELECT {ALIAS_COLUMNS} FROM aliases WHERE account_id = $1 AND region = $2 AND alias_name = $3");
                query_opt(&*c, &sql, &[&account_id, &region, &alias_name]).await?.as_ref().map(alias_from_row).transpose()
            }
            .await;
            release(c, result)
        };
        self.cached(Query::Alias(account_id.to_owned(), region.to_owned(), alias_name.to_owned()), load).await
    }

    async fn update_alias(&self, a: &AliasRecord, expected_target: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        let result = async {
            let sql = "UPDATE aliases SET target_key_id = $1, updated_at = $2 WHERE account_id = $3 AND region = $4 AND alias_name = $5 AND target_key_id = $6";
            match execute(&*c, sql, &[&a.target_key_id, &a.updated_at, &a.account_id, &a.region, &a.alias_name, &expected_target]).await? {
                0 => Err(alias_missing_or_moved(&*c, &a.account_id, &a.region, &a.alias_name).await?),
                _ => Ok(()),
            }
        }
        .await;
        release(c, result)
    }

    async fn delete_alias(&self, account_id: &str, region: &str, alias_name: &str, expected_target: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        let result = async {
            let sql = "DELETE FROM aliases WHERE account_id = $1 AND region = $2 AND alias_name = $3 AND target_key_id = $4";
            match execute(&*c, sql, &[&account_id, &region, &alias_name, &expected_target]).await? {
                0 => Err(alias_missing_or_moved(&*c, account_id, region, alias_name).await?),
                _ => Ok(()),
            }
        }
        .await;
        release(c, result)
    }

    async fn list_aliases(&self, account_id: &str, region: &str, key_id: Option<&str>, after: After<'_>, limit: usize) -> Result<Vec<AliasRecord>, StoreError> {
        let c = self.reader().await?;
        let result = async {
            let sql = format!(
                "SELECT {ALIAS_COLUMNS} FROM aliases WHERE account_id = $1 AND region = $2 AND ($3::text IS NULL OR target_key_id = $3) AND alias_name > $4 ORDER BY alias_name LIMIT $5"
            );
            let rows = query(&*c, &sql, &[&account_id, &region, &key_id, &after.unwrap_or(""), &sql_limit(limit)]).await?;
            rows.iter().map(alias_from_row).collect()
        }
        .await;
        release(c, result)
    }

    async fn insert_principal(&self, p: &PrincipalRecord, k: &AccessKeyRecord) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            insert_principal_rows(&tx, p, k).await?;
            commit(tx).await
        }
        .await;
        release(c, result)
    }

    async fn insert_first_principal(&self, p: &PrincipalRecord, k: &AccessKeyRecord) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            // Nodes starting together on an empty database queue here, so the
            // count below cannot go stale before the insert.
            execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&BOOTSTRAP_LOCK]).await?;
            if count(&tx, "SELECT COUNT(*) FROM principals").await? > 0 {
                return Ok(false);
            }
            insert_principal_rows(&tx, p, k).await?;
            commit(tx).await?;
            Ok(true)
        }
        .await;
        release(c, result)
    }

    async fn get_principal(&self, arn: &str) -> Result<Option<PrincipalRecord>, StoreError> {
        let load = async {
            let c = self.reader().await?;
            let result = async {
                let Some(r) = query_opt(&*c, "SELECT arn, account_id, created_at FROM principals WHERE arn = $1", &[&arn]).await? else { return Ok(None) };
                Ok(Some(PrincipalRecord { arn: get(&r, 0)?, account_id: get(&r, 1)?, created_at: get(&r, 2)? }))
            }
            .await;
            release(c, result)
        };
        self.cached(Query::Principal(arn.to_owned()), load).await
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        let load = async {
            let c = self.reader().await?;
            let result = async {
                let sql = format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = $1");
                query_opt(&*c, &sql, &[&access_key_id]).await?.as_ref().map(access_key_from_row).transpose()
            }
            .await;
            release(c, result)
        };
        self.cached(Query::AccessKey(access_key_id.to_owned()), load).await
    }

    async fn count_principals(&self) -> Result<u64, StoreError> {
        let c = self.reader().await?;
        let result = async { u64::try_from(count(&*c, "SELECT COUNT(*) FROM principals").await?).map_err(|e| backend_in("principal count", e)) }.await;
        release(c, result)
    }

    async fn insert_account(&self, account_id: &str, created_at: Millis) -> Result<(), StoreError> {
        let c = self.client().await?;
        let result = execute(&*c, "INSERT INTO accounts (account_id, created_at) VALUES ($1, $2)", &[&account_id, &created_at]).await.map(|_| ());
        release(c, result)
    }

    async fn insert_entity(&self, e: &EntityRecord, key: Option<&AccessKeyRecord>) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            let (kind, folded) = (e.kind.as_str(), EntityRecord::folded_name(&e.name));
            execute(&tx, "INSERT INTO accounts (account_id, created_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING", &[&e.account_id, &e.created_at]).await?;
            execute(
                &tx,
                "INSERT INTO iam_entities (account_id, kind, folded_name, name, arn, created_at, doc, row_version) VALUES ($1, $2, $3, $4, $5, $6, $7, 1)",
                &[&e.account_id, &kind, &folded, &e.name, &e.arn, &e.created_at, &e.doc],
            )
            .await?;
            if e.kind == EntityKind::User {
                // The bootstrap admin's principal row may already be there.
                let sql = "INSERT INTO principals (arn, account_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (arn) DO NOTHING";
                execute(&tx, sql, &[&e.arn, &e.account_id, &e.created_at]).await?;
            }
            if let Some(k) = key {
                insert_access_key_row(&tx, k).await?;
            }
            commit(tx).await
        }
        .await;
        release(c, result)
    }

    async fn get_entity(&self, account_id: &str, kind: EntityKind, name: &str) -> Result<Option<EntityRecord>, StoreError> {
        let load = async {
            let c = self.reader().await?;
            let result = async {
                let sql = format!("SELECT {ENTITY_COLUMNS} FROM iam_entities WHERE account_id = $1 AND kind = $2 AND folded_name = $3");
                query_opt(&*c, &sql, &[&account_id, &kind.as_str(), &EntityRecord::folded_name(name)]).await?.as_ref().map(entity_from_row).transpose()
            }
            .await;
            release(c, result)
        };
        self.cached(Query::Entity(account_id.to_owned(), kind, name.to_owned()), load).await
    }

    async fn update_entity(&self, e: &EntityRecord) -> Result<i64, StoreError> {
        let c = self.client().await?;
        let result = async {
            let (kind, folded) = (e.kind.as_str(), EntityRecord::folded_name(&e.name));
            let sql = "UPDATE iam_entities SET doc = $1, row_version = row_version + 1 \
                       WHERE account_id = $2 AND kind = $3 AND folded_name = $4 AND row_version = $5 RETURNING row_version";
            if let Some(row) = query_opt(&*c, sql, &[&e.doc, &e.account_id, &kind, &folded, &e.row_version]).await? {
                return get(&row, 0);
            }
            let exists = query_opt(&*c, "SELECT 1 FROM iam_entities WHERE account_id = $1 AND kind = $2 AND folded_name = $3", &[&e.account_id, &kind, &folded]).await?;
            Err(if exists.is_some() { StoreError::Conflict } else { StoreError::NotFound })
        }
        .await;
        release(c, result)
    }

    async fn delete_entity(&self, account_id: &str, kind: EntityKind, name: &str, row_version: i64) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            let sql = "SELECT arn, row_version FROM iam_entities WHERE account_id = $1 AND kind = $2 AND folded_name = $3 FOR UPDATE";
            let current = query_opt(&tx, sql, &[&account_id, &kind.as_str(), &EntityRecord::folded_name(name)]).await?;
            let arn: String = match current {
                None => return Err(StoreError::NotFound),
                Some(r) if get::<i64>(&r, 1)? != row_version => return Err(StoreError::Conflict),
                Some(r) => get(&r, 0)?,
            };
            execute(&tx, "DELETE FROM iam_entities WHERE arn = $1", &[&arn]).await?;
            if kind == EntityKind::User {
                execute(&tx, "DELETE FROM access_keys WHERE principal_arn = $1", &[&arn]).await?;
                execute(&tx, "DELETE FROM principals WHERE arn = $1", &[&arn]).await?;
            }
            commit(tx).await
        }
        .await;
        release(c, result)
    }

    async fn list_entities(&self, account_id: &str, kind: EntityKind, after: After<'_>, limit: usize) -> Result<Vec<EntityRecord>, StoreError> {
        let c = self.reader().await?;
        let result = async {
            let sql = format!("SELECT {ENTITY_COLUMNS} FROM iam_entities WHERE account_id = $1 AND kind = $2 AND folded_name > $3 ORDER BY folded_name LIMIT $4");
            let rows = query(&*c, &sql, &[&account_id, &kind.as_str(), &after.unwrap_or(""), &sql_limit(limit)]).await?;
            rows.iter().map(entity_from_row).collect()
        }
        .await;
        release(c, result)
    }

    async fn insert_grant(&self, g: &GrantRecord, max_per_key: usize) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let result = super::grants::insert(&mut c, g, max_per_key).await;
        release(c, result)
    }

    async fn get_grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        let c = self.reader().await?;
        let result = super::grants::get_one(&*c, grant_id).await;
        release(c, result)
    }

    async fn list_grants(&self, key_id: &str, region: &str, after: After<'_>, limit: usize) -> Result<Vec<GrantRecord>, StoreError> {
        let c = self.reader().await?;
        let result = super::grants::list_for_key(&*c, key_id, region, after.unwrap_or(""), limit).await;
        release(c, result)
    }

    async fn list_retirable_grants(&self, principal: &str, after: After<'_>, limit: usize) -> Result<Vec<GrantRecord>, StoreError> {
        let c = self.reader().await?;
        let result = super::grants::list_retirable(&*c, principal, after.unwrap_or(""), limit).await;
        release(c, result)
    }

    async fn grants_for(&self, key_id: &str, region: &str, grantees: &[String]) -> Result<Vec<GrantRecord>, StoreError> {
        let load = async {
            let c = self.reader().await?;
            let result = super::grants::for_grantees(&*c, key_id, region, grantees).await;
            release(c, result)
        };
        self.cached(Query::GrantsFor(key_id.to_owned(), region.to_owned(), grantees.to_vec()), load).await
    }

    async fn delete_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        let result = super::grants::delete(&*c, grant_id).await;
        release(c, result)
    }

    async fn insert_access_key(&self, k: &AccessKeyRecord, max_per_principal: usize) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            // Lock the principal's row: two CreateAccessKey calls on two nodes
            // then count one after the other instead of both seeing room.
            if query_opt(&tx, "SELECT 1 FROM principals WHERE arn = $1 FOR UPDATE", &[&k.principal_arn]).await?.is_none() {
                return Err(StoreError::NotFound);
            }
            let existing = query(&tx, "SELECT COUNT(*) FROM access_keys WHERE principal_arn = $1", &[&k.principal_arn]).await?;
            let existing: i64 = existing.first().map(|r| get(r, 0)).transpose()?.unwrap_or(0);
            if usize::try_from(existing).unwrap_or(usize::MAX) >= max_per_principal {
                return Ok(false);
            }
            insert_access_key_row(&tx, k).await?;
            commit(tx).await?;
            Ok(true)
        }
        .await;
        release(c, result)
    }

    async fn list_access_keys(&self, principal_arn: &str) -> Result<Vec<AccessKeyRecord>, StoreError> {
        let c = self.reader().await?;
        let result = async {
            let sql = format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE principal_arn = $1 ORDER BY created_at, access_key_id");
            query(&*c, &sql, &[&principal_arn]).await?.iter().map(access_key_from_row).collect()
        }
        .await;
        release(c, result)
    }

    async fn set_access_key_active(&self, access_key_id: &str, active: bool) -> Result<(), StoreError> {
        let c = self.client().await?;
        let result = async { one_row(execute(&*c, "UPDATE access_keys SET active = $1 WHERE access_key_id = $2", &[&active, &access_key_id]).await?) }.await;
        release(c, result)
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        let result = async { one_row(execute(&*c, "DELETE FROM access_keys WHERE access_key_id = $1", &[&access_key_id]).await?) }.await;
        release(c, result)
    }

    async fn insert_custom_key_store(&self, s: &CustomKeyStoreRecord) -> Result<Option<KeyStoreConflict>, StoreError> {
        let mut c = self.client().await?;
        let result = super::key_stores::insert(&mut c, s).await;
        release(c, result)
    }

    async fn get_custom_key_store(&self, id: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError> {
        let load = async {
            let c = self.reader().await?;
            let result = super::key_stores::get_one(&*c, id).await;
            release(c, result)
        };
        self.cached(Query::CustomKeyStore(id.to_owned()), load).await
    }

    async fn get_custom_key_store_by_name(&self, account_id: &str, region: &str, name: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError> {
        let c = self.reader().await?;
        let result = super::key_stores::get_by_name(&*c, account_id, region, name).await;
        release(c, result)
    }

    async fn list_custom_key_stores(&self, account_id: &str, region: &str, after: After<'_>, limit: usize) -> Result<Vec<CustomKeyStoreRecord>, StoreError> {
        let c = self.reader().await?;
        let result = super::key_stores::list(&*c, account_id, region, after.unwrap_or(""), limit).await;
        release(c, result)
    }

    async fn update_custom_key_store(&self, s: &CustomKeyStoreRecord) -> Result<Result<i64, KeyStoreConflict>, StoreError> {
        let mut c = self.client().await?;
        let result = super::key_stores::update(&mut c, s).await;
        release(c, result)
    }

    async fn delete_custom_key_store(&self, id: &str, row_version: i64) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let result = super::key_stores::delete(&mut c, id, row_version).await;
        release(c, result)
    }

    async fn count_keys_in_custom_key_store(&self, id: &str) -> Result<u64, StoreError> {
        let c = self.reader().await?;
        let result = super::key_stores::count_keys(&*c, id).await;
        release(c, result)
    }

    async fn get_setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let c = self.reader().await?;
        let result = async { query_opt(&*c, "SELECT value FROM settings WHERE name = $1", &[&name]).await?.as_ref().map(|r| get(r, 0)).transpose() }.await;
        release(c, result)
    }

    async fn insert_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let c = self.client().await?;
        let result = execute(&*c, "INSERT INTO settings (name, value) VALUES ($1, $2)", &[&name, &value]).await.map(|_| ());
        release(c, result)
    }

    async fn replace_setting(&self, name: &str, expected: &[u8], value: &[u8]) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let result = execute(&*c, "UPDATE settings SET value = $3 WHERE name = $1 AND value = $2", &[&name, &expected, &value]).await.map(|n| n == 1);
        release(c, result)
    }

    async fn delete_setting(&self, name: &str, expected: &[u8]) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let result = execute(&*c, "DELETE FROM settings WHERE name = $1 AND value = $2", &[&name, &expected]).await.map(|n| n == 1);
        release(c, result)
    }

    async fn raise_root_fence(&self, generation: u32) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let result = super::schema::raise_fence(&mut c, generation).await;
        release(c, result)
    }

    async fn list_sealed(&self, column: SealedColumn, after: Option<&(String, String)>, limit: usize) -> Result<Vec<SealedValue>, StoreError> {
        let c = self.client().await?;
        let result = super::sealed::list(&c, column, after, limit).await;
        release(c, result)
    }

    async fn replace_sealed(&self, column: SealedColumn, changes: &[(SealedValue, Vec<u8>)]) -> Result<usize, StoreError> {
        let mut c = self.client().await?;
        let result = super::sealed::replace(&mut c, column, changes).await;
        release(c, result)
    }

    async fn try_lease(&self, name: &str, holder: &str, now: Millis, ttl: Millis) -> Result<bool, StoreError> {
        // Nor are leases (migration 13).
        let c = self.quiet_writer().await?;
        // One statement: concurrent takers of a free lease serialize on the
        // row, and the loser's WHERE sees the winner's unexpired lease.
        let sql = "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                   WHERE leases.holder = excluded.holder OR leases.expires_at <= $4";
        let result = execute(&*c, sql, &[&name, &holder, &now.saturating_add(ttl), &now]).await.map(|taken| taken == 1);
        release(c, result)
    }

    fn read_cache_stats(&self) -> Option<crate::read_cache::CacheStats> {
        Some(self.cache.stats())
    }
}

impl PostgresStore {
    /// The key's row (optimistic concurrency) and one material of it, in
    /// one transaction: a rotation or an import.
    async fn save_key_with_material(&self, key: &KeyRecord, material: &MaterialRecord, stored: StoredMaterial) -> Result<i64, StoreError> {
        let doc = key_doc(key)?;
        let sql = match stored {
            StoredMaterial::MustBeNew => "INSERT INTO key_materials (key_id, material_id, stored, created_at) VALUES ($1, $2, $3, $4)",
            StoredMaterial::KeepStored => "INSERT INTO key_materials (key_id, material_id, stored, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (key_id, material_id) DO NOTHING",
        };
        let mut c = self.client().await?;
        let result = async {
            let tx = begin(&mut c).await?;
            // The key's row first: a removal of this material by another
            // member (which locks every member first) is then either
            // committed already, and the row is written again below, or
            // waits for this commit and sees the material in use.
            let row_version = save_key(&tx, key, &doc).await?;
            execute(&tx, sql, &[&material.key_id, &material.material_id, &material.stored, &material.created_at]).await?;
            commit(tx).await?;
            Ok(row_version)
        }
        .await;
        release(c, result)
    }

    /// A new key with its first material and, if given, an alias naming
    /// it, in one statement (a taken alias rolls back the key as well).
    /// `quiet`: a fresh key ([`Store::insert_fresh_key`], never with an
    /// alias), whose commit moves neither the change counter nor this
    /// node's epoch.
    async fn insert_key_and(&self, key: &KeyRecord, material: &MaterialRecord, alias: Option<&AliasRecord>, quiet: bool) -> Result<(), StoreError> {
        // An alias name may have been looked up before: it must move the counter.
        let quiet = quiet && alias.is_none();
        let (doc, state, rotation_due, material_expiry) = (key_doc(key)?, key.state.as_str(), key.rotation_due(), key.next_material_expiry());
        let c = if quiet { self.quiet_writer().await? } else { self.client().await? };
        let m = material;
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
            &key.key_id, &key.account_id, &key.region, &state, &key.deletion_date, &rotation_due, &material_expiry, &doc, &key.custom_key_store_id, &key.xks_key_id,
            &m.key_id, &m.material_id, &m.stored, &m.created_at,
        ];
        let sql = match alias {
            Some(a) => {
                params.extend::<[&(dyn tokio_postgres::types::ToSql + Sync); 6]>([&a.account_id, &a.region, &a.alias_name, &a.target_key_id, &a.created_at, &a.updated_at]);
                KEY_WITH_MATERIAL_AND_ALIAS
            }
            None if quiet => FRESH_KEY_WITH_MATERIAL,
            None => KEY_WITH_MATERIAL,
        };
        let result = execute(&*c, sql, &params).await.map(|_| ());
        release(c, result)
    }
}
