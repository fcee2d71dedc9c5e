"""Several Trent nodes on one PostgreSQL database (docs/several-nodes.md):
shared keys, changes seen at once on every node, a single first admin, a
wrong root key refused, a node killed under load, PostgreSQL restarted under
load, background deletion done exactly once, also when its node dies, and a
custom key store (one SoftHSM2 token) connected, used and disconnected
through any node, and an external key store (one `trent xks-proxy`) alike;
a multi-Region key replicated through one node and its primary moved through
another, seen at once on both.

Each test gets its own schema (`search_path` in the store URL). The server
comes from TRENT_TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/test;
where none answers the module is skipped and says so.
"""

import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid

import botocore.exceptions
import pytest

from conftest import REGION, Trent, kms_error

BASE_URL = os.environ.get("TRENT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
DESTROYED = "key destroyed: its deletion waiting period ended"


def _postgres_problem():
    if not shutil.which("psql"):
        return "psql is not installed"
    url = urllib.parse.urlsplit(BASE_URL)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", url.port or 5432), timeout=2).close()
    except OSError as e:
        return f"no PostgreSQL at {url.hostname}:{url.port or 5432} ({e})"
    return None


_problem = _postgres_problem()
pytestmark = pytest.mark.skipif(
    _problem is not None, reason=f"skipping the multi-node tests: {_problem}; set TRENT_TEST_POSTGRES_URL to run them"
)


def psql(sql):
    r = subprocess.run(["psql", BASE_URL, "-v", "ON_ERROR_STOP=1", "-Atc", sql], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture
def schema():
    """A fresh, empty schema of this test's own; its store URL."""
    name = "trent_mn_" + uuid.uuid4().hex[:12]
    psql(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in BASE_URL else "?"
    yield name, f"{BASE_URL}{sep}options=-csearch_path%3D{name}"
    psql(f"DROP SCHEMA {name} CASCADE")


# A change acknowledged by one node holds on every node for each request that
# begins more than the read caches' poll window after it (2 ms,
# docs/several-nodes.md). These tests check changes at the next request on
# another node: each client of a node waits a little longer than the window
# before it sends, so every request begins past the bound.
PAST_THE_POLL_WINDOW_S = 0.003


def _past_the_poll_window(**_):
    time.sleep(PAST_THE_POLL_WINDOW_S)  # returns None: botocore then sends


class Cluster:
    """Nodes on one store URL, all with the first node's root key."""

    def __init__(self, tmp_path_factory, url, extra_args=()):
        self.tmp = tmp_path_factory
        self.url = url
        self.extra_args = list(extra_args)
        self.nodes = []
        self.root_key = None

    def node(self, start=True, root_key=None, args=()):
        t = Trent(self.tmp.mktemp("node"), args=["--store", self.url, *self.extra_args, *args])
        made = t.boto3_client

        def boto3_client(*a, **kw):
            client = made(*a, **kw)
            client.meta.events.register("before-send", _past_the_poll_window)
            return client

        t.boto3_client = boto3_client
        key = root_key or self.root_key
        if key is not None:
            os.makedirs(t.data_dir, mode=0o700)
            shutil.copyfile(key, os.path.join(t.data_dir, "root.key"))
            os.chmod(os.path.join(t.data_dir, "root.key"), 0o600)
        self.nodes.append(t)
        if start:
            t.start()
        if self.root_key is None:
            self.root_key = os.path.join(t.data_dir, "root.key")
        return t

    def start(self, n):
        """Node 1 makes the root key and the admin; the others share both."""
        first = self.node()
        return [first] + [self.node() for _ in range(n - 1)]

    def client(self, node, region=REGION):
        admin = self.nodes[0].keys()
        return node.boto3_client(region=region, access_key=admin[0], secret_key=admin[1])

    def stop(self):
        for t in self.nodes:
            if t.proc is not None and t.proc.poll() is None:
                t.stop()


@pytest.fixture
def cluster(tmp_path_factory, schema):
    made = []

    def make(extra_args=()):
        c = Cluster(tmp_path_factory, schema[1], extra_args)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def test_keys_made_on_one_node_work_on_the_others(cluster):
    c = cluster()
    n1, n2, n3 = c.start(3)
    k1, k2, k3 = c.client(n1), c.client(n2), c.client(n3)
    key = k1.create_key(Description="shared", Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]
    k1.create_alias(AliasName="alias/shared", TargetKeyId=key["KeyId"])

    blob = k2.encrypt(KeyId="alias/shared", Plaintext=b"across nodes", EncryptionContext={"n": "2"})["CiphertextBlob"]
    out = k3.decrypt(CiphertextBlob=blob, EncryptionContext={"n": "2"})
    assert out["Plaintext"] == b"across nodes" and out["KeyId"] == key["Arn"]
    assert k3.describe_key(KeyId="alias/shared")["KeyMetadata"]["Description"] == "shared"
    assert k2.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "a"}]
    assert "alias/shared" in [a["AliasName"] for a in k3.list_aliases(KeyId=key["KeyId"])["Aliases"]]


def test_a_change_on_one_node_holds_on_the_others_at_once(cluster):
    """The documented bound is the poll window (each node's read cache):
    the next request on another node, begun past it, sees the change."""
    c = cluster()
    n1, n2, n3 = c.start(3)
    k2, k3 = c.client(n2), c.client(n3)
    key_id = c.client(n1).create_key()["KeyMetadata"]["KeyId"]
    k3.encrypt(KeyId=key_id, Plaintext=b"x")

    k2.disable_key(KeyId=key_id)
    assert kms_error(k3.encrypt, KeyId=key_id, Plaintext=b"x")[:2] == ("DisabledException", 400)
    k3.enable_key(KeyId=key_id)
    k2.encrypt(KeyId=key_id, Plaintext=b"x")

    k2.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert kms_error(k3.encrypt, KeyId=key_id, Plaintext=b"x")[0] == "KMSInvalidStateException"
    assert k3.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    k3.cancel_key_deletion(KeyId=key_id)
    assert k2.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"

    policy = '{"Version":"2012-10-17","Statement":[{"Sid":"n2","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}'
    k2.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)
    assert '"Sid":"n2"' in k3.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"].replace(" ", "")


def test_nodes_starting_together_on_an_empty_database_make_one_admin(cluster, schema, tmp_path_factory):
    # A root key made beforehand, as an operator would provision it to every node.
    maker = Trent(tmp_path_factory.mktemp("keymaker")).start()
    maker.stop()
    c = cluster()
    nodes = [c.node(start=False, root_key=os.path.join(maker.data_dir, "root.key")) for _ in range(3)]
    for t in nodes:
        t.spawn()
    for t in nodes:
        t.wait_listening()

    written = [t for t in nodes if os.path.exists(os.path.join(t.data_dir, "credentials"))]
    assert len(written) == 1, f"{len(written)} nodes wrote admin credentials"
    assert psql(f"SELECT count(*) FROM {schema[0]}.principals") == "1"
    access, secret = written[0].keys()
    for t in nodes:
        t.boto3_client(access_key=access, secret_key=secret).list_keys()


def test_a_node_with_another_root_key_refuses_to_start(cluster, tmp_path_factory):
    c = cluster()
    c.start(1)

    def refused(root_key):
        stranger = Trent(tmp_path_factory.mktemp("stranger"), args=["--store", c.url])
        if root_key is not None:
            os.makedirs(stranger.data_dir, mode=0o700, exist_ok=True)
            fd = os.open(os.path.join(stranger.data_dir, "root.key"), os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, root_key)
            os.close(fd)
        stranger.spawn()
        try:
            code = stranger.proc.wait(30)
        finally:
            stranger.kill9()
        assert code != 0
        return stranger.stderr_tail()

    # Another root key of its own: the store's check value refuses it.
    assert "this root key does not open this store's data" in refused(os.urandom(32))
    # None at all: the store is in the key-file seal mode, so a node needs
    # a copy of root.key, and is not given a new one of its own.
    assert "root.key: cannot open" in refused(None)


# --- under load ---------------------------------------------------------------


RETRYABLE = ("KMSInternalException", "DependencyTimeoutException")


class Load:
    """Clients that write through every node in turn, moving to the next
    node when one fails, and remember only what was acknowledged."""

    def __init__(self, cluster, nodes, workers=4):
        self.clients = [cluster.client(t) for t in nodes]
        self.workers = workers
        self.keys = []  # acknowledged CreateKey
        self.ciphertexts = []  # (blob, context, plaintext, key ARN) acknowledged
        self.wrong = []  # a wrong answer: never allowed
        self.retries = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._work, args=(i,)) for i in range(workers)]

    def _call(self, n, method, **kw):
        """Calls `method` on node n, else the next nodes, until one answers
        (or the load stops). Returns (answer, node index)."""
        while True:
            client = self.clients[n % len(self.clients)]
            try:
                return getattr(client, method)(**kw), n
            except botocore.exceptions.BotoCoreError:  # no answer: node down
                pass
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] not in RETRYABLE:
                    raise
            self.retries += 1
            if self.stop.is_set():
                raise TimeoutError("load stopped while retrying")
            n += 1
            time.sleep(0.05)

    def _work(self, i):
        n = i
        try:
            while not self.stop.is_set():
                key, n = self._call(n + 1, "create_key", Description=f"load-{i}")
                arn = key["KeyMetadata"]["Arn"]
                self.keys.append(key["KeyMetadata"]["KeyId"])
                plaintext, context = os.urandom(24), {"w": str(i)}
                blob, n = self._call(n + 1, "encrypt", KeyId=arn, Plaintext=plaintext, EncryptionContext=context)
                self.ciphertexts.append((blob["CiphertextBlob"], context, plaintext, arn))
                # Read back an earlier acknowledged write through another node.
                old_blob, old_context, old_plain, old_arn = self.ciphertexts[len(self.ciphertexts) // 2]
                out, n = self._call(n + 1, "decrypt", CiphertextBlob=old_blob, EncryptionContext=old_context)
                if out["Plaintext"] != old_plain or out["KeyId"] != old_arn:
                    self.wrong.append("decrypt returned another plaintext or key")
        except TimeoutError:
            pass
        except Exception as e:  # any other error answer is a wrong answer
            self.wrong.append(repr(e))

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for th in self.threads:
            th.join(120)
            assert not th.is_alive(), "a client thread hung"

    def check_everything_acknowledged_is_there(self, client):
        assert not self.wrong, self.wrong
        listed, marker = set(), None
        while True:
            page = client.list_keys(Limit=1000, **({"Marker": marker} if marker else {}))
            listed |= {k["KeyId"] for k in page["Keys"]}
            if not page["Truncated"]:
                break
            marker = page["NextMarker"]
        missing = [k for k in self.keys if k not in listed]
        assert not missing, f"{len(missing)} acknowledged keys are gone"
        for blob, context, plaintext, arn in self.ciphertexts:
            out = client.decrypt(CiphertextBlob=blob, EncryptionContext=context)
            assert out["Plaintext"] == plaintext and out["KeyId"] == arn


def test_a_node_killed_under_load_loses_nothing(cluster):
    c = cluster()
    n1, n2, n3 = c.start(3)
    with Load(c, [n1, n2, n3]) as load:
        time.sleep(2)
        before_kill = len(load.keys)
        n2.kill9()
        time.sleep(2)
    assert before_kill >= 10, f"too little load before the kill: {before_kill} keys"
    assert len(load.keys) > before_kill, "no writes were acknowledged after the kill"
    assert load.retries > 0, "no client noticed the kill"
    load.check_everything_acknowledged_is_there(c.client(n3))


def _restart_postgres_problem():
    url = urllib.parse.urlsplit(BASE_URL)
    if url.hostname not in ("127.0.0.1", "localhost"):
        return "PostgreSQL is not local"
    if not shutil.which("pg_ctlcluster") or not os.path.isdir("/etc/postgresql"):
        return "no pg_ctlcluster to restart it with"
    if os.geteuid() != 0:
        return "restarting PostgreSQL needs root"
    return None


def restart_postgres():
    (version,) = os.listdir("/etc/postgresql")
    ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
    try:
        subprocess.run([*ctl, "restart"], check=True, timeout=120)
    finally:  # never leave the machine's PostgreSQL down
        if subprocess.run([*ctl, "status"], capture_output=True).returncode != 0:
            subprocess.run([*ctl, "start"], timeout=120)


@pytest.mark.skipif(_restart_postgres_problem() is not None, reason=f"cannot restart PostgreSQL here: {_restart_postgres_problem()}")
def test_nodes_recover_by_themselves_when_postgres_restarts_under_load(cluster):
    c = cluster()
    nodes = c.start(3)
    with Load(c, nodes) as load:
        time.sleep(1.5)
        before = len(load.keys)
        restart_postgres()
        time.sleep(3)
    assert before >= 5, f"too little load before the restart: {before} keys"
    assert len(load.keys) > before, "no writes were acknowledged after PostgreSQL came back"
    assert load.retries > 0, "the restart went unnoticed: did PostgreSQL restart?"
    for t in nodes:  # every node answers again, none was restarted
        assert t.proc.poll() is None
        c.client(t).list_keys(Limit=1)
    load.check_everything_acknowledged_is_there(c.client(nodes[0]))


# --- background work ------------------------------------------------------------


def node_id_of(t):
    with open(t.stderr_path, encoding="utf-8", errors="replace") as f:
        m = re.search(r'node started.*?node_id=([0-9a-f-]{36})', f.read())
    assert m, f"no 'node started' line\n{t.stderr_tail()}"
    return m.group(1)


def destroyed_lines(t):
    with open(t.stderr_path, encoding="utf-8", errors="replace") as f:
        return re.findall(r'key_id=([0-9a-f-]{36}).*' + DESTROYED + r'|' + DESTROYED + r'.*key_id=([0-9a-f-]{36})', f.read())


def test_deletion_runs_exactly_once_across_nodes_and_moves_when_its_node_dies(cluster, schema):
    """Keys scheduled for deletion; then three nodes whose clocks are moved
    to just before the deletion date. The node holding the sweeper lease is
    killed; another takes the lease over and destroys every key exactly once."""
    # Dev mode: the moved clocks would fail SigV4's 5-minute skew check.
    c = cluster(extra_args=["--dev", "--sweep-interval-secs", "1"])
    first = c.node()
    kms = c.client(first)
    keys, due = [], 0
    for _ in range(5):
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        when = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)["DeletionDate"]
        keys.append(key_id)
        due = max(due, when.timestamp())
    first.stop()

    margin = 12  # seconds of real time between the nodes' start and the deletion date
    offset = int(due - time.time()) - margin + 1
    nodes = [c.node(args=["--clock-offset-secs", str(offset)]) for _ in range(3)]
    by_id = {node_id_of(t): t for t in nodes}

    holder = None
    deadline = time.monotonic() + 10
    while holder is None and time.monotonic() < deadline:
        holder = psql(f"SELECT holder FROM {schema[0]}.leases WHERE name = 'deletion-sweeper'") or None
        time.sleep(0.1)
    assert holder in by_id, f"lease holder {holder!r} is none of the nodes"
    assert time.time() + offset < due, "the machine was too slow: the keys fell due before the holder could be killed"
    by_id[holder].kill9()
    alive = [t for t in nodes if t is not by_id[holder]]

    kms = c.client(alive[0])
    deadline = time.monotonic() + margin + 15
    while time.monotonic() < deadline:
        if all(kms_gone(kms, k) for k in keys):
            break
        time.sleep(0.25)
    else:
        pytest.fail(f"keys not destroyed after their deletion date\n{alive[0].stderr_tail()}")

    new_holder = psql(f"SELECT holder FROM {schema[0]}.leases WHERE name = 'deletion-sweeper'")
    assert by_id.get(new_holder) in alive, "the lease did not move to a living node"
    destroyed = [a or b for t in nodes for (a, b) in destroyed_lines(t)]
    assert sorted(destroyed) == sorted(keys), f"each key must be destroyed exactly once: {destroyed}"
    assert not destroyed_lines(by_id[holder]), "the killed node destroyed keys"


def kms_gone(kms, key_id):
    try:
        kms.describe_key(KeyId=key_id)
        return False
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "NotFoundException", e
        return True


def test_grants_and_policies_hold_on_every_node_at_once(cluster):
    """Authorization reads grants and policies from the store on each request
    (policies are cached by their text only): a grant made, a grant revoked,
    a policy changed on one node decide the very next request on another."""
    import boto3
    import json as _json

    c = cluster()
    n1, n2 = c.start(2)
    admin = n1.keys()
    iam = boto3.client("iam", endpoint_url=n1.endpoint, region_name="us-east-1", aws_access_key_id=admin[0], aws_secret_access_key=admin[1])
    user = iam.create_user(UserName="grantee")["User"]
    k = iam.create_access_key(UserName="grantee")["AccessKey"]
    on1 = n1.boto3_client(access_key=k["AccessKeyId"], secret_key=k["SecretAccessKey"])
    on2 = n2.boto3_client(access_key=k["AccessKeyId"], secret_key=k["SecretAccessKey"])
    key = c.client(n1).create_key()["KeyMetadata"]["Arn"]
    assert kms_error(on2.encrypt, KeyId=key, Plaintext=b"x")[0] == "AccessDeniedException"
    grant = c.client(n1).create_grant(KeyId=key, GranteePrincipal=user["Arn"], Operations=["Encrypt"])
    on2.encrypt(KeyId=key, Plaintext=b"x")
    c.client(n2).revoke_grant(KeyId=key, GrantId=grant["GrantId"])
    assert kms_error(on1.encrypt, KeyId=key, Plaintext=b"x")[0] == "AccessDeniedException"
    account = key.split(":")[4]
    named = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "kms:Encrypt", "Resource": "*"},
    ]}
    c.client(n1).put_key_policy(KeyId=key, PolicyName="default", Policy=_json.dumps(named))
    on2.encrypt(KeyId=key, Plaintext=b"x")


# --- multi-Region keys -----------------------------------------------------------


def test_a_replica_made_and_a_primary_moved_on_one_node_hold_on_the_other(cluster):
    """Multi-Region keys across nodes (docs/multi-region-keys.md): a replica
    made through node A is seen through node B at once (DescribeKey shows
    both members in either Region; B decrypts in the replica's Region what
    A encrypted in the primary's), and UpdatePrimaryRegion through B is
    seen through A (each member's roles, and ReplicateKey then the new
    primary's)."""
    east, west, south = "us-east-1", "eu-west-1", "ap-south-1"
    c = cluster()
    a, b = c.start(2)
    east_a, west_a, east_b, west_b = c.client(a, east), c.client(a, west), c.client(b, east), c.client(b, west)

    def members(client, key_id):
        cfg = client.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
        return cfg["MultiRegionKeyType"], cfg["PrimaryKey"]["Region"], [r["Region"] for r in cfg["ReplicaKeys"]]

    key_id = east_a.create_key(MultiRegion=True, Description="primary")["KeyMetadata"]["KeyId"]
    blob = east_a.encrypt(KeyId=key_id, Plaintext=b"one key, two nodes", EncryptionContext={"n": "a"})["CiphertextBlob"]
    assert kms_error(west_b.describe_key, KeyId=key_id)[0] == "NotFoundException"

    replica = east_a.replicate_key(KeyId=key_id, ReplicaRegion=west, Description="replica")["ReplicaKeyMetadata"]
    assert members(east_b, key_id) == ("PRIMARY", east, [west])
    assert members(west_b, key_id) == ("REPLICA", east, [west])
    described = west_b.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (described["Arn"], described["KeyState"], described["Description"]) == (replica["Arn"], "Enabled", "replica")
    out = west_b.decrypt(CiphertextBlob=blob, EncryptionContext={"n": "a"})
    assert (out["Plaintext"], out["KeyId"]) == (b"one key, two nodes", replica["Arn"])

    east_b.update_primary_region(KeyId=key_id, PrimaryRegion=west)
    assert members(west_a, key_id) == ("PRIMARY", west, [east])
    assert members(east_a, key_id) == ("REPLICA", west, [east])
    # A acts on the new roles: only the new primary replicates or rotates.
    assert kms_error(east_a.replicate_key, KeyId=key_id, ReplicaRegion=south)[0] == "UnsupportedOperationException"
    assert kms_error(east_a.rotate_key_on_demand, KeyId=key_id)[0] == "UnsupportedOperationException"
    west_a.replicate_key(KeyId=key_id, ReplicaRegion=south)
    assert members(east_b, key_id) == ("REPLICA", west, [south, east])
    blob = c.client(b, south).encrypt(KeyId=key_id, Plaintext=b"from the third member")["CiphertextBlob"]
    assert east_a.decrypt(CiphertextBlob=blob)["Plaintext"] == b"from the third member"


# --- custom key stores ------------------------------------------------------------

# The token fixture (a fresh SoftHSM2 token, SOFTHSM2_CONF set for the servers
# started after it; skips or fails without SoftHSM2) and the cluster id.
from test_custom_key_stores import CLUSTER, PIN, token  # noqa: E402,F401


def register_cluster(t, module):
    """`trent hsm register` in node t's data directory: each node has its own."""
    subprocess.run(
        [os.environ["TRENT_BIN"], "hsm", "register", "--data-dir", t.data_dir, "--cluster-id", CLUSTER, "--module", module, "--token-label", "kms-cluster"],
        check=True, capture_output=True,
    )


def store_state(kms, store_id):
    return kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]["ConnectionState"]


def round_trip(sealer, opener, key_id, plaintext):
    blob = sealer.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext={"via": "nodes"})["CiphertextBlob"]
    out = opener.decrypt(CiphertextBlob=blob, EncryptionContext={"via": "nodes"})
    assert out["Plaintext"] == plaintext
    return blob, out["KeyId"]


def test_a_custom_key_store_is_shared_by_every_node(token, cluster):
    """One key store on one token, two nodes: its connection state is the
    store's (seen by every node at its next request); each node logs in to
    the token by itself, on first use, and again after a new connect."""
    c = cluster()
    a, b = c.start(2)  # both inherit SOFTHSM2_CONF from the token fixture
    for t in (a, b):
        register_cluster(t, token)
    ka, kb = c.client(a), c.client(b)
    with open(os.path.join(a.data_dir, "hsm", CLUSTER, "customerCA.crt")) as f:
        anchor = f.read()

    # 1. Created and connected through A; B sees it CONNECTED.
    store_id = ka.create_custom_key_store(
        CustomKeyStoreName="shared", CloudHsmClusterId=CLUSTER, TrustAnchorCertificate=anchor, KeyStorePassword=PIN,
    )["CustomKeyStoreId"]
    assert store_state(kb, store_id) == "DISCONNECTED"
    ka.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(ka, store_id) == "CONNECTED"
    assert store_state(kb, store_id) == "CONNECTED"

    # 2. A key made in the token through A; B logs in on first use.
    key = ka.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"]
    assert key["CustomKeyStoreId"] == store_id
    assert kb.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CloudHsmClusterId"] == CLUSTER
    blob_b, opened_by = round_trip(kb, ka, key["KeyId"], b"sealed by B, opened by A")
    assert opened_by == key["Arn"]
    blob_a, opened_by = round_trip(ka, kb, key["KeyId"], b"sealed by A, opened by B")
    assert opened_by == key["Arn"]

    # 3. Disconnected through B: A refuses at its very next request.
    kb.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms_error(ka.encrypt, KeyId=key["KeyId"], Plaintext=b"x")[0] == "KMSInvalidStateException"
    assert kms_error(ka.decrypt, CiphertextBlob=blob_b, EncryptionContext={"via": "nodes"})[0] == "KMSInvalidStateException"
    assert ka.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Unavailable"
    assert store_state(ka, store_id) == "DISCONNECTED"
    assert kms_error(kb.encrypt, KeyId=key["KeyId"], Plaintext=b"x")[0] == "KMSInvalidStateException"

    # 4. Connected again through A: B logs in again (new connection id).
    ka.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(kb, store_id) == "CONNECTED"
    assert kb.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    round_trip(kb, ka, key["KeyId"], b"after the reconnect, B to A")
    round_trip(ka, kb, key["KeyId"], b"after the reconnect, A to B")
    assert kb.decrypt(CiphertextBlob=blob_a, EncryptionContext={"via": "nodes"})["Plaintext"] == b"sealed by A, opened by B"
    # Again with B still holding its login of the previous connection (its
    # probe drops a stale login only every few seconds): B's next request
    # logs in under the new connection id.
    ka.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms_error(kb.encrypt, KeyId=key["KeyId"], Plaintext=b"x")[0] == "KMSInvalidStateException"
    ka.connect_custom_key_store(CustomKeyStoreId=store_id)
    round_trip(kb, ka, key["KeyId"], b"after another reconnect, B to A")

    # 5. A key made through B works on A (a token object another process made);
    #    the key store cannot be deleted through either node while it has keys.
    key_b = kb.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"]
    round_trip(ka, kb, key_b["KeyId"], b"B's key, sealed by A")
    round_trip(kb, ka, key_b["KeyId"], b"B's key, sealed by B")
    for kms in (ka, kb):
        assert kms_error(kms.delete_custom_key_store, CustomKeyStoreId=store_id)[0] == "CustomKeyStoreInvalidStateException"
    ka.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    for kms in (ka, kb):
        assert kms_error(kms.delete_custom_key_store, CustomKeyStoreId=store_id)[0] == "CustomKeyStoreHasCMKsException"
        assert store_state(kms, store_id) == "DISCONNECTED"
    for t in (a, b):  # neither node saw a token fault
        with open(t.stderr_path, encoding="utf-8", errors="replace") as f:
            assert "FAILED" not in f.read(), t.stderr_tail()


# --- external key stores --------------------------------------------------------

# The proxy fixture: `trent xks-proxy` on TLS for `localhost`, key `key-1` in
# its data directory or in a SoftHSM2 token, one credential.
from test_external_key_stores import PREFIX as XKS_PREFIX, proxy, proxy_cmd  # noqa: E402,F401
from conftest import note_secret  # noqa: E402


def xks_credential(cred):
    return {"AccessKeyId": cred["AccessKeyId"], "RawSecretAccessKey": cred["SecretAccessKey"]}


def test_an_external_key_store_is_shared_by_every_node(proxy, cluster):
    """One external key store, two nodes: created and connected through A,
    it is CONNECTED on B and its keys work there (the proxy credential,
    sealed under the shared root key, is read from the store on each use);
    a credential rotated through A is the one B signs with at once; a
    disconnect through B holds on A at its very next request."""
    c = cluster(["--xks-ca-bundle", str(proxy["cert"]), "--xks-connect-to", f"localhost=127.0.0.1:{proxy['port']}"])
    a, b = c.start(2)
    ka, kb = c.client(a), c.client(b)

    # 1. Created and connected through A; B sees it CONNECTED.
    store_id = ka.create_custom_key_store(
        CustomKeyStoreName="shared-xks", CustomKeyStoreType="EXTERNAL_KEY_STORE", XksProxyConnectivity="PUBLIC_ENDPOINT",
        XksProxyUriEndpoint="https://localhost", XksProxyUriPath=f"{XKS_PREFIX}/kms/xks/v1",
        XksProxyAuthenticationCredential=xks_credential(proxy["cred"]),
    )["CustomKeyStoreId"]
    assert store_state(kb, store_id) == "DISCONNECTED"
    ka.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(ka, store_id) == "CONNECTED"
    assert store_state(kb, store_id) == "CONNECTED"

    # 2. A key made through A works through B, both ways; B cannot make a
    #    second KMS key on the same external key in this key store.
    key = ka.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="key-1")["KeyMetadata"]
    assert kb.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["XksKeyConfiguration"] == {"Id": "key-1"}
    assert kms_error(kb.create_key, Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId="key-1")[0] == "XksKeyAlreadyInUseException"
    blob_a, opened_by = round_trip(ka, kb, key["KeyId"], b"sealed on A, opened on B")
    assert opened_by == key["Arn"] and blob_a[1] == 0x02
    blob_b, _ = round_trip(kb, ka, key["KeyId"], b"sealed on B, opened on A")
    data_key = kb.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert ka.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]

    # 3. The proxy credential rotated through A (new on the proxy, given to
    #    KMS, old deleted on the proxy): B signs with the new one at once.
    out = proxy_cmd(proxy["data_dir"], "credential", "create")
    rotated = dict(line.split(": ", 1) for line in out.splitlines())
    note_secret(rotated["SecretAccessKey"])
    ka.update_custom_key_store(CustomKeyStoreId=store_id, XksProxyAuthenticationCredential=xks_credential(rotated))
    proxy_cmd(proxy["data_dir"], "credential", "delete", "--access-key-id", proxy["cred"]["AccessKeyId"])
    assert kb.decrypt(CiphertextBlob=blob_a, EncryptionContext={"via": "nodes"})["Plaintext"] == b"sealed on A, opened on B"
    round_trip(kb, ka, key["KeyId"], b"after the rotation, B to A")

    # 4. Disconnected through B: A refuses at its very next request.
    kb.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(ka, store_id) == "DISCONNECTED"
    assert kms_error(ka.decrypt, CiphertextBlob=blob_b, EncryptionContext={"via": "nodes"})[0] == "KMSInvalidStateException"
    assert kms_error(ka.encrypt, KeyId=key["KeyId"], Plaintext=b"x")[0] == "KMSInvalidStateException"
    assert ka.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Unavailable"

    # 5. Connected again through B (with the rotated credential): A works.
    kb.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert store_state(ka, store_id) == "CONNECTED"
    assert ka.decrypt(CiphertextBlob=blob_b, EncryptionContext={"via": "nodes"})["Plaintext"] == b"sealed on B, opened on A"
    ka.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    for kms in (ka, kb):
        assert kms_error(kms.delete_custom_key_store, CustomKeyStoreId=store_id)[0] == "CustomKeyStoreHasCMKsException"
