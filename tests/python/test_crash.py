"""The crash test: clients write while the server is SIGKILLed; after each
restart every write that was acknowledged (200 OK) must be there, with its
audit event, and at the end `trent audit verify` finds the log whole.

CI runs 30 kills under 8 writers; `scripts/crash-loop KILLS` runs more
(TRENT_CRASH_KILLS, TRENT_CRASH_WRITERS) and docs/durability.md has the
last figures."""

import glob
import json
import os
import random
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions

from conftest import trent_bin

WORKERS = int(os.environ.get("TRENT_CRASH_WRITERS", "8"))
KILLS = int(os.environ.get("TRENT_CRASH_KILLS", "30"))
# Each cycle's load runs until the writers have created WORKERS keys, then
# for a random time in this range before the kill, so kills land at every
# point of the writers' requests however fast the machine is.
EXTRA_LOAD_SECONDS = (0.0, 0.6)


class Acked:
    """What the server acknowledged, across all cycles."""

    def __init__(self):
        self.keys = []  # key id
        self.aliases = {}  # alias name -> key id
        self.tags = []  # (key id, tag key, tag value)
        self.ciphertexts = []  # (blob, context, plaintext, key ARN)
        self.request_ids = []  # of every acknowledged request: each must have its event
        self.failures = []  # anything but success before the kill

    def marks(self):
        """Where each list ends now: what a later check starts from."""
        return len(self.keys), len(self.tags), len(self.ciphertexts), len(self.request_ids)


def worker(t, name, acked, killed, ready):
    """Creates keys, aliases, tags and ciphertexts until the server dies."""
    kms = t.boto3_client()
    ready.wait()  # the load's time starts once every client is built
    n = 0

    def acked_id(answer):
        acked.request_ids.append(answer["ResponseMetadata"]["RequestId"])
        return answer

    try:
        while True:
            n += 1
            key = acked_id(kms.create_key(Description=f"{name}-{n}"))["KeyMetadata"]
            acked.keys.append(key["KeyId"])
            alias = f"alias/{name}-{n}"
            acked_id(kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"]))
            acked.aliases[alias] = key["KeyId"]
            value = os.urandom(6).hex()
            acked_id(kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "writer", "TagValue": value}]))
            acked.tags.append((key["KeyId"], "writer", value))
            plaintext, context = os.urandom(32), {"writer": name, "n": str(n)}
            blob = acked_id(kms.encrypt(KeyId=alias, Plaintext=plaintext, EncryptionContext=context))["CiphertextBlob"]
            acked.ciphertexts.append((blob, context, plaintext, key["Arn"]))
    except botocore.exceptions.BotoCoreError as e:  # no answer: the server is gone
        if not killed.is_set():
            acked.failures.append(f"{name}: lost the server before the kill: {e!r}")
    except Exception as e:  # an error answer (or anything else) while the server was up
        acked.failures.append(f"{name}: {e!r}")


def load_then_kill(t, acked, cycle, stop=None, seconds=None):
    """Runs the writers until they have created WORKERS keys and then for
    `seconds` (default: random in EXTRA_LOAD_SECONDS), then stops the
    server with `stop` (default: SIGKILL) while they are still writing."""
    killed = threading.Event()
    ready = threading.Barrier(WORKERS + 1)
    threads = [threading.Thread(target=worker, args=(t, f"crash{cycle}-w{i}", acked, killed, ready)) for i in range(WORKERS)]
    before = len(acked.keys)
    for th in threads:
        th.start()
    ready.wait()
    deadline = time.monotonic() + 60
    while len(acked.keys) - before < WORKERS and time.monotonic() < deadline and not acked.failures:
        time.sleep(0.01)
    time.sleep(seconds if seconds is not None else random.uniform(*EXTRA_LOAD_SECONDS))
    killed.set()
    (stop or t.kill9)()
    for th in threads:
        th.join(60)
        assert not th.is_alive(), "a client thread hung after the kill"
    assert not acked.failures, acked.failures
    assert len(acked.keys) - before >= WORKERS, f"too little load in cycle {cycle}: {len(acked.keys) - before} keys"


def every_page(call, field):
    items, marker = [], None
    while True:
        page = call(Limit=1000, **({"Marker": marker} if marker else {}))
        items += page[field]
        if not page["Truncated"]:
            return items
        marker = page["NextMarker"]


def audit_request_ids(t):
    """The request id of every event in the data directory's audit log."""
    ids = set()
    for path in sorted(glob.glob(os.path.join(t.data_dir, "audit", "audit-*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                if record["recordType"] == "event":
                    ids.add(record["event"]["requestID"])
    return ids


def check_all_there(t, acked, since=(0, 0, 0, 0)):
    """Everything acknowledged is there: every key and alias, and the tags,
    ciphertexts and audit events acknowledged since the marks `since`."""
    keys_from, tags_from, blobs_from, ids_from = since
    kms = t.boto3_client()
    keys = {k["KeyId"] for k in every_page(kms.list_keys, "Keys")}
    missing = [k for k in acked.keys if k not in keys]
    assert not missing, f"{len(missing)} acknowledged keys lost, e.g. {missing[:3]}"
    aliases = {a["AliasName"]: a["TargetKeyId"] for a in every_page(kms.list_aliases, "Aliases")}
    wrong = {name: aliases.get(name) for name, key in acked.aliases.items() if aliases.get(name) != key}
    assert not wrong, f"acknowledged aliases lost or moved: {list(wrong.items())[:3]}"
    recorded = audit_request_ids(t)
    unaudited = [i for i in acked.request_ids[ids_from:] if i not in recorded]
    assert not unaudited, f"{len(unaudited)} acknowledged requests have no audit event, e.g. {unaudited[:3]}"

    def tag_ok(item):
        key, tag_key, value = item
        return {"TagKey": tag_key, "TagValue": value} in kms.list_resource_tags(KeyId=key)["Tags"]

    def decrypts(item):
        blob, context, plaintext, arn = item
        d = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        return (d["Plaintext"], d["KeyId"]) == (plaintext, arn)

    tags, blobs = acked.tags[tags_from:], acked.ciphertexts[blobs_from:]
    with ThreadPoolExecutor(4) as pool:
        bad_tags = [item for item, ok in zip(tags, pool.map(tag_ok, tags)) if not ok]
        bad_blobs = [item[3] for item, ok in zip(blobs, pool.map(decrypts, blobs)) if not ok]
    assert not bad_tags, f"acknowledged tags lost: {bad_tags[:3]}"
    assert not bad_blobs, f"acknowledged ciphertexts do not decrypt: {bad_blobs[:3]}"


def test_acknowledged_writes_and_their_events_survive_sigkill(new_trent):
    t = new_trent()
    acked = Acked()
    started = time.monotonic()
    for cycle in range(1, KILLS + 1):
        marks = acked.marks()
        load_then_kill(t, acked, cycle)
        t.start()
        check_all_there(t, acked, since=marks)
    # Once more, everything from the first cycle on (ciphertexts of keys
    # written long ago still decrypt), then the log verifies whole.
    check_all_there(t, acked)
    t.stop()
    out = subprocess.run([trent_bin(), "audit", "verify", "--data-dir", t.data_dir], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    print(f"{KILLS} kills under {WORKERS} writers in {time.monotonic() - started:.0f} s: "
          f"{len(acked.keys)} keys, {len(acked.ciphertexts)} ciphertexts, {len(acked.request_ids)} acknowledged requests, all there")


def test_graceful_stop_under_load(new_trent):
    """SIGTERM while clients write: Trent exits 0 promptly (Trent.stop checks
    both), and everything acknowledged is there afterwards."""
    t = new_trent()
    acked = Acked()
    load_then_kill(t, acked, "term", stop=t.stop, seconds=1.5)
    t.start()
    check_all_there(t, acked)
