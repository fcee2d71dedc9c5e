"""HTTPS (`--tls-cert`, `--tls-key`) through the stock aws CLI, trusting a
private CA with `--ca-bundle`; and the dev-mode "Try:" line, run as printed
by a shell without any AWS credentials configured."""

import base64
import os
import re
import subprocess

import pytest

from conftest import REGION, Trent


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA and a server certificate it issued for 127.0.0.1 and localhost."""
    d = str(tmp_path_factory.mktemp("pki"))
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=Trent test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "san.ext", "-out", "server.pem", cwd=d)
    return d


@pytest.fixture(scope="module")
def tls_trent(tmp_path_factory, pki):
    t = Trent(tmp_path_factory.mktemp("trent"), args=[
        "--tls-cert", os.path.join(pki, "server.pem"), "--tls-key", os.path.join(pki, "server.key")]).start()
    yield t
    t.stop()


def test_the_aws_cli_works_over_tls_with_ca_bundle(tls_trent, pki, tmp_path):
    assert tls_trent.endpoint.startswith("https://127.0.0.1:")
    ca = ["--ca-bundle", os.path.join(pki, "ca.pem")]
    key = tls_trent.aws(*ca, "kms", "create-key", "--description", "over tls")["KeyMetadata"]["KeyId"]
    plain = tmp_path / "plain"
    plain.write_bytes(b"secret over tls")
    blob = tls_trent.aws(*ca, "kms", "encrypt", "--key-id", key, "--plaintext", f"fileb://{plain}")["CiphertextBlob"]
    sealed = tmp_path / "sealed"
    sealed.write_bytes(base64.b64decode(blob))
    out = tls_trent.aws(*ca, "kms", "decrypt", "--ciphertext-blob", f"fileb://{sealed}", "--key-id", key)
    assert base64.b64decode(out["Plaintext"]) == b"secret over tls"


def test_without_the_ca_the_cli_refuses_the_certificate(tls_trent):
    err = tls_trent.aws("kms", "list-keys", check=False)
    assert err.returncode != 0
    assert "SSL" in err.stderr or "certificate" in err.stderr, err.stderr


def test_plain_http_to_the_tls_port_gets_no_answer(tls_trent):
    plain = tls_trent.endpoint.replace("https://", "http://")
    r = subprocess.run(["aws", "--endpoint-url", plain, "--region", REGION, "kms", "list-keys"],
                       env={**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_MAX_ATTEMPTS": "1"},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0


def test_the_dev_mode_try_line_works_without_aws_credentials(tmp_path):
    t = Trent(tmp_path, dev=True).start()
    try:
        with open(t.out_path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        try_line = next(line for line in lines if line.startswith("Try: "))[len("Try: "):]
        assert re.search(r"--endpoint-url http://127\.0\.0\.1:\d+ ", try_line), try_line
        home = tmp_path / "home"
        home.mkdir()
        # A shell as a new user has it: no AWS_* variables, no ~/.aws.
        env = {"PATH": os.environ["PATH"], "HOME": str(home)}
        r = subprocess.run(["sh", "-c", try_line], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert '"Keys"' in r.stdout
    finally:
        t.stop()


def test_identity_policies_see_secure_transport_over_tls(tls_trent, pki):
    """A user whose policy denies everything without TLS is served over it,
    by IAM (the Query protocol) and KMS alike."""
    import json
    import boto3
    ca = os.path.join(pki, "ca.pem")
    admin_id, admin_secret = tls_trent.keys()

    def client(service, key_id, secret):
        return boto3.client(service, endpoint_url=tls_trent.endpoint, region_name=REGION, verify=ca,
                            aws_access_key_id=key_id, aws_secret_access_key=secret)

    iam = client("iam", admin_id, admin_secret)
    iam.create_user(UserName="tls-only")
    iam.put_user_policy(UserName="tls-only", PolicyName="tls-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["iam:ListUsers", "kms:ListKeys"], "Resource": "*"},
            {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ]}))
    key = iam.create_access_key(UserName="tls-only")["AccessKey"]
    client("iam", key["AccessKeyId"], key["SecretAccessKey"]).list_users()
    client("kms", key["AccessKeyId"], key["SecretAccessKey"]).list_keys()
