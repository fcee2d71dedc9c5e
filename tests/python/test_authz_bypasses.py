"""The bypasses an attacker's review found, each tried end to end against a
real server with real SigV4 requests (raw HTTP where the attack needs a
member the operation does not have, which no SDK would send). Each test
asserts AWS's documented outcome; each failed before authorization became
one step over a typed operation table.
"""

import base64
import configparser
import json
import subprocess

import pytest

from conftest import trent_bin
from test_identity import unique

B64 = lambda b: base64.b64encode(b).decode()  # noqa: E731


@pytest.fixture(scope="module")
def t(secure_trent):
    return secure_trent


@pytest.fixture(scope="module")
def admin(t):
    return t.boto3_client()


@pytest.fixture(scope="module")
def account(admin, t):
    import boto3

    sts = boto3.client("sts", endpoint_url=t.endpoint, region_name="us-east-1", aws_access_key_id=t.keys()[0], aws_secret_access_key=t.keys()[1])
    return sts.get_caller_identity()["Account"]


class User:
    def __init__(self, t, arn, key_id, secret):
        self.t, self.arn, self.key_id, self.secret = t, arn, key_id, secret

    def call(self, operation, body):
        return self.t.raw(operation, body, access_key=self.key_id, secret_key=self.secret)


def make_user(t, who, policy=None):
    import boto3

    ak, sk = t.keys()
    iam = boto3.client("iam", endpoint_url=t.endpoint, region_name="us-east-1", aws_access_key_id=ak, aws_secret_access_key=sk)
    name = unique(who)
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return User(t, arn, key["AccessKeyId"], key["SecretAccessKey"])


def delegate(account):
    return {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}


def new_key(admin, account, *statements, delegation=True, spec=None):
    doc = {"Version": "2012-10-17", "Statement": ([delegate(account)] if delegation else []) + list(statements)}
    kw = {"KeySpec": spec, "KeyUsage": "ENCRYPT_DECRYPT"} if spec else {}
    return admin.create_key(Policy=json.dumps(doc), BypassPolicyLockoutSafetyCheck=not delegation, **kw)["KeyMetadata"]["Arn"]


def encrypt(admin, key, context):
    return B64(admin.encrypt(KeyId=key, Plaintext=b"tenant data", EncryptionContext=context)["CiphertextBlob"])


def test_decrypt_with_a_foreign_destination_context_does_not_satisfy_an_allow(t, admin, account):
    mallory = make_user(t, "mallory")
    allow = {"Sid": "TenantA", "Effect": "Allow", "Principal": {"AWS": mallory.arn}, "Action": "kms:Decrypt", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "a"}}}
    key = new_key(admin, account, allow)
    blob = encrypt(admin, key, {"tenant": "b"})
    r = mallory.call("Decrypt", {"CiphertextBlob": blob, "EncryptionContext": {"tenant": "b"}, "DestinationEncryptionContext": {"tenant": "a"}})
    assert (r.status, r.error_code) == (400, "AccessDeniedException"), r
    # The member it does have decides.
    blob_a = encrypt(admin, key, {"tenant": "a"})
    assert mallory.call("Decrypt", {"CiphertextBlob": blob_a, "EncryptionContext": {"tenant": "a"}}).status == 200


def test_a_foreign_source_context_does_not_escape_a_deny(t, admin, account):
    ulla = make_user(t, "ulla", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
    deny = {"Sid": "NotTenantB", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "b"}}}
    key = new_key(admin, account, deny)
    blob = encrypt(admin, key, {"tenant": "b"})
    for extra in ({"SourceEncryptionContext": {"tenant": "a"}}, {"DestinationEncryptionContext": {"tenant": "a"}}, {"encryptionContext": {"tenant": "a"}}):
        r = ulla.call("Decrypt", {"CiphertextBlob": blob, "EncryptionContext": {"tenant": "b"}, **extra})
        assert r.error_code == "AccessDeniedException" and "explicit deny" in r.message, (extra, r)


def test_a_foreign_destination_key_id_does_not_set_the_request_alias(t, admin, account):
    alias = f"alias/{unique('allowed')}"
    mallory = make_user(t, "mallory")
    allow = {"Sid": "ByAlias", "Effect": "Allow", "Principal": {"AWS": mallory.arn}, "Action": "kms:Encrypt", "Resource": "*", "Condition": {"StringEquals": {"kms:RequestAlias": alias}}}
    key = new_key(admin, account, allow)
    admin.create_alias(AliasName=alias, TargetKeyId=key)
    r = mallory.call("Encrypt", {"KeyId": key, "Plaintext": B64(b"x"), "DestinationKeyId": alias})
    assert r.error_code == "AccessDeniedException", r
    assert mallory.call("Encrypt", {"KeyId": alias, "Plaintext": B64(b"x")}).status == 200


def test_create_grant_with_a_foreign_context_yields_no_unconstrained_grant(t, admin, account):
    mallory = make_user(t, "mallory")
    # Mallory may make grants only if they are constrained to tenant a.
    allow = {"Sid": "GrantsForA", "Effect": "Allow", "Principal": {"AWS": mallory.arn}, "Action": "kms:CreateGrant", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "a"}}}
    key = new_key(admin, account, allow)
    r = mallory.call("CreateGrant", {"KeyId": key, "GranteePrincipal": mallory.arn, "Operations": ["Decrypt"], "EncryptionContext": {"tenant": "a"}})
    assert r.error_code == "AccessDeniedException", r
    assert admin.list_grants(KeyId=key)["Grants"] == []
    r = mallory.call("CreateGrant", {"KeyId": key, "GranteePrincipal": mallory.arn, "Operations": ["Decrypt"], "Constraints": {"EncryptionContextEquals": {"tenant": "a"}}})
    assert r.status == 200, r


def test_a_grant_limited_to_one_context_is_not_stretched_by_a_foreign_member(t, admin, account):
    eve = make_user(t, "eve")
    key = new_key(admin, account)
    admin.create_grant(KeyId=key, GranteePrincipal=eve.arn, Operations=["Decrypt"], Constraints={"EncryptionContextEquals": {"tenant": "a"}})
    other_tenant = encrypt(admin, key, {"tenant": "b"})
    r = eve.call("Decrypt", {"CiphertextBlob": other_tenant, "EncryptionContext": {"tenant": "b"}, "DestinationEncryptionContext": {"tenant": "a"}, "SourceEncryptionContext": {"tenant": "a"}})
    assert r.error_code == "AccessDeniedException", r
    own = encrypt(admin, key, {"tenant": "a"})
    assert eve.call("Decrypt", {"CiphertextBlob": own, "EncryptionContext": {"tenant": "a"}}).status == 200


def test_re_encrypt_checks_each_key_with_its_own_context(t, admin, account):
    ulla = make_user(t, "ulla")
    source_allow = {"Sid": "From", "Effect": "Allow", "Principal": {"AWS": ulla.arn}, "Action": "kms:ReEncryptFrom", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:side": "source"}}}
    dest_allow = {"Sid": "To", "Effect": "Allow", "Principal": {"AWS": ulla.arn}, "Action": "kms:ReEncryptTo", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:side": "destination"}}}
    source, destination = new_key(admin, account, source_allow), new_key(admin, account, dest_allow)
    blob = encrypt(admin, source, {"side": "source"})
    ok = ulla.call("ReEncrypt", {"CiphertextBlob": blob, "SourceEncryptionContext": {"side": "source"}, "DestinationKeyId": destination, "DestinationEncryptionContext": {"side": "destination"}})
    assert ok.status == 200, ok
    # The source's policy must not see the destination's context, nor the reverse.
    blob = encrypt(admin, source, {"side": "destination"})
    r = ulla.call("ReEncrypt", {"CiphertextBlob": blob, "SourceEncryptionContext": {"side": "destination"}, "DestinationKeyId": destination, "DestinationEncryptionContext": {"side": "destination"}})
    assert r.error_code == "AccessDeniedException" and "kms:ReEncryptFrom" in r.message, r
    blob = encrypt(admin, source, {"side": "source"})
    r = ulla.call("ReEncrypt", {"CiphertextBlob": blob, "SourceEncryptionContext": {"side": "source"}, "DestinationKeyId": destination, "DestinationEncryptionContext": {"side": "source"}})
    assert r.error_code == "AccessDeniedException" and "kms:ReEncryptTo" in r.message, r


def test_alias_operations_check_every_key_the_alias_names(t, admin, account):
    # dave's identity policy allows every alias action on aliases; which
    # keys he may point them at, only key policies say.
    dave = make_user(t, "dave", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*Alias*", "Resource": "arn:aws:kms:*:*:alias/*"}]})
    mine = {"Sid": "DaveAliases", "Effect": "Allow", "Principal": {"AWS": dave.arn}, "Action": ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"], "Resource": "*"}
    his, theirs, other = new_key(admin, account, mine, delegation=False), new_key(admin, account), new_key(admin, account, mine, delegation=False)
    # An alias of a key dave has no rights on: he may neither move nor delete it.
    victim = f"alias/{unique('victim')}"
    admin.create_alias(AliasName=victim, TargetKeyId=theirs)
    r = dave.call("UpdateAlias", {"AliasName": victim, "TargetKeyId": his})
    assert r.error_code == "AccessDeniedException" and theirs in r.message, r
    r = dave.call("DeleteAlias", {"AliasName": victim})
    assert r.error_code == "AccessDeniedException" and theirs in r.message, r
    assert [a["TargetKeyId"] for a in admin.list_aliases(KeyId=theirs)["Aliases"] if a["AliasName"] == victim] == [theirs.rsplit("/", 1)[1]]
    # Nor point his own alias at it.
    own = f"alias/{unique('own')}"
    assert dave.call("CreateAlias", {"AliasName": own, "TargetKeyId": his}).status == 200
    assert dave.call("UpdateAlias", {"AliasName": own, "TargetKeyId": theirs}).error_code == "AccessDeniedException"
    # Between his own keys, all three work.
    assert dave.call("UpdateAlias", {"AliasName": own, "TargetKeyId": other}).status == 200
    assert dave.call("DeleteAlias", {"AliasName": own}).status == 200


def test_administrative_operations_do_not_cross_accounts(t, admin, account):
    other = "410987654321"
    r = subprocess.run([trent_bin(), "account", "create", "--data-dir", t.data_dir, "--account-id", other, "--profile", "other", "--with-root-key"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    creds = configparser.ConfigParser()
    creds.read_string(r.stdout)
    root = User(t, f"arn:aws:iam::{other}:root", creds["other-root"]["aws_access_key_id"], creds["other-root"]["aws_secret_access_key"])
    share = {"Sid": "Other account: everything", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:root"}, "Action": "kms:*", "Resource": "*"}
    key = new_key(admin, account, share)
    # Cross-account operations work (AWS: "Cross-account use: Yes").
    assert root.call("DescribeKey", {"KeyId": key}).status == 200
    assert root.call("Encrypt", {"KeyId": key, "Plaintext": B64(b"x")}).status == 200
    # The others are refused whatever the key policy says, and change nothing.
    policy_before = admin.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    for op, body in [
        ("PutKeyPolicy", {"KeyId": key, "PolicyName": "default", "Policy": json.dumps({"Version": "2012-10-17", "Statement": [share]}), "BypassPolicyLockoutSafetyCheck": True}),
        ("ScheduleKeyDeletion", {"KeyId": key, "PendingWindowInDays": 7}),
        ("DisableKey", {"KeyId": key}),
        ("TagResource", {"KeyId": key, "Tags": [{"TagKey": "owner", "TagValue": "mallory"}]}),
        ("UpdateKeyDescription", {"KeyId": key, "Description": "mine now"}),
        ("GetKeyPolicy", {"KeyId": key, "PolicyName": "default"}),
    ]:
        r = root.call(op, body)
        assert (r.status, r.error_code) == (400, "AccessDeniedException"), (op, r)
    meta = admin.describe_key(KeyId=key)["KeyMetadata"]
    assert (meta["KeyState"], meta["Description"]) == ("Enabled", "")
    assert admin.get_key_policy(KeyId=key, PolicyName="default")["Policy"] == policy_before
    assert admin.list_resource_tags(KeyId=key)["Tags"] == []
    # CreateAlias in its own account on the other account's key: refused too.
    r = root.call("CreateAlias", {"AliasName": f"alias/{unique('stolen')}", "TargetKeyId": key})
    assert r.error_code in ("AccessDeniedException", "NotFoundException"), r


def test_context_keys_differing_only_by_case_fail_closed(t, admin, account):
    ulla = make_user(t, "ulla", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
    deny = {"Sid": "OnlyTenantA", "Effect": "Deny", "Principal": "*", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*", "Condition": {"StringNotEquals": {"kms:EncryptionContext:tenant": "a"}}}
    key = new_key(admin, account, deny)
    assert ulla.call("Encrypt", {"KeyId": key, "Plaintext": B64(b"x"), "EncryptionContext": {"tenant": "a"}}).status == 200
    for context in ({"Tenant": "a", "tenant": "b"}, {"tenant": "a", "TENANT": "b"}, {"Tenant": "b", "tenant": "a"}):
        r = ulla.call("Encrypt", {"KeyId": key, "Plaintext": B64(b"x"), "EncryptionContext": context})
        assert r.error_code == "AccessDeniedException", (context, r)


def test_create_grant_follows_the_key_state_table(t, admin, account):
    key = new_key(admin, account)
    grantee = f"arn:aws:iam::{account}:root"
    admin.disable_key(KeyId=key)
    r = t.raw("CreateGrant", {"KeyId": key, "GranteePrincipal": grantee, "Operations": ["Decrypt"]})
    assert (r.error_code, r.message) == ("DisabledException", f"{key} is disabled."), r
    admin.enable_key(KeyId=key)
    assert t.raw("CreateGrant", {"KeyId": key, "GranteePrincipal": grantee, "Operations": ["Decrypt"]}).status == 200
    pending = admin.create_key(Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    r = t.raw("CreateGrant", {"KeyId": pending, "GranteePrincipal": grantee, "Operations": ["Decrypt"]})
    assert (r.error_code, r.message) == ("KMSInvalidStateException", f"{pending} is pending import."), r
    assert admin.list_grants(KeyId=pending)["Grants"] == []


def test_an_encryption_context_over_the_limit_is_a_validation_error(t, admin, account):
    key = new_key(admin, account)
    big = {"k": "v" * 9000}
    for op, body in [
        ("Encrypt", {"KeyId": key, "Plaintext": B64(b"x"), "EncryptionContext": big}),
        ("GenerateDataKey", {"KeyId": key, "KeySpec": "AES_256", "EncryptionContext": big}),
        ("CreateGrant", {"KeyId": key, "GranteePrincipal": f"arn:aws:iam::{account}:root", "Operations": ["Decrypt"], "Constraints": {"EncryptionContextSubset": big}}),
    ]:
        r = t.raw(op, body)
        assert (r.status, r.error_code) == (400, "ValidationException"), (op, r)
    # Just under the limit works.
    assert t.raw("Encrypt", {"KeyId": key, "Plaintext": B64(b"x"), "EncryptionContext": {"k": "v" * 8191}}).status == 200
