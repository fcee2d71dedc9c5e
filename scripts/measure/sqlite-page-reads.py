# preads.py DB KIB MODE N: N lookup pairs (hot: 10 keys, uniform: all), for strace to count the page reads.
import random, sqlite3, sys
db, kib, mode, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
c = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
ids = [r[0] for r in c.execute("SELECT key_id FROM keys")]
mid = c.execute("SELECT material_id FROM key_materials LIMIT 1").fetchone()[0]
c.execute(f"PRAGMA cache_size=-{kib}")
rng = random.Random(11)
pool = ids[:10] if mode == 'hot' else ids
def pair(k):
    c.execute("SELECT doc, row_version FROM keys WHERE key_id = ?1 AND region = ?2", (k, 'us-east-1')).fetchone()
    c.execute("SELECT key_id, material_id, stored, created_at FROM key_materials WHERE key_id = ?1 AND material_id = ?2", (k, mid)).fetchone()
for _ in range(20000):
    pair(rng.choice(pool))  # warm the page cache
sys.stderr.write("MARK\n"); sys.stderr.flush()
for _ in range(n):
    pair(rng.choice(pool))
