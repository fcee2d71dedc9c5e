"""The crash test: clients write while the server is SIGKILLed; after a
restart every write that was acknowledged (200 OK) must be there."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions

WORKERS = 4
LOAD_SECONDS = 3.0
CYCLES = 3


class Acked:
    """What the server acknowledged, across all cycles."""

    def __init__(self):
        self.keys = []  # key id
        self.aliases = {}  # alias name -> key id
        self.tags = []  # (key id, tag key, tag value)
        self.ciphertexts = []  # (blob, context, plaintext, key ARN)
        self.failures = []  # anything but success before the kill


def worker(t, name, acked, killed):
    """Creates keys, aliases, tags and ciphertexts until the server dies."""
    kms = t.boto3_client()
    n = 0
    try:
        while True:
            n += 1
            key = kms.create_key(Description=f"{name}-{n}")["KeyMetadata"]
            acked.keys.append(key["KeyId"])
            alias = f"alias/{name}-{n}"
            kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
            acked.aliases[alias] = key["KeyId"]
            value = os.urandom(6).hex()
            kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "writer", "TagValue": value}])
            acked.tags.append((key["KeyId"], "writer", value))
            plaintext, context = os.urandom(32), {"writer": name, "n": str(n)}
            blob = kms.encrypt(KeyId=alias, Plaintext=plaintext, EncryptionContext=context)["CiphertextBlob"]
            acked.ciphertexts.append((blob, context, plaintext, key["Arn"]))
    except botocore.exceptions.BotoCoreError as e:  # no answer: the server is gone
        if not killed.is_set():
            acked.failures.append(f"{name}: lost the server before the kill: {e!r}")
    except Exception as e:  # an error answer (or anything else) while the server was up
        acked.failures.append(f"{name}: {e!r}")


def load_then_kill(t, acked, cycle, stop=None, seconds=LOAD_SECONDS):
    """Runs the writers for `seconds`, then stops the server with `stop`
    (default: SIGKILL) while they are still writing."""
    killed = threading.Event()
    threads = [threading.Thread(target=worker, args=(t, f"crash{cycle}-w{i}", acked, killed)) for i in range(WORKERS)]
    before = len(acked.keys)
    for th in threads:
        th.start()
    time.sleep(seconds)  # the load runs for this long; nothing to poll
    killed.set()
    (stop or t.kill9)()
    for th in threads:
        th.join(60)
        assert not th.is_alive(), "a client thread hung after the kill"
    assert not acked.failures, acked.failures
    assert len(acked.keys) - before >= WORKERS * 5, f"too little load in cycle {cycle}: {len(acked.keys) - before} keys"


def every_page(call, field):
    items, marker = [], None
    while True:
        page = call(Limit=1000, **({"Marker": marker} if marker else {}))
        items += page[field]
        if not page["Truncated"]:
            return items
        marker = page["NextMarker"]


def check_all_there(t, acked):
    kms = t.boto3_client()
    keys = {k["KeyId"] for k in every_page(kms.list_keys, "Keys")}
    missing = [k for k in acked.keys if k not in keys]
    assert not missing, f"{len(missing)} acknowledged keys lost, e.g. {missing[:3]}"
    aliases = {a["AliasName"]: a["TargetKeyId"] for a in every_page(kms.list_aliases, "Aliases")}
    wrong = {name: aliases.get(name) for name, key in acked.aliases.items() if aliases.get(name) != key}
    assert not wrong, f"acknowledged aliases lost or moved: {list(wrong.items())[:3]}"

    def tag_ok(item):
        key, tag_key, value = item
        return {"TagKey": tag_key, "TagValue": value} in kms.list_resource_tags(KeyId=key)["Tags"]

    def decrypts(item):
        blob, context, plaintext, arn = item
        d = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        return (d["Plaintext"], d["KeyId"]) == (plaintext, arn)

    with ThreadPoolExecutor(WORKERS) as pool:
        bad_tags = [item for item, ok in zip(acked.tags, pool.map(tag_ok, acked.tags)) if not ok]
        bad_blobs = [item[3] for item, ok in zip(acked.ciphertexts, pool.map(decrypts, acked.ciphertexts)) if not ok]
    assert not bad_tags, f"acknowledged tags lost: {bad_tags[:3]}"
    assert not bad_blobs, f"acknowledged ciphertexts do not decrypt: {bad_blobs[:3]}"


def test_acknowledged_writes_survive_sigkill(new_trent):
    t = new_trent()
    acked = Acked()
    for cycle in range(1, CYCLES + 1):
        load_then_kill(t, acked, cycle)
        t.start()
        check_all_there(t, acked)
    assert len(acked.ciphertexts) >= CYCLES * WORKERS * 5


def test_graceful_stop_under_load(new_trent):
    """SIGTERM while clients write: Trent exits 0 promptly (Trent.stop checks
    both), and everything acknowledged is there afterwards."""
    t = new_trent()
    acked = Acked()
    load_then_kill(t, acked, "term", stop=t.stop, seconds=1.5)
    t.start()
    check_all_there(t, acked)
