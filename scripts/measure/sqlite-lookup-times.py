# ab.py DB N ROUNDS: uniform and hot lookup pairs on a 2 MiB and a 64 MiB read connection, alternating in one process.
import random, sqlite3, sys, time
db, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c0 = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
ids = [r[0] for r in c0.execute("SELECT key_id FROM keys")]
mid = c0.execute("SELECT material_id FROM key_materials LIMIT 1").fetchone()[0]
conns = {}
for kib in (2000, 65536):
    c = sqlite3.connect(f'file:{db}?mode=ro', uri=True); c.execute(f"PRAGMA cache_size=-{kib}"); conns[kib] = c
rng = random.Random(5)
def run(c, pool):
    keys = [rng.choice(pool) for _ in range(n)]
    t = time.perf_counter()
    for k in keys:
        c.execute("SELECT doc, row_version FROM keys WHERE key_id = ?1 AND region = ?2", (k, 'us-east-1')).fetchone()
        c.execute("SELECT key_id, material_id, stored, created_at FROM key_materials WHERE key_id = ?1 AND material_id = ?2", (k, mid)).fetchone()
    return (time.perf_counter() - t) / n * 1e6
for c in conns.values(): run(c, ids)
res = {(k, m): [] for k in conns for m in ('hot', 'uniform')}
for _ in range(rounds):
    for kib, c in conns.items():
        res[(kib, 'hot')].append(run(c, ids[:10])); res[(kib, 'uniform')].append(run(c, ids))
med = {k: sorted(v)[len(v)//2] for k, v in res.items()}
for kib in conns:
    h, u = med[(kib, 'hot')], med[(kib, 'uniform')]
    print(f"cache {kib} KiB: hot {h:.1f} us, uniform {u:.1f} us, uniform/hot {u/h:.2f}, uniform - hot {u-h:.1f} us")
