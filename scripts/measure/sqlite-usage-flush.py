# sqlite-usage-flush.py COPY_OF_DB MODE [CACHE_SIZE]: times the last-use batch
# (`record_key_usage`: 75,000 keys of the database, sorted, upserted in one
# transaction, as a 10 s flush under a uniform load over a million keys),
# three rounds, and the pages each wrote (WAL frames). Run it on a COPY of
# a data directory's trent.db: it writes.
# MODE: `rowid` (the table as Trent makes it), `worowid` (first rebuilt as
# WITHOUT ROWID), `noexists` (the upsert without its check that the key
# exists), `noop` (the same statements' Python cost, writing nothing: take
# it off the others). CACHE_SIZE: a PRAGMA cache_size (-65536 = 64 MiB).
import random, sqlite3, sys, time, uuid
db, mode = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db, isolation_level=None)
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=FULL")
# Checkpoints only where this script asks, so each batch's WAL frames (the
# pages it wrote) can be counted.
c.execute("PRAGMA wal_autocheckpoint=0"); c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
if len(sys.argv) > 3: c.execute(f"PRAGMA cache_size={sys.argv[3]}")
ids = [r[0] for r in c.execute("SELECT key_id FROM keys")]
if mode == "worowid":
    c.execute("BEGIN")
    c.execute("""CREATE TABLE u2 (key_id TEXT NOT NULL, region TEXT NOT NULL, used_at INTEGER NOT NULL, operation TEXT NOT NULL,
                 request_id TEXT NOT NULL, event_id TEXT, PRIMARY KEY (key_id, region)) WITHOUT ROWID""")
    c.execute("INSERT INTO u2 SELECT * FROM key_last_usage ORDER BY key_id, region")
    c.execute("DROP TABLE key_last_usage"); c.execute("ALTER TABLE u2 RENAME TO key_last_usage"); c.execute("COMMIT")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
# USAGE_UPSERT in crates/store/src/sqlite/mod.rs.
exists = "WHERE EXISTS (SELECT 1 FROM keys WHERE key_id = ?1 AND region = ?6)"
upsert = f"""INSERT INTO key_last_usage (key_id, region, used_at, operation, request_id, event_id)
     SELECT ?1, ?6, ?2, ?3, ?4, ?5 {exists if mode != 'noexists' else 'WHERE 1'}
     ON CONFLICT (key_id, region) DO UPDATE SET used_at = excluded.used_at, operation = excluded.operation,
     request_id = excluded.request_id, event_id = excluded.event_id WHERE excluded.used_at > key_last_usage.used_at"""
if mode == "noop": upsert = "SELECT ?1, ?2, ?3, ?4, ?5, ?6"
now = int(time.time() * 1000)
for _ in range(3):
    batch = sorted(random.sample(ids, 75000))
    now += 10000
    t = time.time(); c.execute("BEGIN")
    for k in batch: c.execute(upsert, (k, now, "Encrypt", str(uuid.uuid4()), str(uuid.uuid4()), "us-east-1"))
    c.execute("COMMIT"); elapsed = time.time() - t
    frames = c.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(mode, "flush", round(elapsed, 2), "s,", frames, "pages written", flush=True)
