"""Authorization end to end: key policies, identity policies, grants and
conditions decided as AWS decides them, observed through the stock aws CLI
with several principals created through `aws iam`.
"""

import base64
import configparser
import json
import subprocess
import tempfile

import pytest

from conftest import trent_bin
from test_identity import Cli, unique


@pytest.fixture(scope="module")
def t(secure_trent):
    return secure_trent


@pytest.fixture(scope="module")
def aws(t, tmp_path_factory):
    return Cli(t, tmp_path_factory.mktemp("authz-cli"))


@pytest.fixture(scope="module")
def account(aws):
    return aws("sts", "get-caller-identity")["Account"]


@pytest.fixture(scope="module")
def users(aws, account):
    """kate administers keys, ulla uses them, dave has an identity policy,
    eve has nothing: each with an access key in a CLI profile of her own."""
    made = {}
    for who in ("kate", "ulla", "dave", "eve"):
        name = unique(who)
        arn = aws("iam", "create-user", "--user-name", name)["User"]["Arn"]
        key = aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
        aws.configure(name, key["AccessKeyId"], key["SecretAccessKey"])
        made[who] = {"name": name, "arn": arn}
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:DescribeKey"], "Resource": "*"}]}
    aws("iam", "put-user-policy", "--user-name", made["dave"]["name"], "--policy-name", "dave-kms", "--policy-document", json.dumps(doc))
    return made


def statement(sid, principals, actions, effect="Allow", condition=None):
    s = {"Sid": sid, "Effect": effect, "Principal": {"AWS": principals}, "Action": actions, "Resource": "*"}
    if condition:
        s["Condition"] = condition
    return s


def key_policy(account, users, delegate=True, extra=()):
    statements = []
    if delegate:
        statements.append(statement("Enable IAM User Permissions", f"arn:aws:iam::{account}:root", "kms:*"))
    statements.append(statement("Key administrators", users["kate"]["arn"], ["kms:Describe*", "kms:Enable*", "kms:Disable*", "kms:Put*", "kms:Get*", "kms:List*", "kms:Revoke*", "kms:TagResource"]))
    statements.append(statement("Key users", users["ulla"]["arn"], ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]))
    statements.extend(extra)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def fails(aws, *args, profile=None):
    """(code, message) of a CLI command that must fail."""
    err = aws(*args, profile=profile, check=False)
    assert not isinstance(err, dict), f"expected a failure: {args} -> {err}"
    return err.code, err.stderr


def fileb(b64):
    """A ciphertext from the CLI's JSON as the aws CLI v1 takes a blob: a fileb:// file."""
    f = tempfile.NamedTemporaryFile(delete=False, suffix=".bin")
    f.write(base64.b64decode(b64))
    f.close()
    return f"fileb://{f.name}"


def encrypt(aws, key, profile=None, context=None, tokens=()):
    args = ["kms", "encrypt", "--key-id", key, "--plaintext", base64.b64encode(b"secret").decode()]
    if context:
        args += ["--encryption-context", ",".join(f"{k}={v}" for k, v in context.items())]
    if tokens:
        args += ["--grant-tokens", *tokens]
    return aws(*args, profile=profile)


@pytest.fixture
def key(aws, account, users):
    return aws("kms", "create-key", "--policy", key_policy(account, users), "--description", "authz")["KeyMetadata"]["Arn"]


def test_administrators_manage_but_do_not_use_and_users_use_but_do_not_manage(aws, key, users):
    kate, ulla = users["kate"]["name"], users["ulla"]["name"]
    aws("kms", "disable-key", "--key-id", key, profile=kate)
    aws("kms", "enable-key", "--key-id", key, profile=kate)
    code, message = fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", profile=kate)
    assert code == "AccessDeniedException"
    assert f"User: {users['kate']['arn']} is not authorized to perform: kms:Encrypt on resource: {key}" in message
    blob = encrypt(aws, key, profile=ulla)["CiphertextBlob"]
    assert aws("kms", "decrypt", "--ciphertext-blob", fileb(blob), profile=ulla)["KeyId"] == key
    assert fails(aws, "kms", "disable-key", "--key-id", key, profile=ulla)[0] == "AccessDeniedException"
    assert fails(aws, "kms", "schedule-key-deletion", "--key-id", key, profile=kate)[0] == "AccessDeniedException"


def test_delegation_to_iam_and_what_happens_when_it_is_removed(aws, account, key, users):
    dave = users["dave"]["name"]
    assert encrypt(aws, key, profile=dave)["KeyId"] == key
    code, message = fails(aws, "kms", "disable-key", "--key-id", key, profile=dave)
    assert code == "AccessDeniedException" and "because no identity-based policy allows the kms:DisableKey action" in message
    # eve has no identity policy at all.
    assert fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", profile=users["eve"]["name"])[0] == "AccessDeniedException"
    # Without the delegation statement dave's IAM policy no longer counts.
    aws("kms", "put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", key_policy(account, users, delegate=False), profile=users["kate"]["name"])
    code, message = fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", profile=dave)
    assert code == "AccessDeniedException" and "because no resource-based policy allows the kms:Encrypt action" in message
    # Nor does the admin's: the key policy is the root of trust.
    assert fails(aws, "kms", "describe-key", "--key-id", key)[0] == "AccessDeniedException"
    assert encrypt(aws, key, profile=users["ulla"]["name"])["KeyId"] == key


def test_explicit_deny_beats_an_allow_in_the_other_policy(aws, account, key, users):
    deny = statement("No decrypt for ulla", users["ulla"]["arn"], "kms:Decrypt", effect="Deny")
    aws("kms", "put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", key_policy(account, users, extra=[deny]))
    blob = encrypt(aws, key, profile=users["ulla"]["name"])["CiphertextBlob"]
    code, message = fails(aws, "kms", "decrypt", "--ciphertext-blob", fileb(blob), profile=users["ulla"]["name"])
    assert code == "AccessDeniedException" and message.strip().endswith("with an explicit deny in a resource-based policy")
    # An identity-policy deny beats the key policy's allow.
    no = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]}
    aws("iam", "put-user-policy", "--user-name", users["ulla"]["name"], "--policy-name", "no-encrypt", "--policy-document", json.dumps(no))
    try:
        code, message = fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", profile=users["ulla"]["name"])
        assert code == "AccessDeniedException" and message.strip().endswith("with an explicit deny in an identity-based policy")
    finally:
        aws("iam", "delete-user-policy", "--user-name", users["ulla"]["name"], "--policy-name", "no-encrypt")


def test_encryption_context_conditions(aws, account, key, users):
    only_it = statement("Eve decrypts IT data", users["eve"]["arn"], ["kms:Encrypt", "kms:Decrypt"], condition={"StringEquals": {"kms:EncryptionContext:dept": "IT"}})
    aws("kms", "put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", key_policy(account, users, extra=[only_it]))
    eve = users["eve"]["name"]
    blob = encrypt(aws, key, profile=eve, context={"dept": "IT"})["CiphertextBlob"]
    assert aws("kms", "decrypt", "--ciphertext-blob", fileb(blob), "--encryption-context", "dept=IT", profile=eve)["KeyId"] == key
    assert fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", "--encryption-context", "dept=HR", profile=eve)[0] == "AccessDeniedException"
    assert fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", profile=eve)[0] == "AccessDeniedException"


def test_grants_with_and_without_constraints_retire_and_revoke(aws, key, users):
    eve = users["eve"]
    grant = aws("kms", "create-grant", "--key-id", key, "--grantee-principal", eve["arn"], "--operations", "Encrypt", "Decrypt", "--retiring-principal", eve["arn"], "--name", "eve-grant")
    # The token works at once (there is no window in which the grant is not visible).
    assert encrypt(aws, key, profile=eve["name"], tokens=[grant["GrantToken"]])["KeyId"] == key
    assert encrypt(aws, key, profile=eve["name"])["KeyId"] == key
    # Name makes the call idempotent: the same grant id, a new token.
    again = aws("kms", "create-grant", "--key-id", key, "--grantee-principal", eve["arn"], "--operations", "Encrypt", "Decrypt", "--retiring-principal", eve["arn"], "--name", "eve-grant")
    assert again["GrantId"] == grant["GrantId"] and again["GrantToken"] != grant["GrantToken"]
    listed = aws("kms", "list-grants", "--key-id", key)["Grants"]
    assert [(g["GrantId"], g["GranteePrincipal"], sorted(g["Operations"]), g["Name"]) for g in listed] == [(grant["GrantId"], eve["arn"], ["Decrypt", "Encrypt"], "eve-grant")]
    # Only the operations it names.
    assert fails(aws, "kms", "describe-key", "--key-id", key, profile=eve["name"])[0] == "AccessDeniedException"
    assert fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", "--grant-tokens", "not-a-token", profile=eve["name"])[0] == "InvalidGrantTokenException"
    # The retiring principal retires it by token; then it allows nothing.
    aws("kms", "retire-grant", "--grant-token", grant["GrantToken"], profile=eve["name"])
    assert fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", profile=eve["name"])[0] == "AccessDeniedException"

    constrained = aws("kms", "create-grant", "--key-id", key, "--grantee-principal", eve["arn"], "--operations", "Encrypt", "--constraints", "EncryptionContextSubset={app=billing}")
    assert encrypt(aws, key, profile=eve["name"], context={"app": "billing", "x": "y"})["KeyId"] == key
    assert fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", "--encryption-context", "app=other", profile=eve["name"])[0] == "AccessDeniedException"
    # Eve may not retire a grant she is not the retiring principal of; kate (a key administrator) revokes it.
    assert fails(aws, "kms", "retire-grant", "--key-id", key, "--grant-id", constrained["GrantId"], profile=eve["name"])[0] == "AccessDeniedException"
    aws("kms", "revoke-grant", "--key-id", key, "--grant-id", constrained["GrantId"], profile=users["kate"]["name"])
    assert fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", "--encryption-context", "app=billing", profile=eve["name"])[0] == "AccessDeniedException"
    assert fails(aws, "kms", "revoke-grant", "--key-id", key, "--grant-id", constrained["GrantId"])[0] == "NotFoundException"
    assert aws("kms", "list-grants", "--key-id", key)["Grants"] == []


def test_a_grant_with_create_grant_only_makes_narrower_grants(aws, key, users):
    dave, eve = users["dave"], users["eve"]
    aws("kms", "create-grant", "--key-id", key, "--grantee-principal", eve["arn"], "--operations", "Encrypt", "CreateGrant", "--constraints", "EncryptionContextSubset={team=red}")
    narrower = ["kms", "create-grant", "--key-id", key, "--grantee-principal", dave["arn"], "--operations", "Encrypt", "--constraints", "EncryptionContextEquals={team=red,app=x}"]
    assert aws(*narrower, profile=eve["name"])["GrantId"]
    wider = ["kms", "create-grant", "--key-id", key, "--grantee-principal", dave["arn"], "--operations", "Encrypt", "Decrypt", "--constraints", "EncryptionContextSubset={team=red}"]
    assert fails(aws, *wider, profile=eve["name"])[0] == "AccessDeniedException"
    looser = ["kms", "create-grant", "--key-id", key, "--grantee-principal", dave["arn"], "--operations", "Encrypt"]
    assert fails(aws, *looser, profile=eve["name"])[0] == "AccessDeniedException"


def test_put_key_policy_lockout_safety_check_and_unknown_principals(aws, account, key, users):
    only_ulla = json.dumps({"Version": "2012-10-17", "Statement": [statement("ulla", users["ulla"]["arn"], "kms:*")]})
    code, message = fails(aws, "kms", "put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", only_ulla)
    assert code == "MalformedPolicyDocumentException" and "will not allow you to update the key policy in the future" in message
    ghost = json.dumps({"Version": "2012-10-17", "Statement": [statement("x", f"arn:aws:iam::{account}:root", "kms:*"), statement("g", f"arn:aws:iam::{account}:user/{unique('ghost')}", "kms:*")]})
    code, message = fails(aws, "kms", "put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", ghost)
    assert code == "MalformedPolicyDocumentException" and "invalid principals" in message
    bad_condition = json.dumps({"Version": "2012-10-17", "Statement": [statement("x", f"arn:aws:iam::{account}:root", "kms:*", condition={"StringSortOf": {"a": "b"}})]})
    assert fails(aws, "kms", "put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", bad_condition)[0] == "MalformedPolicyDocumentException"
    # Bypassing the check: the admin gives the key away and loses it.
    aws("kms", "put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", only_ulla, "--bypass-policy-lockout-safety-check")
    assert fails(aws, "kms", "get-key-policy", "--key-id", key, "--policy-name", "default")[0] == "AccessDeniedException"
    assert json.loads(aws("kms", "get-key-policy", "--key-id", key, "--policy-name", "default", profile=users["ulla"]["name"])["Policy"]) == json.loads(only_ulla)
    # CreateKey checks the same.
    assert fails(aws, "kms", "create-key", "--policy", only_ulla)[0] == "MalformedPolicyDocumentException"


def test_cross_account_use_needs_both_sides(t, aws, account, key, users, tmp_path):
    other = "310987654321"
    r = subprocess.run([trent_bin(), "account", "create", "--data-dir", t.data_dir, "--account-id", other, "--profile", "other", "--with-root-key"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    parser = configparser.ConfigParser()
    parser.read_string(r.stdout)
    for profile in ("other", "other-root"):
        aws.configure(profile, parser[profile]["aws_access_key_id"], parser[profile]["aws_secret_access_key"])
    code, message = fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", profile="other-root")
    assert code == "AccessDeniedException" and "arn:aws:iam::310987654321:root" in message
    share = statement("Share with the other account", f"arn:aws:iam::{other}:root", ["kms:Encrypt", "kms:Decrypt"])
    aws("kms", "put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", key_policy(account, users, extra=[share]))
    # Its root: IAM does not restrict it, so the key policy is enough.
    blob = encrypt(aws, key, profile="other-root")["CiphertextBlob"]
    assert aws("kms", "decrypt", "--ciphertext-blob", fileb(blob), profile="other-root")["KeyId"] == key
    # A user of the other account needs its own account's IAM policy as well.
    carol = aws("iam", "create-user", "--user-name", "carol", profile="other-root")["User"]
    carol_key = aws("iam", "create-access-key", "--user-name", "carol", profile="other-root")["AccessKey"]
    aws.configure("carol", carol_key["AccessKeyId"], carol_key["SecretAccessKey"])
    assert fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", profile="carol")[0] == "AccessDeniedException"
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": key}]}
    aws("iam", "put-user-policy", "--user-name", "carol", "--policy-name", "use-shared-key", "--policy-document", json.dumps(allow), profile="other-root")
    assert encrypt(aws, key, profile="carol")["KeyId"] == key
    # Only what both sides allow.
    assert fails(aws, "kms", "describe-key", "--key-id", key, profile="carol")[0] == "AccessDeniedException"


def test_trent_explain_names_the_deciding_statement(t, aws, key, users):
    def explain(*args):
        r = subprocess.run([trent_bin(), "explain", "--data-dir", t.data_dir, *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    ulla = explain("--principal", users["ulla"]["arn"], "--action", "kms:Decrypt", "--key-arn", key)
    assert ulla["Decision"] == "Allow" and '"Key users"' in ulla["Reason"] and "Message" not in ulla
    kate = explain("--principal", users["kate"]["arn"], "--action", "kms:Decrypt", "--key-arn", key)
    assert kate["Decision"] == "ImplicitDeny"
    assert kate["Message"] == f"User: {users['kate']['arn']} is not authorized to perform: kms:Decrypt on resource: {key} because no identity-based policy allows the kms:Decrypt action"
    dave = explain("--principal", users["dave"]["arn"], "--action", "kms:Encrypt", "--key-arn", key)
    assert dave["Decision"] == "Allow" and "Enable IAM User Permissions" in dave["Reason"] and "dave-kms" in dave["Reason"]
    # The same answer the server gives: dave may not decrypt.
    assert explain("--principal", users["dave"]["arn"], "--action", "kms:Decrypt", "--key-arn", key)["Decision"] == "ImplicitDeny"
    # Grants and encryption context are part of the question.
    aws("kms", "create-grant", "--key-id", key, "--grantee-principal", users["eve"]["arn"], "--operations", "Decrypt", "--constraints", "EncryptionContextEquals={app=x}")
    assert explain("--principal", users["eve"]["arn"], "--action", "kms:Decrypt", "--key-arn", key, "--context", "app=x")["Reason"].startswith("allowed by grant ")
    assert explain("--principal", users["eve"]["arn"], "--action", "kms:Decrypt", "--key-arn", key, "--context", "app=y")["Decision"] == "ImplicitDeny"


def test_via_service_a_trusted_service_calls_on_behalf_of_a_user(new_trent):
    import boto3
    import botocore.exceptions

    t = new_trent()
    admin = t.boto3_client()
    iam = boto3.client("iam", endpoint_url=t.endpoint, region_name="us-east-1", aws_access_key_id=t.keys()[0], aws_secret_access_key=t.keys()[1])
    account = admin.describe_key(KeyId=admin.create_key()["KeyMetadata"]["KeyId"])["KeyMetadata"]["AWSAccountId"]
    made = {}
    for who in ("gateway", "ann"):
        arn = iam.create_user(UserName=who)["User"]["Arn"]
        k = iam.create_access_key(UserName=who)["AccessKey"]
        made[who] = (arn, k["AccessKeyId"], k["SecretAccessKey"])
    t.restart(["--trusted-service", f"s3.us-east-1.amazonaws.com={made['gateway'][0]}"])
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "AnnViaS3Only", "Effect": "Allow", "Principal": {"AWS": made["ann"][0]}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}},
    ]}
    key = t.boto3_client().create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"]

    def client(who, on_behalf=None):
        c = t.boto3_client(access_key=made[who][1], secret_key=made[who][2])
        if on_behalf:
            def add(request, **_):
                request.headers["X-Trent-On-Behalf-Of"] = on_behalf
            c.meta.events.register("before-sign.kms.*", add)
        return c

    def code(call, **kw):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(**kw)
        return e.value.response["Error"]["Code"]

    # Directly, ann may not; through the trusted service, she may.
    assert code(client("ann").encrypt, KeyId=key, Plaintext=b"x") == "AccessDeniedException"
    via = client("gateway", on_behalf=made["ann"][0])
    blob = via.encrypt(KeyId=key, Plaintext=b"through s3")["CiphertextBlob"]
    assert via.decrypt(CiphertextBlob=blob)["Plaintext"] == b"through s3"
    # Anyone else naming a caller is refused; so is a caller that does not exist.
    assert code(client("ann", on_behalf=made["gateway"][0]).encrypt, KeyId=key, Plaintext=b"x") == "AccessDeniedException"
    assert code(client("gateway", on_behalf=f"arn:aws:iam::{account}:user/nobody").encrypt, KeyId=key, Plaintext=b"x") == "AccessDeniedException"
    # The gateway itself has no permission of its own on the key.
    assert code(client("gateway").encrypt, KeyId=key, Plaintext=b"x") == "AccessDeniedException"


def test_the_explain_admin_call(t, aws, key, users):
    target = {"X-Amz-Target": "TrentAdmin.ExplainAuthorization"}
    r = t.raw(None, {"Principal": users["ulla"]["arn"], "Action": "kms:Decrypt", "KeyArn": key}, headers=target)
    assert r.status == 200, r
    assert r.json["Decision"] == "Allow" and '"Key users"' in r.json["Reason"]
    r = t.raw(None, {"Principal": users["dave"]["arn"], "Action": "kms:Decrypt", "KeyArn": key, "EncryptionContext": {"a": "b"}}, headers=target)
    assert r.json["Decision"] == "ImplicitDeny" and "no identity-based policy allows the kms:Decrypt action" in r.json["Message"]
    # Asking needs kms:GetKeyPolicy on the key: ulla has it not.
    ulla = aws("iam", "create-access-key", "--user-name", users["ulla"]["name"])["AccessKey"]
    r = t.raw(None, {"Principal": users["ulla"]["arn"], "Action": "kms:Decrypt", "KeyArn": key}, headers=target, access_key=ulla["AccessKeyId"], secret_key=ulla["SecretAccessKey"])
    assert (r.status, r.error_code) == (400, "AccessDeniedException"), r
    # And only about principals of the caller's own account.
    r = t.raw(None, {"Principal": "arn:aws:iam::999999999999:user/x", "Action": "kms:Decrypt", "KeyArn": key}, headers=target)
    assert r.error_code == "AccessDeniedException", r
    # Unsigned: refused like any request.
    assert t.raw(None, {"Principal": users["ulla"]["arn"], "Action": "kms:Decrypt", "KeyArn": key}, headers=target, sign=False).status == 400


def test_resource_aliases_and_source_ip(aws, account, key, users):
    eve = users["eve"]["name"]
    by_alias = statement("Eve via alias", users["eve"]["arn"], "kms:Encrypt", condition={"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/eve-*"}})
    aws("kms", "put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", key_policy(account, users, extra=[by_alias]))
    assert fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", profile=eve)[0] == "AccessDeniedException"
    alias = f"alias/eve-{unique('k')}"
    aws("kms", "create-alias", "--alias-name", alias, "--target-key-id", key.rsplit("/", 1)[1])
    assert encrypt(aws, key, profile=eve)["KeyId"] == key
    aws("kms", "delete-alias", "--alias-name", alias)
    assert fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", profile=eve)[0] == "AccessDeniedException"
    # aws:SourceIp is the caller's address (here the loopback).
    from_here = statement("Only from elsewhere", "*", "kms:*", effect="Deny", condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})
    from_here["Principal"] = "*"
    aws("kms", "put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", key_policy(account, users, extra=[from_here]), "--bypass-policy-lockout-safety-check")
    code, message = fails(aws, "kms", "encrypt", "--key-id", key, "--plaintext", "eA==", profile=users["ulla"]["name"])
    assert code == "AccessDeniedException" and "explicit deny in a resource-based policy" in message
    not_here = statement("Not from elsewhere", "*", "kms:*", effect="Deny", condition={"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}})
    not_here["Principal"] = "*"
    # The first deny locks even the admin out; a fresh key shows the allowed side.
    other = aws("kms", "create-key", "--policy", key_policy(account, users, extra=[not_here]))["KeyMetadata"]["Arn"]
    assert encrypt(aws, other, profile=users["ulla"]["name"])["KeyId"] == other


def test_list_retirable_grants(aws, key, users):
    eve = users["eve"]["arn"]
    made = aws("kms", "create-grant", "--key-id", key, "--grantee-principal", users["dave"]["arn"], "--operations", "Decrypt", "--retiring-principal", eve)
    listed = aws("kms", "list-retirable-grants", "--retiring-principal", eve)["Grants"]
    assert made["GrantId"] in [g["GrantId"] for g in listed]
    assert all(g["RetiringPrincipal"] == eve for g in listed)
    # eve has no identity policy: the call is IAM's alone.
    assert fails(aws, "kms", "list-retirable-grants", "--retiring-principal", eve, profile=users["eve"]["name"])[0] == "AccessDeniedException"
    assert fails(aws, "kms", "list-retirable-grants", "--retiring-principal", "arn:aws:iam::999999999999:user/x")[0] == "AccessDeniedException"
    # The retiring principal retires it by key id and grant id.
    aws("kms", "retire-grant", "--key-id", key, "--grant-id", made["GrantId"], profile=users["eve"]["name"])
    assert made["GrantId"] not in [g["GrantId"] for g in aws("kms", "list-retirable-grants", "--retiring-principal", eve)["Grants"]]
