"""Trusted services (`--trusted-service NAME=ARN`, `X-Trent-On-Behalf-Of`):
whom a service may act for. Only principals that exist, of its own account
unless the operator allowed others (`--trusted-service-accounts`), and
never another account's root, a role or a role session.

Driven through boto3, the service adding the header in a `before-sign`
hook (so it is signed) as test_authz.py does.
"""

import configparser
import json
import subprocess

import http.client

import boto3
import botocore.awsrequest
import botocore.exceptions
import pytest

from conftest import sign_request, trent_bin

SERVICE = "s3.us-east-1.amazonaws.com"
OTHER = "310987654321"
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def code_of(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


@pytest.fixture(scope="module")
def world(trent_factory):
    """Account A with the service's principal `gateway`, `ann` and a role;
    account B (OTHER) with its root's key and `bob`, allowed everything by
    B's IAM. Trent restarted with the gateway as a trusted service."""
    t = trent_factory()
    ak, sk = t.keys()
    iam = boto3.client("iam", endpoint_url=t.endpoint, region_name="us-east-1", aws_access_key_id=ak, aws_secret_access_key=sk)
    made = {}
    for who in ("gateway", "ann"):
        arn = iam.create_user(UserName=who)["User"]["Arn"]
        k = iam.create_access_key(UserName=who)["AccessKey"]
        made[who] = (arn, k["AccessKeyId"], k["SecretAccessKey"])
    account = made["ann"][0].split(":")[4]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": made["ann"][0]}, "Action": "sts:AssumeRole"}]}
    made["role"] = iam.create_role(RoleName="ops", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_user_policy(UserName="ann", PolicyName="all", PolicyDocument=ALLOW_ALL)
    r = subprocess.run([trent_bin(), "account", "create", "--data-dir", t.data_dir, "--account-id", OTHER, "--profile", "b", "--with-root-key"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    creds = configparser.ConfigParser()
    creds.read_string(r.stdout)
    b_root = creds["b-root"]
    b_iam = boto3.client("iam", endpoint_url=t.endpoint, region_name="us-east-1", aws_access_key_id=b_root["aws_access_key_id"], aws_secret_access_key=b_root["aws_secret_access_key"])
    made["b-root"] = (f"arn:aws:iam::{OTHER}:root", b_root["aws_access_key_id"], b_root["aws_secret_access_key"])
    made["bob"] = b_iam.create_user(UserName="bob")["User"]["Arn"]
    b_iam.put_user_policy(UserName="bob", PolicyName="all", PolicyDocument=ALLOW_ALL)
    t.restart(["--trusted-service", f"{SERVICE}={made['gateway'][0]}"])
    return t, account, made


def via(t, made, on_behalf, who="gateway"):
    """A KMS client signing as `who`, naming `on_behalf` (signed)."""
    c = t.boto3_client(access_key=made[who][1], secret_key=made[who][2])

    def add(request, **_):
        request.headers["X-Trent-On-Behalf-Of"] = on_behalf

    c.meta.events.register("before-sign.kms.*", add)
    return c


def keys_of(t, made, who):
    return t.boto3_client(access_key=made[who][1], secret_key=made[who][2]).list_keys()["Keys"]


def test_a_user_of_its_own_account(world):
    t, account, made = world
    out = via(t, made, made["ann"][0]).create_key(Description="for ann")["KeyMetadata"]
    assert out["AWSAccountId"] == account
    # And the root of its own account.
    assert via(t, made, f"arn:aws:iam::{account}:root").create_key()["KeyMetadata"]["AWSAccountId"] == account


def test_not_the_root_or_users_of_another_account(world):
    t, account, made = world
    for caller in [f"arn:aws:iam::{OTHER}:root", made["bob"]]:
        code, message = code_of(via(t, made, caller).create_key)
        assert code == "AccessDeniedException", (caller, message)
        assert "another account" in message, message
    assert keys_of(t, made, "b-root") == [], "a key was made in the other account"


def test_roles_sessions_unknown_and_malformed_callers_are_refused(world):
    t, account, made = world
    for caller in [
        made["role"],
        f"arn:aws:sts::{account}:assumed-role/ops/s1",
        f"arn:aws:iam::{account}:user/nobody",
        f"arn:aws:iam::{account}:user/",
        f"arn:aws:iam::{account}:role/ops/../../root",
        "not-an-arn",
    ]:
        code, message = code_of(via(t, made, caller).list_keys)
        assert code == "AccessDeniedException", (caller, message)


def test_the_header_once_and_only_from_the_service(world):
    t, account, made = world
    # Sent twice (both signed): which one would count? Neither.
    req = botocore.awsrequest.AWSRequest(method="POST", url=t.endpoint + "/", data=b"{}", headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
    req.headers.add_header("X-Trent-On-Behalf-Of", made["ann"][0])
    req.headers.add_header("X-Trent-On-Behalf-Of", f"arn:aws:iam::{account}:root")
    sign_request(req, made["gateway"][1], made["gateway"][2], "us-east-1")
    host, port = t.endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/", skip_accept_encoding=True)
    for name, value in req.headers.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", "2")
    conn.endheaders(b"{}")
    answer = conn.getresponse()
    body = json.loads(answer.read())
    conn.close()
    assert (answer.status, body["__type"]) == (400, "AccessDeniedException"), body
    assert "once" in body["message"], body
    code, message = code_of(via(t, made, made["gateway"][0], who="ann").list_keys)
    assert code == "AccessDeniedException" and "not a trusted service" in message, message


def test_the_operator_can_allow_users_of_other_accounts(world):
    t, account, made = world
    t.restart(["--trusted-service", f"{SERVICE}={made['gateway'][0]}", "--trusted-service-accounts", f"{SERVICE}={OTHER}"])
    try:
        key = via(t, made, made["bob"]).create_key(Description="for bob")["KeyMetadata"]
        assert key["AWSAccountId"] == OTHER and key["Arn"].startswith(f"arn:aws:kms:us-east-1:{OTHER}:key/")
        assert [k["KeyId"] for k in keys_of(t, made, "b-root")] == [key["KeyId"]]
        # Still never another account's root.
        code, message = code_of(via(t, made, f"arn:aws:iam::{OTHER}:root").create_key)
        assert code == "AccessDeniedException" and "root of its own account" in message, message
    finally:
        t.restart(["--trusted-service", f"{SERVICE}={made['gateway'][0]}"])


def test_accounts_for_an_unknown_service_stop_the_start(tmp_path):
    r = subprocess.run(
        [trent_bin(), "serve", "--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.1:0", "--trusted-service-accounts", f"sqs.us-east-1.amazonaws.com={OTHER}"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode != 0
    assert "no --trusted-service defines" in r.stderr, r.stderr
    r = subprocess.run(
        [trent_bin(), "serve", "--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.1:0", "--trusted-service-accounts", f"{SERVICE}=12345"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode != 0 and "12-digit" in r.stderr, r.stderr
