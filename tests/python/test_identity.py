"""Identity: IAM users, roles, policies and access keys, and STS, through the
stock aws CLI (v1) and boto3 against a secure-mode Trent on one endpoint.

The walkthrough of the identity issue runs verbatim (`aws configure
--profile dave` done with `aws configure set`, which writes the same file).
"""

import base64
import configparser
import datetime
import json
import os
import shutil
import subprocess
import time
import urllib.parse
import uuid
from unittest import mock

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import REGION, AwsCliError, Trent, trent_bin

NO_RETRY = botocore.config.Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Cli:
    """The aws CLI with a credentials file of its own (profiles added with
    `aws configure set`, as a user would)."""

    def __init__(self, t, directory):
        self.t = t
        self.creds = os.path.join(directory, "credentials")
        self.config = os.path.join(directory, "config")
        shutil.copy(os.path.join(t.data_dir, "credentials"), self.creds)
        open(self.config, "w").close()

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_SHARED_CREDENTIALS_FILE=self.creds, AWS_CONFIG_FILE=self.config, AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="1")
        return env

    def __call__(self, *args, profile=None, check=True):
        aws = shutil.which("aws")
        assert aws, "the aws CLI is not on PATH"
        cmd = [aws, "--endpoint-url", self.t.endpoint, "--region", REGION, "--output", "json", *args]
        if profile:
            cmd += ["--profile", profile]
        r = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            err = AwsCliError(r.returncode, r.stderr)
            if check:
                raise err
            return err
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def fails(self, *args, profile=None):
        """The AWS error code the CLI reports for a command that must fail."""
        err = self(*args, profile=profile, check=False)
        assert isinstance(err, AwsCliError), f"expected a failure: {args} -> {err}"
        return err.code

    def configure(self, profile, access_key, secret):
        for name, value in (("aws_access_key_id", access_key), ("aws_secret_access_key", secret)):
            subprocess.run([shutil.which("aws"), "configure", "set", name, value, "--profile", profile], env=self.env(), check=True, timeout=60)


@pytest.fixture(scope="module")
def t(secure_trent):
    return secure_trent


@pytest.fixture(scope="module")
def aws(t, tmp_path_factory):
    return Cli(t, tmp_path_factory.mktemp("identity-cli"))


def session(t, access_key=None, secret=None, token=None):
    if access_key is None:
        access_key, secret = t.keys()
    return boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret, aws_session_token=token, region_name=REGION)


def client(t, service, **creds):
    return session(t, **creds).client(service, endpoint_url=t.endpoint, config=NO_RETRY)


def error_of(call, *args, **kwargs):
    """(code, HTTP status) of a boto3 call that must fail."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    r = e.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def new_user_with_key(iam, name=None):
    name = name or unique("user")
    user = iam.create_user(UserName=name)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return user, key


def trust(*aws_principals):
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": list(aws_principals)}, "Action": "sts:AssumeRole"}]})


def kms_role_session(t, session_name):
    """Temporary credentials (STS `Credentials`) of a fresh role allowed
    `kms:*`, assumed by a fresh user."""
    iam = client(t, "iam")
    user, key = new_user_with_key(iam)
    role_arn = iam.create_role(RoleName=unique(session_name), AssumeRolePolicyDocument=trust(user["Arn"]))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role_arn.rsplit("/", 1)[1], PolicyName="kms", PolicyDocument=KMS_ALL)
    sts = client(t, "sts", access_key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    return sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]


ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
KMS_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})


# --- the walkthrough ----------------------------------------------------------------


def test_the_walkthrough_runs_verbatim(aws, tmp_path):
    created = aws("iam", "create-user", "--user-name", "dave")["User"]
    account = created["Arn"].split(":")[4]
    assert created["Arn"] == f"arn:aws:iam::{account}:user/dave"
    assert created["UserName"] == "dave" and created["UserId"].startswith("AIDA") and created["Path"] == "/"
    key = aws("iam", "create-access-key", "--user-name", "dave")["AccessKey"]
    assert (key["UserName"], key["Status"]) == ("dave", "Active")
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40
    aws.configure("dave", key["AccessKeyId"], key["SecretAccessKey"])
    got = aws("iam", "get-user", "--user-name", "dave")["User"]
    assert (got["UserName"], got["Arn"], got["UserId"]) == ("dave", created["Arn"], created["UserId"])

    key_arn = aws("kms", "create-key", "--description", "walkthrough")["KeyMetadata"]["Arn"]
    # dave has no identity policy: the grant is what lets him encrypt.
    grant = aws("kms", "create-grant", "--key-id", key_arn, "--grantee-principal", created["Arn"], "--operations", "Encrypt")
    grant_args = ["--grant-tokens", grant["GrantToken"]]
    me = aws("sts", "get-caller-identity", profile="dave")
    assert (me["Arn"], me["Account"], me["UserId"]) == (created["Arn"], account, created["UserId"])
    # As in AWS, even reading himself through IAM needs a policy that allows it.
    assert aws.fails("iam", "get-user", profile="dave") == "AccessDenied"
    out = aws("kms", "encrypt", "--plaintext", "hello", "--key-id", key_arn, *grant_args, profile="dave")
    assert out["KeyId"] == key_arn
    # The admin reads what dave wrote: one account, one key.
    blob = tmp_path / "blob"
    blob.write_bytes(base64.b64decode(out["CiphertextBlob"]))
    plain = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}")["Plaintext"]
    assert base64.b64decode(plain) == b"hello"
    # The secret is shown once: no IAM call returns it again.
    listed = aws("iam", "list-access-keys", "--user-name", "dave")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key["AccessKeyId"], "Active")]
    assert "SecretAccessKey" not in json.dumps(listed)


def test_the_secret_cannot_be_read_back_from_the_database(t, aws):
    key = aws("iam", "create-access-key", "--user-name", "dave")["AccessKey"]
    try:
        with open(os.path.join(t.data_dir, "trent.db"), "rb") as f:
            db = f.read()
        for name in ("trent.db-wal",):
            path = os.path.join(t.data_dir, name)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    db += f.read()
        assert key["AccessKeyId"].encode() in db  # the key is there...
        assert key["SecretAccessKey"].encode() not in db  # ...its secret is not
    finally:
        aws("iam", "delete-access-key", "--user-name", "dave", "--access-key-id", key["AccessKeyId"])


# --- access keys ----------------------------------------------------------------------


def test_inactive_or_deleted_keys_are_refused_at_once(t, aws):
    iam = client(t, "iam")
    user, key = new_user_with_key(iam)
    creds = dict(access_key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    sts, kms = client(t, "sts", **creds), client(t, "kms", **creds)
    assert sts.get_caller_identity()["Arn"] == user["Arn"]
    # As in AWS, a user needs an identity policy for KMS calls that name no key.
    assert error_of(kms.list_keys) == ("AccessDeniedException", 400)
    iam.put_user_policy(UserName=user["UserName"], PolicyName="kms", PolicyDocument=KMS_ALL)
    kms.list_keys()

    iam.update_access_key(UserName=user["UserName"], AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert error_of(sts.get_caller_identity) == ("InvalidClientTokenId", 403)
    assert error_of(kms.list_keys) == ("UnrecognizedClientException", 400)
    iam.update_access_key(UserName=user["UserName"], AccessKeyId=key["AccessKeyId"], Status="Active")
    assert sts.get_caller_identity()["Arn"] == user["Arn"]

    iam.delete_access_key(UserName=user["UserName"], AccessKeyId=key["AccessKeyId"])
    assert error_of(sts.get_caller_identity) == ("InvalidClientTokenId", 403)
    assert error_of(kms.list_keys) == ("UnrecognizedClientException", 400)
    assert iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"] == []

    # A deleted user's keys go with it.
    other, other_key = new_user_with_key(iam)
    sts2 = client(t, "sts", access_key=other_key["AccessKeyId"], secret=other_key["SecretAccessKey"])
    assert sts2.get_caller_identity()["Arn"] == other["Arn"]
    iam.delete_access_key(UserName=other["UserName"], AccessKeyId=other_key["AccessKeyId"])
    iam.delete_user(UserName=other["UserName"])
    assert error_of(sts2.get_caller_identity) == ("InvalidClientTokenId", 403)


# --- IAM errors, parsed by the stock CLI --------------------------------------------------


def test_iam_errors_reach_the_cli_with_their_codes(t, aws):
    name = unique("err")
    aws("iam", "create-user", "--user-name", name)
    assert aws.fails("iam", "get-user", "--user-name", unique("nobody")) == "NoSuchEntity"
    assert aws.fails("iam", "create-user", "--user-name", name.upper()) == "EntityAlreadyExists"
    assert aws.fails("iam", "put-user-policy", "--user-name", name, "--policy-name", "p", "--policy-document", '{"Statement":[{"Effect":"Allow"}]}') == "MalformedPolicyDocument"
    assert aws.fails("iam", "put-user-policy", "--user-name", name, "--policy-name", "p", "--policy-document", "not json") == "MalformedPolicyDocument"
    assert aws.fails("iam", "get-user-policy", "--user-name", name, "--policy-name", "none") == "NoSuchEntity"
    assert aws.fails("iam", "delete-user-policy", "--user-name", name, "--policy-name", "none") == "NoSuchEntity"
    for _ in range(2):
        aws("iam", "create-access-key", "--user-name", name)
    assert aws.fails("iam", "create-access-key", "--user-name", name) == "LimitExceeded"
    assert aws.fails("iam", "delete-user", "--user-name", name) == "DeleteConflict"
    key_id = aws("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"][0]["AccessKeyId"]
    assert aws.fails("iam", "update-access-key", "--user-name", name, "--access-key-id", key_id, "--status", "Sleeping") == "ValidationError"
    assert aws.fails("iam", "update-access-key", "--user-name", "dave", "--access-key-id", key_id, "--status", "Inactive") == "NoSuchEntity"
    assert aws.fails("iam", "create-user", "--user-name", "bad/name") == "ValidationError"
    role = unique("role")
    assert aws.fails("iam", "create-role", "--role-name", role, "--assume-role-policy-document", json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]})) == "MalformedPolicyDocument"
    big = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::111122223333:user/u{i:04}" for i in range(60)]}, "Action": "sts:AssumeRole"}]})
    assert aws.fails("iam", "create-role", "--role-name", role, "--assume-role-policy-document", big) == "LimitExceeded"
    assert aws.fails("iam", "get-role", "--role-name", role) == "NoSuchEntity"
    assert aws.fails("iam", "get-policy", "--policy-arn", "arn:aws:iam::not-an-account") == "InvalidInput"
    account = aws("sts", "get-caller-identity")["Account"]
    assert aws.fails("iam", "get-policy", "--policy-arn", f"arn:aws:iam::{account}:policy/none") == "NoSuchEntity"
    assert aws.fails("iam", "bogus-command", "--user-name", name) is None  # refused by the CLI itself, never sent
    # STS's errors, through the CLI too.
    assert aws.fails("sts", "assume-role", "--role-arn", f"arn:aws:iam::{account}:role/{unique('none')}", "--role-session-name", "s1") == "AccessDenied"
    assert aws.fails("sts", "assume-role", "--role-arn", f"arn:aws:iam::{account}:role/x", "--role-session-name", "s1", "--duration-seconds", "50000") == "ValidationError"
    # dave has no identity policy: IAM refuses him.
    assert aws.fails("iam", "create-user", "--user-name", unique("x"), profile="dave") == "AccessDenied"
    assert aws.fails("iam", "list-users", profile="dave") == "AccessDenied"


def test_unsigned_query_requests_get_xml_errors(t):
    import urllib.error
    import urllib.request
    import xml.etree.ElementTree as ET

    for body, ns in ((b"Action=ListUsers&Version=2010-05-08", "https://iam.amazonaws.com/doc/2010-05-08/"), (b"Action=GetCallerIdentity&Version=2011-06-15", "https://sts.amazonaws.com/doc/2011-06-15/")):
        req = urllib.request.Request(t.endpoint + "/", data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        assert e.value.code == 403
        root = ET.fromstring(e.value.read())
        assert root.tag == f"{{{ns}}}ErrorResponse"
        assert root.find(f"{{{ns}}}Error/{{{ns}}}Code").text == "MissingAuthenticationToken"
        assert root.find(f"{{{ns}}}Error/{{{ns}}}Type").text == "Sender"
        assert root.find(f"{{{ns}}}RequestId").text == e.value.headers["x-amzn-RequestId"]


def test_sts_and_signature_errors(t):
    iam = client(t, "iam")
    assert error_of(client(t, "sts", access_key="AKIAUNKNOWNUNKNOWN00", secret="x" * 40).get_caller_identity) == ("InvalidClientTokenId", 403)
    access, _ = t.keys()
    assert error_of(client(t, "iam", access_key=access, secret="y" * 40).list_users) == ("SignatureDoesNotMatch", 403)
    role = unique("r")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust("arn:aws:iam::999999999999:root"))
    account = iam.get_user()["User"]["Arn"].split(":")[4]
    sts = client(t, "sts")
    # The trust policy names another account only: even the admin may not.
    assert error_of(sts.assume_role, RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="s1") == ("AccessDenied", 403)
    assert error_of(sts.assume_role, RoleArn=f"arn:aws:iam::{account}:role/{unique('none')}", RoleSessionName="s1") == ("AccessDenied", 403)
    assert error_of(sts.assume_role, RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="bad name!") == ("ValidationError", 400)
    iam.delete_role(RoleName=role)


# --- roles, managed policies, tags -----------------------------------------------------


def test_roles_policies_and_tags_through_the_cli(aws):
    account = aws("sts", "get-caller-identity")["Account"]
    role = unique("KMSAdminRole")
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}
    created = aws("iam", "create-role", "--role-name", role, "--assume-role-policy-document", json.dumps(doc), "--description", "admins", "--tags", "Key=team,Value=sec")["Role"]
    assert created["Arn"] == f"arn:aws:iam::{account}:role/{role}" and created["RoleId"].startswith("AROA")
    got = aws("iam", "get-role", "--role-name", role)["Role"]
    assert got["AssumeRolePolicyDocument"] == doc  # URL-encoded on the wire, decoded by the CLI
    assert (got["Description"], got["MaxSessionDuration"], got["Tags"]) == ("admins", 3600, [{"Key": "team", "Value": "sec"}])
    assert role in [r["RoleName"] for r in aws("iam", "list-roles")["Roles"]]
    doc2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:user/dave"}, "Action": "sts:AssumeRole"}]}
    aws("iam", "update-assume-role-policy", "--role-name", role, "--policy-document", json.dumps(doc2))
    assert aws("iam", "get-role", "--role-name", role)["Role"]["AssumeRolePolicyDocument"] == doc2

    inline = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    aws("iam", "put-role-policy", "--role-name", role, "--policy-name", "kms-all", "--policy-document", json.dumps(inline))
    assert aws("iam", "list-role-policies", "--role-name", role)["PolicyNames"] == ["kms-all"]
    assert aws("iam", "get-role-policy", "--role-name", role, "--policy-name", "kms-all")["PolicyDocument"] == inline
    assert aws.fails("iam", "delete-role", "--role-name", role) == "DeleteConflict"
    aws("iam", "delete-role-policy", "--role-name", role, "--policy-name", "kms-all")

    pname = unique("KeyUsers")
    p = aws("iam", "create-policy", "--policy-name", pname, "--policy-document", json.dumps(inline), "--description", "use keys")["Policy"]
    assert (p["Arn"], p["DefaultVersionId"], p["AttachmentCount"]) == (f"arn:aws:iam::{account}:policy/{pname}", "v1", 0)
    assert aws.fails("iam", "create-policy", "--policy-name", pname, "--policy-document", json.dumps(inline)) == "EntityAlreadyExists"
    version = aws("iam", "get-policy-version", "--policy-arn", p["Arn"], "--version-id", "v1")["PolicyVersion"]
    assert (version["Document"], version["IsDefaultVersion"]) == (inline, True)
    assert aws.fails("iam", "get-policy-version", "--policy-arn", p["Arn"], "--version-id", "v2") == "NoSuchEntity"
    assert pname in [x["PolicyName"] for x in aws("iam", "list-policies", "--scope", "Local")["Policies"]]
    aws("iam", "attach-role-policy", "--role-name", role, "--policy-arn", p["Arn"])
    aws("iam", "attach-user-policy", "--user-name", "dave", "--policy-arn", p["Arn"])
    assert aws("iam", "list-attached-role-policies", "--role-name", role)["AttachedPolicies"] == [{"PolicyName": pname, "PolicyArn": p["Arn"]}]
    assert aws("iam", "list-attached-user-policies", "--user-name", "dave")["AttachedPolicies"] == [{"PolicyName": pname, "PolicyArn": p["Arn"]}]
    assert aws("iam", "get-policy", "--policy-arn", p["Arn"])["Policy"]["AttachmentCount"] == 2
    assert pname in [x["PolicyName"] for x in aws("iam", "list-policies", "--only-attached")["Policies"]]
    assert aws.fails("iam", "delete-policy", "--policy-arn", p["Arn"]) == "DeleteConflict"
    assert aws.fails("iam", "attach-user-policy", "--user-name", "dave", "--policy-arn", f"arn:aws:iam::{account}:policy/none") == "NoSuchEntity"
    aws("iam", "detach-role-policy", "--role-name", role, "--policy-arn", p["Arn"])
    aws("iam", "detach-user-policy", "--user-name", "dave", "--policy-arn", p["Arn"])
    assert aws.fails("iam", "detach-user-policy", "--user-name", "dave", "--policy-arn", p["Arn"]) == "NoSuchEntity"
    aws("iam", "delete-policy", "--policy-arn", p["Arn"])
    assert aws.fails("iam", "get-policy", "--policy-arn", p["Arn"]) == "NoSuchEntity"

    aws("iam", "tag-user", "--user-name", "dave", "--tags", "Key=team,Value=blue", "Key=level,Value=1")
    aws("iam", "tag-user", "--user-name", "dave", "--tags", "Key=level,Value=2")
    assert aws("iam", "get-user", "--user-name", "dave")["User"]["Tags"] == [{"Key": "team", "Value": "blue"}, {"Key": "level", "Value": "2"}]
    aws("iam", "tag-role", "--role-name", role, "--tags", "Key=env,Value=prod")
    assert aws("iam", "list-role-tags", "--role-name", role)["Tags"] == [{"Key": "team", "Value": "sec"}, {"Key": "env", "Value": "prod"}]
    too_many = [f"Key=k{i},Value=v" for i in range(50)]
    assert aws.fails("iam", "tag-role", "--role-name", role, "--tags", *too_many) == "LimitExceeded"
    aws("iam", "delete-role", "--role-name", role)
    assert aws.fails("iam", "get-role", "--role-name", role) == "NoSuchEntity"


def test_user_inline_policies_and_listing_pages(t):
    iam = client(t, "iam")
    name = unique("pager")
    iam.create_user(UserName=name, Path="/team/")
    for i in range(3):
        iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=ALLOW_ALL)
    first = iam.list_user_policies(UserName=name, MaxItems=2)
    assert (first["PolicyNames"], first["IsTruncated"]) == (["p0", "p1"], True)
    rest = iam.list_user_policies(UserName=name, MaxItems=2, Marker=first["Marker"])
    assert (rest["PolicyNames"], rest["IsTruncated"]) == (["p2"], False)
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]] == [name]
    seen = [u["UserName"] for page in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 1}) for u in page["Users"]]
    assert name in seen and "admin" in seen and len(seen) == len(set(seen))
    assert error_of(iam.put_user_policy, UserName=name, PolicyName="huge", PolicyDocument=json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "x" * 2100}]})) == ("LimitExceeded", 409)


# --- STS -----------------------------------------------------------------------------------


def test_assume_role_then_kms_with_temporary_credentials(t):
    iam = client(t, "iam")
    user, key = new_user_with_key(iam)
    account = user["Arn"].split(":")[4]
    creds = dict(access_key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    role = unique("kms-user")
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(user["Arn"]))["Role"]["Arn"]
    # The default key policy delegates to IAM: the role's policy is what lets its sessions use keys.
    iam.put_role_policy(RoleName=role, PolicyName="kms", PolicyDocument=KMS_ALL)

    out = client(t, "sts", **creds).assume_role(RoleArn=role_arn, RoleSessionName="e2e-session", DurationSeconds=900)
    c = out["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA") and c["SessionToken"]
    assert abs(c["Expiration"].timestamp() - (time.time() + 900)) < 120
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/{role}/e2e-session"
    temp = dict(access_key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
    me = client(t, "sts", **temp).get_caller_identity()
    assert (me["Arn"], me["Account"]) == (out["AssumedRoleUser"]["Arn"], account)
    assert me["UserId"] == out["AssumedRoleUser"]["AssumedRoleId"] and me["UserId"].startswith("AROA")

    kms = client(t, "kms", **temp)
    key_id = kms.create_key(Description="made by a role session")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"temporary", EncryptionContext={"who": "role"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"who": "role"})["Plaintext"] == b"temporary"
    assert client(t, "kms").decrypt(CiphertextBlob=blob, EncryptionContext={"who": "role"})["Plaintext"] == b"temporary"
    # The session acts as the role: a role without IAM permissions may not use IAM.
    assert error_of(client(t, "iam", **temp).list_users) == ("AccessDenied", 403)

    # Without its token, or with another one, the temporary key is refused.
    assert error_of(client(t, "kms", access_key=c["AccessKeyId"], secret=c["SecretAccessKey"]).list_keys) == ("UnrecognizedClientException", 400)
    tampered = base64.b64encode(bytes([b ^ 1 if i == 20 else b for i, b in enumerate(base64.b64decode(c["SessionToken"]))])).decode()
    assert error_of(client(t, "kms", access_key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=tampered).list_keys) == ("UnrecognizedClientException", 400)

    # Role chaining: a session may assume a role that trusts its role, for an hour at most.
    chained = unique("chained")
    chained_arn = iam.create_role(RoleName=chained, AssumeRolePolicyDocument=trust(role_arn), MaxSessionDuration=43200)["Role"]["Arn"]
    sts_temp = client(t, "sts", **temp)
    assert error_of(sts_temp.assume_role, RoleArn=chained_arn, RoleSessionName="hop", DurationSeconds=7200) == ("ValidationError", 400)
    hop = sts_temp.assume_role(RoleArn=chained_arn, RoleSessionName="hop")
    assert hop["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/{chained}/hop"
    iam.delete_role(RoleName=chained)

    # Deleting the role ends its sessions at once.
    iam.delete_role_policy(RoleName=role, PolicyName="kms")
    iam.delete_role(RoleName=role)
    assert error_of(kms.list_keys) == ("UnrecognizedClientException", 400)


def test_assume_role_follows_trust_and_identity_policies(t):
    iam = client(t, "iam")
    user, key = new_user_with_key(iam)
    account = user["Arn"].split(":")[4]
    sts = client(t, "sts", access_key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    role = unique("by-account")
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(f"arn:aws:iam::{account}:root"))["Role"]["Arn"]
    # Trusting the account delegates to IAM: the user needs an identity policy too.
    assert error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1") == ("AccessDenied", 403)
    allow = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]})
    iam.put_user_policy(UserName=user["UserName"], PolicyName="assume", PolicyDocument=allow)
    assert sts.assume_role(RoleArn=role_arn, RoleSessionName="s1")["AssumedRoleUser"]["Arn"].endswith(f"/{role}/s1")
    # An explicit deny wins.
    deny = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sts:*", "Resource": "*"}]})
    iam.put_user_policy(UserName=user["UserName"], PolicyName="deny", PolicyDocument=deny)
    assert error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1") == ("AccessDenied", 403)
    # Longer than the role allows.
    iam.delete_user_policy(UserName=user["UserName"], PolicyName="deny")
    assert error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=7200) == ("ValidationError", 400)


def test_an_expired_session_token_gets_awss_error(new_trent):
    t = new_trent()
    iam = client(t, "iam")
    role = unique("short")
    account = iam.get_user()["User"]["Arn"].split(":")[4]
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(f"arn:aws:iam::{account}:root"))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="kms", PolicyDocument=KMS_ALL)
    c = client(t, "sts").assume_role(RoleArn=role_arn, RoleSessionName="brief", DurationSeconds=900)["Credentials"]
    temp = dict(access_key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
    client(t, "kms", **temp).list_keys()
    # Twenty minutes later, by the server's clock and the client's.
    t.restart(["--clock-offset-secs", "1200"])
    later = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(seconds=1200)
    with mock.patch("botocore.auth.get_current_datetime", return_value=later):
        assert error_of(client(t, "kms", **temp).list_keys) == ("ExpiredTokenException", 400)
        assert error_of(client(t, "sts", **temp).get_caller_identity) == ("ExpiredToken", 403)
        # The permanent keys still work at that time.
        client(t, "kms").list_keys()


# --- accounts ------------------------------------------------------------------------------


def test_trent_account_create_makes_an_isolated_account(t, aws, tmp_path):
    r = subprocess.run([trent_bin(), "account", "create", "--data-dir", t.data_dir, "--account-id", "210987654321", "--profile", "second", "--with-root-key"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    parser = configparser.ConfigParser()
    parser.read_string(r.stdout)
    second = dict(access_key=parser["second"]["aws_access_key_id"], secret=parser["second"]["aws_secret_access_key"])
    me = client(t, "sts", **second).get_caller_identity()
    assert (me["Account"], me["Arn"]) == ("210987654321", "arn:aws:iam::210987654321:user/admin")
    # Its own IAM and KMS: nothing of the first account is visible.
    assert [u["UserName"] for u in client(t, "iam", **second).list_users()["Users"]] == ["admin"]
    assert client(t, "kms", **second).list_keys()["Keys"] == []
    first_key = client(t, "kms").create_key()["KeyMetadata"]
    assert error_of(client(t, "kms", **second).describe_key, KeyId=first_key["KeyId"])[0] == "NotFoundException"
    assert error_of(client(t, "iam", **second).get_user, UserName="dave") == ("NoSuchEntity", 404)
    # A role of one account cannot be assumed from another unless its trust policy says so.
    role_arn = client(t, "iam").create_role(RoleName=unique("x-acct"), AssumeRolePolicyDocument=trust("arn:aws:iam::210987654321:root"))["Role"]["Arn"]
    assert client(t, "sts", **second).assume_role(RoleArn=role_arn, RoleSessionName="visitor")["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{role_arn.split(':')[4]}:assumed-role/")
    # The account's root may do everything in it, with no policy of its own.
    root = dict(access_key=parser["second-root"]["aws_access_key_id"], secret=parser["second-root"]["aws_secret_access_key"])
    me = client(t, "sts", **root).get_caller_identity()
    assert (me["Account"], me["Arn"], me["UserId"]) == ("210987654321", "arn:aws:iam::210987654321:root", "210987654321")
    root_iam = client(t, "iam", **root)
    root_iam.create_user(UserName="carol")
    root_iam.put_user_policy(UserName="carol", PolicyName="deny-all", PolicyDocument=json.dumps({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}))
    assert root_iam.get_user_policy(UserName="carol", PolicyName="deny-all")["PolicyName"] == "deny-all"
    assert client(t, "kms", **root).list_keys()["Keys"] == []
    # The same id again is refused, and says why.
    again = subprocess.run([trent_bin(), "account", "create", "--data-dir", t.data_dir, "--account-id", "210987654321"], capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_the_dev_mode_root_can_use_iam(dev_trent):
    iam = client(dev_trent, "iam", access_key="test", secret="test")
    name = unique("dev")
    assert iam.create_user(UserName=name)["User"]["Arn"] == f"arn:aws:iam::123456789012:user/{name}"
    me = client(dev_trent, "sts", access_key="test", secret="test").get_caller_identity()
    assert (me["Arn"], me["UserId"]) == ("arn:aws:iam::123456789012:root", "123456789012")


# --- several nodes on one PostgreSQL -------------------------------------------------------

POSTGRES_URL = os.environ.get("TRENT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def psql(sql):
    return subprocess.run(["psql", POSTGRES_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql], capture_output=True, text=True, timeout=30)


@pytest.fixture
def pg_schema():
    """A fresh schema on the test PostgreSQL, dropped afterwards. Skips only
    when no server was asked for and none answers at the default address."""
    if shutil.which("psql") is None or psql("SELECT 1").returncode != 0:
        if "TRENT_TEST_POSTGRES_URL" in os.environ:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} was asked for but does not answer to psql")
        pytest.skip(f"no PostgreSQL (or psql) at {POSTGRES_URL}")
    schema = f"trent_py_{uuid.uuid4().hex}"
    assert psql(f"CREATE SCHEMA {schema}").returncode == 0
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    psql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_identities_and_sessions_work_across_nodes_on_one_postgresql(pg_schema, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Trent(tmp_path / "a", args=["--store", pg_schema])
    b = Trent(tmp_path / "b", args=["--store", pg_schema])
    try:
        a.start()
        os.makedirs(b.data_dir, mode=0o700)
        shutil.copy(os.path.join(a.data_dir, "root.key"), os.path.join(b.data_dir, "root.key"))
        b.start()
        admin = dict(zip(("access_key", "secret"), a.keys()))
        iam_a, iam_b = client(a, "iam", **admin), client(b, "iam", **admin)
        user, key = new_user_with_key(iam_a)
        creds = dict(access_key=key["AccessKeyId"], secret=key["SecretAccessKey"])
        assert client(b, "sts", **creds).get_caller_identity()["Arn"] == user["Arn"]

        role_arn = iam_a.create_role(RoleName=unique("shared"), AssumeRolePolicyDocument=trust(user["Arn"]))["Role"]["Arn"]
        iam_a.put_role_policy(RoleName=role_arn.split("/")[-1], PolicyName="kms", PolicyDocument=KMS_ALL)
        c = client(b, "sts", **creds).assume_role(RoleArn=role_arn, RoleSessionName="roaming")["Credentials"]
        temp = dict(access_key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
        key_id = client(a, "kms", **temp).create_key()["KeyMetadata"]["KeyId"]
        assert client(b, "kms", **temp).describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"

        # A change made on one node holds on the other for each request begun
        # more than the read caches' 2 ms window after it (docs/several-nodes.md).
        iam_b.update_access_key(UserName=user["UserName"], AccessKeyId=key["AccessKeyId"], Status="Inactive")
        time.sleep(0.003)
        assert error_of(client(a, "sts", **creds).get_caller_identity) == ("InvalidClientTokenId", 403)
        iam_b.delete_role_policy(RoleName=role_arn.split("/")[-1], PolicyName="kms")
        iam_b.delete_role(RoleName=role_arn.split("/")[-1])
        time.sleep(0.003)
        assert error_of(client(a, "kms", **temp).list_keys) == ("UnrecognizedClientException", 400)
        assert [u["UserName"] for u in iam_b.list_users()["Users"]] == sorted(["admin", user["UserName"]], key=str.lower)
    finally:
        a.stop()
        b.stop()
