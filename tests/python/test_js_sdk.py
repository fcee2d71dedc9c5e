"""End to end through the AWS SDK for JavaScript v3 (`@aws-sdk/client-kms`,
pinned in tests/js/package.json), unmodified, against a secure Trent:
CreateKey, Encrypt, Decrypt and GenerateDataKey, with long-term and with
temporary (STS) credentials, and a wrong secret refused.

The npm packages are installed into tests/js/node_modules on first use
(`npm ci`). Without node or npm on PATH the tests are skipped and say so.
"""

import json
import os
import shutil
import subprocess

import pytest

from conftest import note_secret
from test_identity import kms_role_session

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "js")
SCRIPT = os.path.join(JS_DIR, "kms_roundtrip.mjs")


@pytest.fixture(scope="module")
def node():
    """The node binary, with the pinned SDK installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the JavaScript SDK v3 test and are not on PATH")
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "@aws-sdk", "client-kms")):
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"npm ci in tests/js failed:\n{r.stdout}\n{r.stderr}"
    return node


@pytest.fixture(scope="module")
def t(secure_trent):
    return secure_trent


def run(node, t, access_key, secret_key, token=None, region="us-east-1"):
    note_secret(secret_key)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(TRENT_ENDPOINT=t.endpoint, AWS_REGION=region, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key,
               AWS_EC2_METADATA_DISABLED="true")
    if token:
        env["AWS_SESSION_TOKEN"] = token
    r = subprocess.run([node, "--no-warnings", SCRIPT], cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"node exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_round_trip(out, region="us-east-1"):
    assert "error" not in out, out
    arn = out["arn"]
    assert arn.startswith(f"arn:aws:kms:{region}:") and arn.endswith(out["keyId"]), out
    assert out["keyState"] == "Enabled"
    assert out["encryptKeyId"] == out["decryptKeyId"] == out["dataKeyKeyId"] == arn
    assert out["roundTrip"] is True and out["dataKeyRoundTrip"] is True
    assert out["dataKeyBytes"] == 32
    assert out["wrongContext"] == "InvalidCiphertextException"


def test_the_js_sdk_v3_signs_requests_trent_accepts(node, t):
    access_key, secret_key = t.keys()
    out = run(node, t, access_key, secret_key)
    check_round_trip(out)
    # The key is the server's: boto3 sees and uses it.
    kms = t.boto3_client()
    assert kms.describe_key(KeyId=out["keyId"])["KeyMetadata"]["Arn"] == out["arn"]
    # Another region, from the credential scope as always.
    check_round_trip(run(node, t, access_key, secret_key, region="eu-central-2"), region="eu-central-2")


def test_the_js_sdk_v3_with_temporary_credentials(node, t):
    c = kms_role_session(t, "js")
    # The session token goes in X-Amz-Security-Token, which the SDK signs.
    check_round_trip(run(node, t, c["AccessKeyId"], c["SecretAccessKey"], token=c["SessionToken"]))


def test_the_js_sdk_v3_with_a_wrong_secret_is_refused(node, t):
    access_key, _ = t.keys()
    out = run(node, t, access_key, "x" * 40)
    assert out["error"]["name"] == "InvalidSignatureException", out
    assert out["error"]["status"] == 400
