"""End-to-end fixtures: the real `trent` binary ($TRENT_BIN), driven by the
stock aws CLI (v1), boto3 and raw signed HTTP.

Every server is started in its own temporary data directory on a free port
(`--listen 127.0.0.1:0`); the port is read from the first line it prints.
Each process is stopped by the fixture that made it, and any left running at
the end of the session is killed.
"""

import atexit
import base64
import glob
import collections
import configparser
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from unittest import mock

import boto3
import botocore.auth
import botocore.client
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import pytest

REGION = "us-east-1"
DEV_ACCOUNT = "123456789012"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
LISTENING = re.compile(r"^Trent listening on (https?://127\.0\.0\.1:\d+)$")

_running = []  # every Trent started, so the session can kill what is left
_all_trents = []  # every Trent made, so the session can scan their audit logs

# Every secret value the tests sent or were sent (plaintexts, data keys,
# ciphertext blobs, random bytes, secret access keys): at the end of the
# session no audit log of any server may hold one, in any encoding.
SECRETS = set()
SECRET_MEMBERS = (
    "Plaintext", "CiphertextBlob", "SourceCiphertextBlob", "Message", "Signature", "Mac",
    "SecretAccessKey", "SessionToken", "Password", "NewPassword", "OldPassword",
)


def note_secret(value):
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, (bytes, bytearray)) and value:
        SECRETS.add(bytes(value))


def note_secret_members(d):
    """Notes the secret members of a request or answer, at any depth
    (AssumeRole's Credentials.SecretAccessKey, CreateAccessKey's AccessKey...)."""
    if isinstance(d, dict):
        for name, value in d.items():
            if name in SECRET_MEMBERS:
                note_secret(value)
            else:
                note_secret_members(value)
    elif isinstance(d, list):
        for item in d:
            note_secret_members(item)


# Every boto3 client of the run, whichever test made it (KMS, IAM, STS),
# reports what it sent and got.
_make_api_call = botocore.client.BaseClient._make_api_call


def _noting_api_call(self, operation_name, api_params):
    note_secret_members(api_params)
    out = _make_api_call(self, operation_name, api_params)
    note_secret_members(out)
    return out


botocore.client.BaseClient._make_api_call = _noting_api_call


def trent_bin_problem():
    path = os.environ.get("TRENT_BIN")
    if not path:
        return "TRENT_BIN is not set: run `cargo build --bin trent` and set TRENT_BIN=$PWD/target/debug/trent (./scripts/test does both)"
    if not os.access(path, os.X_OK):
        return f"TRENT_BIN={path} is not an executable file"
    return None


def pytest_sessionstart(session):
    problem = trent_bin_problem()
    if problem:
        pytest.exit(problem, returncode=pytest.ExitCode.USAGE_ERROR)


def trent_bin():
    return os.environ["TRENT_BIN"]


class AwsCliError(Exception):
    """A failed `aws` command: its exit code, stderr and the AWS error code in it."""

    def __init__(self, returncode, stderr):
        self.returncode = returncode
        self.stderr = stderr
        m = re.search(r"An error occurred \((\w+)\)", stderr)
        self.code = m.group(1) if m else None
        super().__init__(f"aws exited {returncode}: {stderr.strip()}")


class Trent:
    """One Trent server on one data directory, restartable."""

    def __init__(self, base_dir, dev=False, args=()):
        self.base_dir = str(base_dir)
        self.data_dir = os.path.join(self.base_dir, "data")
        self.dev = dev
        self.args = list(args)
        self.proc = None
        self.ended = False
        self.endpoint = None
        self.starts = 0
        _all_trents.append(self)

    # --- process control -------------------------------------------------

    def spawn(self, extra_args=()):
        """Starts the process without waiting for it to listen."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self.ended = False
        out_path = os.path.join(self.base_dir, f"stdout.{self.starts}.log")
        self.stderr_path = os.path.join(self.base_dir, f"stderr.{self.starts}.log")
        cmd = [trent_bin(), "serve", "--data-dir", self.data_dir, "--listen", "127.0.0.1:0"]
        if self.dev:
            cmd.append("--dev")
        cmd += self.args + list(extra_args)
        with open(out_path, "wb") as out, open(self.stderr_path, "wb") as err:
            # AWS's request quotas would throttle the tests' bursts; a test turns them on with --throttle on.
            env = {"TRENT_THROTTLE": "off", **os.environ}
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _running.append(self.proc)
        self.out_path = out_path
        return self

    def start(self, extra_args=()):
        self.spawn(extra_args)
        return self.wait_listening()

    def wait_listening(self):
        """Waits for the process `spawn` started to print where it listens."""
        self.endpoint = self._wait_for_listening(self.out_path)
        return self

    def _wait_for_listening(self, out_path):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with open(out_path, encoding="utf-8", errors="replace") as f:
                first = f.readline()
            if first.endswith("\n"):
                m = LISTENING.match(first.rstrip("\n"))
                if not m:
                    self.kill9()
                    pytest.fail(f"unexpected first line from trent: {first!r}\n{self.stderr_tail()}")
                return m.group(1)
            if self.proc.poll() is not None:
                self.ended = True  # reported here, not again at teardown
                pytest.fail(f"trent exited with {self.proc.returncode} before listening\n{self.stderr_tail()}")
            time.sleep(0.02)
        self.kill9()
        pytest.fail(f"trent did not print its listening line within {START_TIMEOUT}s\n{self.stderr_tail()}")

    def stderr_tail(self, lines=30):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        """SIGTERM and wait: a graceful shutdown must exit 0. Also fails if
        the server had died on its own since it started."""
        if self.proc is None or self.ended:  # never started, or we ended it
            return
        if self.proc.poll() is not None:
            pytest.fail(f"trent died on its own with exit code {self.proc.returncode}\n{self.stderr_tail()}")
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill9()
            pytest.fail(f"trent did not stop within {STOP_TIMEOUT}s of SIGTERM")
        self.ended = True
        assert code == 0, f"trent exited {code} on SIGTERM\n{self.stderr_tail()}"

    def kill9(self):
        """SIGKILL: the crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
        self.ended = True

    def restart(self, extra_args=()):
        self.stop()
        return self.start(extra_args)

    # --- clients -----------------------------------------------------------

    @property
    def credentials(self):
        """The admin's access key from <data_dir>/credentials (profile default)."""
        parser = configparser.ConfigParser()
        assert parser.read(os.path.join(self.data_dir, "credentials")), "no credentials file"
        return dict(parser["default"])

    def keys(self):
        c = self.credentials
        return c["aws_access_key_id"], c["aws_secret_access_key"]

    def boto3_client(self, region=REGION, access_key=None, secret_key=None, **kw):
        if access_key is None:
            access_key, secret_key = self.keys()
        config = botocore.config.Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30)
        kw.setdefault("config", config)
        note_secret(secret_key)
        session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region)
        return session.client("kms", endpoint_url=self.endpoint, **kw)

    def aws(self, *args, check=True, region=REGION):
        """Runs `aws <args>` against this server. Returns the parsed JSON
        answer; on failure raises AwsCliError (check=True) or returns it."""
        aws = shutil.which("aws")
        assert aws, "the aws CLI is not on PATH (pip install -r tests/python/requirements.txt)"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_SHARED_CREDENTIALS_FILE=os.path.join(self.data_dir, "credentials"),
            AWS_CONFIG_FILE="/dev/null",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_MAX_ATTEMPTS="1",
        )
        cmd = [aws, "--endpoint-url", self.endpoint, "--region", region, "--output", "json", *args]
        for flag, value in zip(args, args[1:]):
            if flag in ("--plaintext", "--ciphertext-blob"):
                note_secret(value)
                if value.startswith("fileb://") and os.path.exists(value[len("fileb://"):]):
                    with open(value[len("fileb://"):], "rb") as f:
                        note_secret(f.read())
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            err = AwsCliError(r.returncode, r.stderr)
            if check:
                raise err
            return err
        out = json.loads(r.stdout) if r.stdout.strip() else {}
        note_secret_members(out)
        for name in SECRET_MEMBERS:
            if isinstance(out, dict) and isinstance(out.get(name), str):
                note_secret(out[name])
                try:
                    note_secret(base64.b64decode(out[name], validate=True))
                except ValueError:
                    pass
        return out

    # --- raw HTTP ------------------------------------------------------------

    def raw(self, operation, body, sign=True, region=REGION, access_key=None, secret_key=None, headers=None, data=None, at=None):
        """POSTs one AWS JSON 1.1 request, SigV4-signed unless sign=False.
        `data` (bytes) replaces the JSON of `body`; `at` (epoch seconds)
        signs as of that time. Returns a Response."""
        if isinstance(body, dict):
            for name in SECRET_MEMBERS:
                if isinstance(body.get(name), str):
                    try:
                        note_secret(base64.b64decode(body[name], validate=True))
                    except ValueError:
                        note_secret(body[name])
        note_secret(secret_key)
        if data is None:
            data = json.dumps(body).encode()
        h = {"Content-Type": "application/x-amz-json-1.1"}
        if operation is not None:
            h["X-Amz-Target"] = f"TrentService.{operation}"
        h.update(headers or {})
        req = botocore.awsrequest.AWSRequest(method="POST", url=self.endpoint + "/", data=data, headers=h)
        if sign:
            if access_key is None:
                access_key, secret_key = self.keys()
            sign_request(req, access_key, secret_key, region, at)
        return send(req.prepare())


def sign_request(req, access_key, secret_key, region, at=None):
    creds = botocore.credentials.Credentials(access_key, secret_key)
    signer = botocore.auth.SigV4Auth(creds, "kms", region)
    if at is None:
        signer.add_auth(req)
        return
    # botocore signs with the current time; pin it to `at` instead.
    fixed = datetime.datetime.fromtimestamp(at, datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=fixed):
        signer.add_auth(req)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def error_code(self):
        """The `__type` of an error answer, without any `namespace#` prefix."""
        t = (self.json or {}).get("__type", "")
        return t.rsplit("#", 1)[-1] or None

    @property
    def message(self):
        j = self.json or {}
        return j.get("message", j.get("Message"))

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


def send(prepared):
    req = urllib.request.Request(prepared.url, data=prepared.body, method=prepared.method, headers=dict(prepared.headers.items()))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return Response(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


KmsError = collections.namedtuple("KmsError", "code status message")


def kms_error(call, *args, **kwargs):
    """Calls a boto3 client method that must fail; returns its KmsError
    (code, HTTP status, message), so `kms_error(...)[:2] == (code, 400)`."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    r = e.value.response
    return KmsError(r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message"))


SOFTHSM_MODULES = [
    os.environ.get("TRENT_SOFTHSM_MODULE", ""),
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
]


def softhsm_token(tmp_path, label, pin):
    """A fresh SoftHSM2 token labelled `label` with user PIN `pin`, in
    `tmp_path`: returns the module's path and the SOFTHSM2_CONF to hand to
    the processes that use it. Skips without SoftHSM2, unless
    TRENT_REQUIRE_SOFTHSM=1 (scripts/test), where it fails."""
    module = next((m for m in SOFTHSM_MODULES if m and os.path.isfile(m)), None)
    if module is None or shutil.which("softhsm2-util") is None:
        if os.environ.get("TRENT_REQUIRE_SOFTHSM") == "1":
            pytest.fail("SoftHSM2 is required (TRENT_REQUIRE_SOFTHSM=1); scripts/lib/softhsm.sh installs it")
        pytest.skip("SoftHSM2 is not installed")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "so-secret", "--pin", pin], check=True, capture_output=True, env=env)
    return module, str(conf)


def wait_key_store_state(t, store_id, want):
    """DescribeCustomKeyStores through the aws CLI until the key store is
    `want` (20 s at most); its entry."""
    deadline = time.time() + 20
    while True:
        entry = t.aws("kms", "describe-custom-key-stores", "--custom-key-store-id", store_id)["CustomKeyStores"][0]
        if entry["ConnectionState"] == want or time.time() > deadline:
            assert entry["ConnectionState"] == want, entry
            return entry
        time.sleep(0.2)


def delete_key_store_and_its_key(t, store_id, key_id):
    """The end of AWS's key store walkthrough, through the aws CLI: the
    store is not deleted while it holds a key; the key's deletion is
    scheduled and happens at a start eight days later; then the store goes."""
    err = t.aws("kms", "delete-custom-key-store", "--custom-key-store-id", store_id, check=False)
    assert err.code == "CustomKeyStoreHasCMKsException"
    t.aws("kms", "schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", "7")
    # Eight days later the key is destroyed at start-up (seen back on today's clock).
    t.restart(["--clock-offset-secs", str(8 * 24 * 3600)])
    t.restart()
    assert t.aws("kms", "describe-key", "--key-id", key_id, check=False).code == "NotFoundException"
    t.aws("kms", "delete-custom-key-store", "--custom-key-store-id", store_id)
    assert t.aws("kms", "describe-custom-key-stores")["CustomKeyStores"] == []


# --- fixtures -------------------------------------------------------------------


def _kill_leftovers():
    for proc in _running:
        if proc.poll() is None:
            proc.kill()
            proc.wait(STOP_TIMEOUT)


atexit.register(_kill_leftovers)  # even if the session is interrupted


@pytest.fixture(scope="session", autouse=True)
def _no_leftovers():
    yield
    _kill_leftovers()


def secret_forms(secret):
    """The ways a secret could show up in a JSON log: base64 (how JSON
    carries blobs), hex, and as text when it is text. Short or repetitive
    text (a plaintext b"baseline" that a test also uses as an encryption
    context value, a fake secret "x" * 40) is matched only in base64 and hex,
    where it cannot collide with what an event may legitimately hold."""
    forms = []
    if len(secret) >= 6:
        forms.append(base64.b64encode(secret))
    if len(secret) >= 8:
        forms.append(secret.hex().encode())
    if len(secret) >= 12 and len(set(secret)) >= 6 and all(32 <= b < 127 for b in secret):
        forms.append(secret)
    return forms


@pytest.fixture(scope="session", autouse=True)
def _audit_logs_hold_no_secret():
    """After the whole run: every server's audit log verifies, and none
    holds any secret the tests used, nor any server's secret access key."""
    yield
    _kill_leftovers()
    for t in _all_trents:
        creds = os.path.join(t.data_dir, "credentials")
        if os.path.exists(creds):
            parser = configparser.ConfigParser()
            parser.read(creds)
            for section in parser.sections():
                note_secret(parser[section].get("aws_secret_access_key", ""))
    forms = [(s, f) for s in SECRETS for f in secret_forms(s)]
    assert forms, "the tests used no secret: the scan would prove nothing"
    events = 0
    problems = []
    for t in _all_trents:
        files = sorted(glob.glob(os.path.join(t.data_dir, "audit", "audit-*.jsonl")))
        if not files:
            continue
        for path in files:
            with open(path, "rb") as f:
                text = f.read()
            events += text.count(b'"recordType":"event"')
            for secret, form in forms:
                if form in text:
                    problems.append(f"{path} holds a secret ({len(secret)} bytes) as {form[:12]!r}...")
        r = subprocess.run([trent_bin(), "audit", "verify", "--data-dir", t.data_dir], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            problems.append(f"trent audit verify --data-dir {t.data_dir} exited {r.returncode}: {r.stdout}{r.stderr}")
    assert events > 0, "no audit events were written during the run"
    assert not problems, "\n".join(problems[:20])


def _factory(tmp_path_factory):
    """A function that starts Trent servers in fresh data directories, and
    the list of what it started."""
    made = []

    def make(dev=False, args=()):
        t = Trent(tmp_path_factory.mktemp("trent"), dev=dev, args=args)
        made.append(t)
        return t.start()

    return make, made


def _stop_all(made):
    for t in made:
        t.stop()  # graceful, and checks the exit code; kills if it hangs


@pytest.fixture(scope="module")
def trent_factory(tmp_path_factory):
    """Servers shared by the tests of a module; stopped at its end."""
    make, made = _factory(tmp_path_factory)
    yield make
    _stop_all(made)


@pytest.fixture(scope="module")
def secure_trent(trent_factory):
    """A secure-mode server shared by a test module."""
    return trent_factory()


@pytest.fixture(scope="module")
def dev_trent(trent_factory):
    """A dev-mode server shared by a test module."""
    return trent_factory(dev=True)


@pytest.fixture
def new_trent(tmp_path_factory):
    """Servers of one test's own (for tests that restart or kill them)."""
    make, made = _factory(tmp_path_factory)
    yield make
    _stop_all(made)
