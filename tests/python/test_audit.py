"""The audit log seen from the outside: events from the aws CLI and boto3
name their client and caller, `trent audit query` and `verify` work on a live
data directory and on an offline copy, and the stdout sink carries the same
records after the listening line."""

import base64
import glob
import json
import os
import shutil
import subprocess

import boto3
import botocore.exceptions
import pytest

from conftest import trent_bin


def trent_audit(*args):
    r = subprocess.run([trent_bin(), "audit", *args], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def query(t, *args):
    code, out = trent_audit("query", "--data-dir", t.data_dir, *args)
    assert code == 0, out
    return [json.loads(line) for line in out.splitlines()]


def test_cli_and_boto3_calls_are_recorded_with_their_caller(secure_trent, tmp_path):
    t = secure_trent
    key = t.aws("kms", "create-key", "--description", "audit e2e")["KeyMetadata"]
    plaintext = tmp_path / "p.bin"
    plaintext.write_bytes(b"audit end-to-end plaintext 42")
    blob = t.aws("kms", "encrypt", "--key-id", key["KeyId"], "--plaintext", f"fileb://{plaintext}", "--encryption-context", "app=audit")["CiphertextBlob"]
    kms = t.boto3_client()
    out = kms.decrypt(CiphertextBlob=base64.b64decode(blob), EncryptionContext={"app": "audit"})
    assert out["Plaintext"] == plaintext.read_bytes()

    access_key, _ = t.keys()
    [enc] = query(t, "--event-name", "Encrypt", "--key", key["KeyId"])
    assert enc["userAgent"].startswith("aws-cli/"), enc["userAgent"]
    assert enc["userIdentity"]["accessKeyId"] == access_key
    assert enc["requestParameters"] == {"keyId": key["KeyId"], "encryptionContext": {"app": "audit"}}
    assert enc["resources"][0]["ARN"] == key["Arn"]
    [dec] = query(t, "--event-name", "Decrypt", "--key", key["Arn"])
    assert "Boto3/" in dec["userAgent"] or "botocore/" in dec["userAgent"], dec["userAgent"]
    assert "ciphertextBlob" not in dec["requestParameters"]
    assert [e["eventName"] for e in query(t, "--key", key["KeyId"], "--principal", access_key)] == ["CreateKey", "Encrypt", "Decrypt"]

    code, table = trent_audit("query", "--data-dir", t.data_dir, "--key", key["KeyId"], "--output", "table")
    assert code == 0 and table.splitlines()[0].split()[:2] == ["TIME", "EVENT"], table
    assert len(table.splitlines()) == 4, table


def test_an_offline_copy_verifies_with_the_exported_key_and_an_edit_is_named(new_trent, tmp_path):
    t = new_trent()
    kms = t.boto3_client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for i in range(3):
        kms.encrypt(KeyId=key_id, Plaintext=f"offline copy secret {i}".encode())
    t.stop()
    code, out = trent_audit("verify", "--data-dir", t.data_dir, "--require-signed")
    assert code == 0, out
    pem = tmp_path / "audit.pem"
    code, out = trent_audit("export-public-key", "--data-dir", t.data_dir, "--out", str(pem))
    assert code == 0, out
    files = sorted(os.path.join(t.data_dir, "audit", f) for f in os.listdir(os.path.join(t.data_dir, "audit")) if f.endswith(".jsonl"))
    copy = tmp_path / "copy.jsonl"
    shutil.copy(files[0], copy)
    code, out = trent_audit("verify", "--log", str(copy), "--public-key", str(pem))
    assert code == 0 and out.startswith("OK: "), out
    lines = copy.read_text().splitlines()
    lines[2] = lines[2].replace('"Encrypt"', '"Decrypt"')
    copy.write_text("\n".join(lines) + "\n")
    code, out = trent_audit("verify", "--log", str(copy), "--public-key", str(pem))
    assert code == 1, out
    assert out.startswith(f"FAILED: record seq 3 at {copy}:3:"), out


def test_the_stdout_sink_prints_the_records_after_the_listening_line(new_trent):
    t = new_trent(args=["--audit-sink", "stdout", "--audit-sink", "file"])
    t.boto3_client().list_keys()
    t.stop()
    with open(os.path.join(t.base_dir, "stdout.1.log")) as f:
        printed = f.read().splitlines()
    assert printed[0].startswith("Trent listening on http://127.0.0.1:")
    records = [line for line in printed if line.startswith('{"seq":')]
    files = sorted(os.path.join(t.data_dir, "audit", f) for f in os.listdir(os.path.join(t.data_dir, "audit")) if f.endswith(".jsonl"))
    in_file = [line for path in files for line in open(path).read().splitlines()]
    assert records == in_file and len(records) == 2  # the ListKeys event and the shutdown digest
    assert json.loads(records[0])["event"]["eventName"] == "ListKeys"


def test_iam_and_sts_requests_are_recorded_without_their_secrets(secure_trent):
    t = secure_trent
    access_key, secret = t.keys()
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret, region_name="us-east-1")
    iam = session.client("iam", endpoint_url=t.endpoint)
    sts = session.client("sts", endpoint_url=t.endpoint)
    iam.create_user(UserName="audited-user")
    key = iam.create_access_key(UserName="audited-user")["AccessKey"]
    account = sts.get_caller_identity()["Account"]

    [user] = query(t, "--event-name", "CreateUser")
    assert (user["eventSource"], user["readOnly"], user["requestParameters"]) == ("iam.amazonaws.com", False, {"userName": "audited-user"})
    assert user["userIdentity"]["accessKeyId"] == access_key and user["recipientAccountId"] == account
    [created] = query(t, "--event-name", "CreateAccessKey")
    assert created["responseElements"] is None and key["SecretAccessKey"] not in json.dumps(created)
    [caller] = query(t, "--event-name", "GetCallerIdentity")
    assert (caller["eventSource"], caller["readOnly"]) == ("sts.amazonaws.com", True)
    # A refused IAM call is recorded with IAM's error code.
    with pytest.raises(botocore.exceptions.ClientError):
        iam.get_user(UserName="nobody-here")
    [missing] = query(t, "--event-name", "GetUser", "--error-code", "NoSuchEntity")
    assert missing["requestParameters"] == {"userName": "nobody-here"}


def test_a_role_session_is_recorded_as_an_assumed_role(secure_trent):
    t = secure_trent
    admin_key, admin_secret = t.keys()
    admin = boto3.session.Session(aws_access_key_id=admin_key, aws_secret_access_key=admin_secret, region_name="us-east-1")
    iam = admin.client("iam", endpoint_url=t.endpoint)
    user = iam.create_user(UserName="audit-role-user")["User"]
    key = iam.create_access_key(UserName="audit-role-user")["AccessKey"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": [user["Arn"]]}, "Action": "sts:AssumeRole"}]})
    role_arn = iam.create_role(RoleName="audit-role", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    # The role's sessions use KMS under an identity policy (the default key policy delegates to IAM).
    kms_policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
    iam.put_role_policy(RoleName="audit-role", PolicyName="kms", PolicyDocument=kms_policy)
    as_user = boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name="us-east-1")
    c = as_user.client("sts", endpoint_url=t.endpoint).assume_role(RoleArn=role_arn, RoleSessionName="audit-session")["Credentials"]
    temp = boto3.session.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"], region_name="us-east-1")
    kms = temp.client("kms", endpoint_url=t.endpoint)
    key_id = kms.create_key(Description="by a role session")["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key_id, Plaintext=b"role session secret 0001")

    [assumed] = query(t, "--event-name", "AssumeRole")
    assert assumed["requestParameters"] == {"roleArn": role_arn, "roleSessionName": "audit-session"}
    assert assumed["userIdentity"]["userName"] == "audit-role-user" and assumed["responseElements"] is None
    [enc] = query(t, "--event-name", "Encrypt", "--key", key_id)
    who = enc["userIdentity"]
    account = role_arn.split(":")[4]
    assert who["type"] == "AssumedRole" and who["arn"] == f"arn:aws:sts::{account}:assumed-role/audit-role/audit-session", who
    assert who["accessKeyId"] == c["AccessKeyId"] and who["principalId"] == "audit-role:audit-session"
    assert who["sessionContext"]["sessionIssuer"]["arn"] == role_arn
    log = "".join(open(p).read() for p in sorted(glob.glob(os.path.join(t.data_dir, "audit", "audit-*.jsonl"))))
    for secret in (c["SessionToken"], c["SecretAccessKey"], key["SecretAccessKey"]):
        assert secret not in log
