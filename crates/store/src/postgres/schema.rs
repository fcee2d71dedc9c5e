//! Schema migrations for PostgreSQL, recorded in `schema_migrations`.
//!
//! The logical schema is SQLite's (see `sqlite/schema.rs`) with PostgreSQL
//! types. Two choices differ on purpose:
//! - Text keys are `COLLATE "C"`: listings page by `key_id > $after` and
//!   `ORDER BY`, which must compare bytes as SQLite does; under a database's
//!   locale collation (e.g. en_US) the order would change with the server.
//! - `doc` is TEXT, not JSONB: the store never queries inside it (what it
//!   filters on has its own column), and TEXT keeps the bytes serde wrote,
//!   exactly as SQLite does, without a parse on every write.

use deadpool_postgres::GenericClient;

use super::backend_in;
use crate::StoreError;

/// Append only: a released migration is never edited.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: keys, their material, aliases, identities.
    r#"
    CREATE TABLE accounts (
        account_id TEXT COLLATE "C" PRIMARY KEY,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE principals (
        arn TEXT COLLATE "C" PRIMARY KEY,
        account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(account_id),
        created_at BIGINT NOT NULL
    );
    CREATE TABLE access_keys (
        access_key_id TEXT COLLATE "C" PRIMARY KEY,
        principal_arn TEXT COLLATE "C" NOT NULL REFERENCES principals(arn),
        sealed_secret BYTEA NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE keys (
        key_id TEXT COLLATE "C" PRIMARY KEY,
        account_id TEXT COLLATE "C" NOT NULL,
        region TEXT COLLATE "C" NOT NULL,
        state TEXT NOT NULL,
        deletion_date BIGINT,
        doc TEXT NOT NULL,
        row_version BIGINT NOT NULL
    );
    CREATE INDEX keys_by_owner ON keys (account_id, region, key_id);
    CREATE INDEX keys_by_deletion ON keys (state, deletion_date);
    CREATE TABLE key_materials (
        key_id TEXT COLLATE "C" NOT NULL REFERENCES keys(key_id),
        material_id TEXT COLLATE "C" NOT NULL,
        stored BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (key_id, material_id)
    );
    CREATE TABLE aliases (
        account_id TEXT COLLATE "C" NOT NULL,
        region TEXT COLLATE "C" NOT NULL,
        alias_name TEXT COLLATE "C" NOT NULL,
        target_key_id TEXT COLLATE "C" NOT NULL REFERENCES keys(key_id),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (account_id, region, alias_name)
    );
    CREATE INDEX aliases_by_key ON aliases (target_key_id);
    "#,
    // 2: deployment settings and leases for background work.
    r#"
    CREATE TABLE settings (
        name TEXT COLLATE "C" PRIMARY KEY,
        value BYTEA NOT NULL
    );
    CREATE TABLE leases (
        name TEXT COLLATE "C" PRIMARY KEY,
        holder TEXT COLLATE "C" NOT NULL,
        expires_at BIGINT NOT NULL
    );
    "#,
    // 3: automatic key rotation, found by its due date.
    r#"
    ALTER TABLE keys ADD COLUMN next_rotation_at BIGINT;
    CREATE INDEX keys_by_rotation ON keys (state, next_rotation_at);
    "#,
    // 4: each key's last cryptographic use; expiry of imported material.
    r#"
    ALTER TABLE keys ADD COLUMN material_valid_to BIGINT;
    CREATE INDEX keys_by_material_expiry ON keys (material_valid_to);
    CREATE TABLE key_last_usage (
        key_id TEXT COLLATE "C" PRIMARY KEY,
        used_at BIGINT NOT NULL,
        operation TEXT NOT NULL,
        request_id TEXT NOT NULL
    );
    "#,
    // 5: IAM users, roles and managed policies; access keys can be inactive.
    r#"
    ALTER TABLE access_keys ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
    CREATE INDEX access_keys_by_principal ON access_keys (principal_arn, created_at);
    CREATE TABLE iam_entities (
        account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(account_id),
        kind TEXT COLLATE "C" NOT NULL,
        folded_name TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        arn TEXT COLLATE "C" NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        doc TEXT NOT NULL,
        row_version BIGINT NOT NULL,
        PRIMARY KEY (account_id, kind, folded_name)
    );
    "#,
    // 6: grants on keys.
    r#"
    CREATE TABLE grants (
        grant_id TEXT COLLATE "C" PRIMARY KEY,
        key_id TEXT COLLATE "C" NOT NULL REFERENCES keys(key_id),
        grantee_principal TEXT COLLATE "C" NOT NULL,
        retiring_principal TEXT COLLATE "C",
        name TEXT COLLATE "C",
        created_at BIGINT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX grants_by_key ON grants (key_id, grant_id);
    CREATE INDEX grants_by_grantee ON grants (key_id, grantee_principal);
    CREATE INDEX grants_by_retiring ON grants (retiring_principal, grant_id);
    "#,
    // 7: the audit event of each key's last use.
    r#"
    ALTER TABLE key_last_usage ADD COLUMN event_id TEXT;
    "#,
    // 8: custom key stores. The named UNIQUEs are the backstop against
    // racing nodes (the store maps each to its conflict); the reference
    // makes a key naming a deleted store fail.
    r#"
    CREATE TABLE custom_key_stores (
        id TEXT COLLATE "C" PRIMARY KEY,
        account_id TEXT COLLATE "C" NOT NULL,
        region TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        store_type TEXT NOT NULL,
        cluster_id TEXT COLLATE "C" NOT NULL,
        trust_anchor TEXT NOT NULL,
        sealed_password BYTEA NOT NULL,
        state TEXT NOT NULL,
        error_code TEXT,
        connection_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        row_version BIGINT NOT NULL,
        CONSTRAINT custom_key_stores_name_key UNIQUE (account_id, region, name),
        CONSTRAINT custom_key_stores_cluster_key UNIQUE (cluster_id)
    );
    CREATE INDEX custom_key_stores_by_owner ON custom_key_stores (account_id, region, id);
    ALTER TABLE keys ADD COLUMN custom_key_store_id TEXT COLLATE "C" REFERENCES custom_key_stores(id);
    CREATE INDEX keys_by_custom_key_store ON keys (custom_key_store_id);
    "#,
    // 9: external key stores: their XKS proxy (NULL for CloudHSM). The
    // UNIQUE index is the backstop of AWS's rule (endpoint and path unique
    // in the account and Region); NULLs never collide.
    r#"
    ALTER TABLE custom_key_stores ADD COLUMN xks_uri_endpoint TEXT COLLATE "C";
    ALTER TABLE custom_key_stores ADD COLUMN xks_uri_path TEXT COLLATE "C";
    ALTER TABLE custom_key_stores ADD COLUMN xks_connectivity TEXT COLLATE "C";
    ALTER TABLE custom_key_stores ADD COLUMN xks_access_key_id TEXT COLLATE "C";
    CREATE UNIQUE INDEX custom_key_stores_xks_uri_key ON custom_key_stores (account_id, region, xks_uri_endpoint, xks_uri_path);
    "#,
    // 10: keys in external key stores: each names a different external
    // key in its key store (AWS's XksKeyAlreadyInUseException). The UNIQUE
    // index makes that atomic across nodes; NULLs never collide.
    r#"
    ALTER TABLE keys ADD COLUMN xks_key_id TEXT COLLATE "C";
    CREATE UNIQUE INDEX keys_xks_key ON keys (custom_key_store_id, xks_key_id);
    "#,
    // 11: multi-Region replicas: a key is identified by its id AND Region
    // (a replica has its primary's id in another Region). Material stays
    // keyed by the id alone (the members share it), so its reference goes;
    // aliases and grants refer to their member by id and Region; grants and
    // last uses gain the Region. The constraint names are PostgreSQL's
    // defaults from migrations 1, 4 and 6.
    r#"
    ALTER TABLE key_materials DROP CONSTRAINT key_materials_key_id_fkey;
    ALTER TABLE aliases DROP CONSTRAINT aliases_target_key_id_fkey;
    ALTER TABLE grants DROP CONSTRAINT grants_key_id_fkey;
    ALTER TABLE keys DROP CONSTRAINT keys_pkey;
    ALTER TABLE keys ADD PRIMARY KEY (key_id, region);
    ALTER TABLE aliases ADD CONSTRAINT aliases_target_key_fkey FOREIGN KEY (target_key_id, region) REFERENCES keys (key_id, region);
    ALTER TABLE grants ADD COLUMN region TEXT COLLATE "C";
    UPDATE grants g SET region = k.region FROM keys k WHERE k.key_id = g.key_id;
    ALTER TABLE grants ALTER COLUMN region SET NOT NULL;
    ALTER TABLE grants ADD CONSTRAINT grants_key_fkey FOREIGN KEY (key_id, region) REFERENCES keys (key_id, region);
    DROP INDEX grants_by_key;
    DROP INDEX grants_by_grantee;
    CREATE INDEX grants_by_key ON grants (key_id, region, grant_id);
    CREATE INDEX grants_by_grantee ON grants (key_id, region, grantee_principal);
    ALTER TABLE key_last_usage ADD COLUMN region TEXT COLLATE "C";
    DELETE FROM key_last_usage u WHERE NOT EXISTS (SELECT 1 FROM keys k WHERE k.key_id = u.key_id);
    UPDATE key_last_usage u SET region = k.region FROM keys k WHERE k.key_id = u.key_id;
    ALTER TABLE key_last_usage ALTER COLUMN region SET NOT NULL;
    ALTER TABLE key_last_usage DROP CONSTRAINT key_last_usage_pkey;
    ALTER TABLE key_last_usage ADD PRIMARY KEY (key_id, region);
    "#,
    // 12: the change counter the nodes' read caches poll (read_cache.rs):
    // every transaction that writes any table moves it, at its commit, so
    // a node that reads it unchanged knows nothing was committed since.
    // - Spread over 64 rows, picked by transaction id: writers rarely wait
    //   for each other's row lock, and the polled sum still moves by one
    //   per committed transaction (a rolled-back one moves nothing).
    // - A deferred constraint trigger runs at the commit, after every other
    //   statement: the counter row is the transaction's last lock, taken
    //   when it waits for nothing else, so it can never close a deadlock.
    //   The transaction-local setting bumps once however many rows changed.
    // - `trent_watch_changes(table)` puts the triggers on a table: every
    //   table gets them (a test lists the tables that lack them), so no
    //   write path, present or future, can commit without moving it
    //   (but see migration 13).
    // - `SET search_path FROM CURRENT`: the function finds this schema's
    //   counter whatever the writing session's own search_path.
    r#"
    CREATE TABLE change_counter (
        shard INTEGER PRIMARY KEY,
        changes BIGINT NOT NULL
    );
    INSERT INTO change_counter (shard, changes) SELECT s, 0 FROM generate_series(0, 63) AS s;
    CREATE FUNCTION trent_note_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
        IF current_setting('trent.change_noted', true) IS DISTINCT FROM 'yes' THEN
            PERFORM set_config('trent.change_noted', 'yes', true);
            UPDATE change_counter SET changes = changes + 1 WHERE shard = txid_current() % 64;
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE FUNCTION trent_watch_changes(target regclass) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE format('CREATE CONSTRAINT TRIGGER note_change AFTER INSERT OR UPDATE OR DELETE ON %s '
            'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION trent_note_change()', target);
        EXECUTE format('CREATE TRIGGER note_truncate AFTER TRUNCATE ON %s '
            'FOR EACH STATEMENT EXECUTE FUNCTION trent_note_change()', target);
    END
    $$;
    SELECT trent_watch_changes(t::regclass) FROM unnest(ARRAY['accounts', 'principals', 'access_keys', 'keys', 'key_materials', 'aliases',
        'settings', 'leases', 'key_last_usage', 'iam_entities', 'grants', 'custom_key_stores']) AS t;
    "#,
    // 13: the two tables no node's read cache reads (read_cache.rs's
    // `Query`) stop moving the change counter: each of their writes
    // emptied every node's cache for nothing, and they are the steady
    // writes of a deployment that only encrypts (last uses, flushed by each
    // node every 10 s; leases, renewed by each node's background work and
    // health probe). A test names exactly these two as unwatched.
    r#"
    DROP TRIGGER note_change ON key_last_usage;
    DROP TRIGGER note_truncate ON key_last_usage;
    DROP TRIGGER note_change ON leases;
    DROP TRIGGER note_truncate ON leases;
    "#,
    // 14: the root key fence (docs/several-nodes.md, online rotate-root):
    // `root_fence` holds the sealing generation, the lowest root key
    // generation a value written from now on may be sealed under. Every
    // column of a value sealed under the root key (`SealedColumn::ALL`)
    // refuses, before the row is written, a new value of a lower
    // generation, with SQLSTATE TR001 (the store's
    // `StoreError::RootKeyRotated`). A value's generation is its header:
    // 0x01 is generation 0, 0x02 || u32 big-endian names it; a header that
    // names none (nothing the server seals) is left alone, as NULL is.
    // - The check holds the shared advisory lock `trent_fe` until its
    //   transaction ends; the rotator raises the fence under the exclusive
    //   one, so the raise waits for every transaction that passed the
    //   check under the old fence, and once it commits, every value sealed
    //   under an older generation is either committed (where the reseal
    //   passes find it) or can never be written.
    // - The WHEN clauses keep the function off writes that store no new
    //   sealed value (an UPDATE leaving the column as it was).
    // - Read committed (the store's level): the fence is read after the
    //   lock is taken, by a statement of its own, so it is the latest.
    r#"
    CREATE TABLE root_fence (
        only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        generation BIGINT NOT NULL
    );
    INSERT INTO root_fence (generation) VALUES (0);
    SELECT trent_watch_changes('root_fence'::regclass);
    CREATE FUNCTION trent_root_fence() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    DECLARE
        sealed BYTEA;
        sealed_generation BIGINT;
        fence BIGINT;
    BEGIN
        IF TG_ARGV[0] = 'stored' THEN
            sealed := NEW.stored;
        ELSIF TG_ARGV[0] = 'sealed_secret' THEN
            sealed := NEW.sealed_secret;
        ELSE
            sealed := NEW.sealed_password;
        END IF;
        -- Inline, not a function of its own: a call per row costs more
        -- than the whole check.
        sealed_generation := CASE
            WHEN length(sealed) >= 1 AND get_byte(sealed, 0) = 1 THEN 0
            WHEN length(sealed) >= 5 AND get_byte(sealed, 0) = 2 THEN
                (get_byte(sealed, 1)::BIGINT << 24) | (get_byte(sealed, 2) << 16) | (get_byte(sealed, 3) << 8) | get_byte(sealed, 4)
        END;
        PERFORM pg_advisory_xact_lock_shared(8390880580817872485);
        SELECT generation INTO fence FROM root_fence;
        IF sealed_generation < fence THEN
            RAISE EXCEPTION 'the root key was rotated: retry (a value sealed under root key generation % is below the fence %)',
                sealed_generation, fence USING ERRCODE = 'TR001';
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE FUNCTION trent_fence_column(target regclass, sealed TEXT) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE format('CREATE TRIGGER root_fence_insert BEFORE INSERT ON %s FOR EACH ROW '
            'WHEN (NEW.%I IS NOT NULL) EXECUTE FUNCTION trent_root_fence(%L)', target, sealed, sealed);
        EXECUTE format('CREATE TRIGGER root_fence_update BEFORE UPDATE OF %I ON %s FOR EACH ROW '
            'WHEN (NEW.%I IS DISTINCT FROM OLD.%I) EXECUTE FUNCTION trent_root_fence(%L)', sealed, target, sealed, sealed, sealed);
    END
    $$;
    SELECT trent_fence_column('key_materials', 'stored');
    SELECT trent_fence_column('access_keys', 'sealed_secret');
    SELECT trent_fence_column('custom_key_stores', 'sealed_password');
    "#,
];

/// The advisory lock every node takes to migrate ("trent_mg" in ASCII).
/// One constant for the whole database: nodes of different deployments in
/// other schemas of the same database merely wait for each other briefly.
const MIGRATION_LOCK: i64 = 0x7472_656e_745f_6d67;

/// The advisory lock of the root key fence ("trent_fe"; migration 14
/// spells it in decimal): shared by every write of a sealed value,
/// exclusive while the fence is raised.
pub(super) const FENCE_LOCK: i64 = 0x7472_656e_745f_6665;

/// Raises the fence to `generation` (never lowers it: a rerun is
/// harmless). Waits for every transaction that passed the fence before.
pub(super) async fn raise_fence(client: &mut deadpool_postgres::Client, generation: u32) -> Result<(), StoreError> {
    let err = |e| backend_in("raising the root key fence", e);
    let tx = client.transaction().await.map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FENCE_LOCK]).await.map_err(err)?;
    tx.execute("UPDATE root_fence SET generation = GREATEST(generation, $1)", &[&i64::from(generation)]).await.map_err(err)?;
    tx.commit().await.map_err(err)
}

/// Brings the schema on `search_path` up to date. Several nodes may start
/// at once: each takes the same transaction-level advisory lock first, so
/// one applies the pending migrations while the others wait and then find
/// nothing left to do. All of it is one transaction (PostgreSQL DDL is
/// transactional): a node that dies halfway leaves no half-made schema, and
/// the lock is released by the commit or rollback, never left behind.
pub(super) async fn migrate(client: &mut deadpool_postgres::Client) -> Result<(), StoreError> {
    let err = |e| backend_in("migration", e);
    let tx = client.transaction().await.map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)").await.map_err(err)?;
    let applied: i64 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await.map_err(err)?.try_get(0).map_err(err)?;
    // A database newer than this binary (a rolling upgrade) is left alone,
    // as SQLite does: migrations only ever add.
    for (version, sql) in (1_i64..).zip(MIGRATIONS).skip(usize::try_from(applied).unwrap_or(usize::MAX)) {
        tx.batch_execute(sql).await.map_err(err)?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version]).await.map_err(err)?;
    }
    tx.commit().await.map_err(err)
}
