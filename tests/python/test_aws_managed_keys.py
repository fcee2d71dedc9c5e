"""AWS managed keys (`alias/aws/<service>`, KeyManager AWS): made the first
time a trusted service uses its alias on a caller's behalf, in the caller's
account, with AWS's policy (use only through the service, metadata for the
account), rotated every year, and changed by nobody. Driven through boto3,
the services adding `X-Trent-On-Behalf-Of` in a `before-sign` hook as
test_trusted_services.py does.
"""

import concurrent.futures
import configparser
import json
import subprocess

import boto3
import botocore.exceptions
import pytest

from conftest import trent_bin

S3 = "s3.us-east-1.amazonaws.com"
SQS = "sqs.us-east-1.amazonaws.com"
OTHER = "310987654321"
DAY = 24 * 60 * 60
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def error_of(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


@pytest.fixture(scope="module")
def world(trent_factory):
    """Account A with the services' principals `gateway` (S3) and `queue`
    (SQS) and `ann`, allowed everything by IAM; account B (OTHER) with
    `bob`, whose users the S3 service may act for."""
    t = trent_factory()
    ak, sk = t.keys()
    iam = boto3.client("iam", endpoint_url=t.endpoint, region_name="us-east-1", aws_access_key_id=ak, aws_secret_access_key=sk)
    made = {}
    for who in ("gateway", "queue", "ann"):
        arn = iam.create_user(UserName=who)["User"]["Arn"]
        k = iam.create_access_key(UserName=who)["AccessKey"]
        made[who] = (arn, k["AccessKeyId"], k["SecretAccessKey"])
    iam.put_user_policy(UserName="ann", PolicyName="all", PolicyDocument=ALLOW_ALL)
    account = made["ann"][0].split(":")[4]
    r = subprocess.run([trent_bin(), "account", "create", "--data-dir", t.data_dir, "--account-id", OTHER, "--profile", "b", "--with-root-key"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    creds = configparser.ConfigParser()
    creds.read_string(r.stdout)
    b_root = creds["b-root"]
    made["b-root"] = (f"arn:aws:iam::{OTHER}:root", b_root["aws_access_key_id"], b_root["aws_secret_access_key"])
    b_iam = boto3.client("iam", endpoint_url=t.endpoint, region_name="us-east-1", aws_access_key_id=b_root["aws_access_key_id"], aws_secret_access_key=b_root["aws_secret_access_key"])
    made["bob"] = (b_iam.create_user(UserName="bob")["User"]["Arn"],)
    b_iam.put_user_policy(UserName="bob", PolicyName="all", PolicyDocument=ALLOW_ALL)
    flags = ["--trusted-service", f"{S3}={made['gateway'][0]}", "--trusted-service", f"{SQS}={made['queue'][0]}", "--trusted-service-accounts", f"{S3}={OTHER}"]
    t.restart(flags)
    return t, account, made, flags


def as_(t, made, who):
    return t.boto3_client(access_key=made[who][1], secret_key=made[who][2])


def via(t, made, on_behalf, service="gateway"):
    """A KMS client of the trusted service `service`, acting for `on_behalf`."""
    c = as_(t, made, service)

    def add(request, **_):
        request.headers["X-Trent-On-Behalf-Of"] = on_behalf

    c.meta.events.register("before-sign.kms.*", add)
    return c


def aliases(client):
    return {a["AliasName"]: a for a in client.get_paginator("list_aliases").paginate().build_full_result()["Aliases"]}


def s3_key(t, made):
    """The S3 service's AWS managed key of ann's account (made if need be)."""
    return via(t, made, made["ann"][0]).describe_key(KeyId="alias/aws/s3")["KeyMetadata"]


def test_made_on_first_use_through_the_service_once(world):
    t, account, made, _ = world
    ann, admin = as_(t, made, "ann"), t.boto3_client()
    # Before: the alias does not exist, and a direct call does not make it.
    code, message = error_of(ann.describe_key, KeyId="alias/aws/s3")
    assert code == "NotFoundException", message
    assert f"arn:aws:kms:us-east-1:{account}:alias/aws/s3" in message, message
    assert "alias/aws/s3" not in aliases(admin)
    # The service's first use makes it.
    first = via(t, made, made["ann"][0]).generate_data_key(KeyId="alias/aws/s3", KeySpec="AES_256")
    key = admin.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert first["KeyId"] == key["Arn"]
    assert key["Arn"].startswith(f"arn:aws:kms:us-east-1:{account}:key/")
    assert (key["KeyManager"], key["Origin"], key["KeySpec"], key["KeyUsage"], key["KeyState"], key["Enabled"]) == ("AWS", "AWS_KMS", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Enabled", True)
    assert key["Description"] == "Default key that protects my s3 data when no other key is defined"
    # Again: the same key.
    again = via(t, made, made["ann"][0]).encrypt(KeyId="alias/aws/s3", Plaintext=b"x")
    assert again["KeyId"] == key["Arn"]
    # Listed as AWS lists them: the alias with its key, the key among the account's.
    listed = aliases(admin)["alias/aws/s3"]
    assert (listed["TargetKeyId"], listed["AliasArn"]) == (key["KeyId"], f"arn:aws:kms:us-east-1:{account}:alias/aws/s3")
    assert key["KeyId"] in [k["KeyId"] for k in admin.list_keys()["Keys"]]
    assert [a["AliasName"] for a in admin.list_aliases(KeyId=key["KeyId"])["Aliases"]] == ["alias/aws/s3"]
    # Rotated every year, and its policy is AWS's.
    status = admin.get_key_rotation_status(KeyId=key["KeyId"])
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 365)
    policy = json.loads(admin.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    use, read = policy["Statement"]
    assert use["Principal"] == {"AWS": "*"}
    assert use["Condition"] == {"StringEquals": {"kms:CallerAccount": account, "kms:ViaService": S3}}
    assert set(use["Action"]) == {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"}
    assert (read["Principal"], read["Action"]) == ({"AWS": f"arn:aws:iam::{account}:root"}, ["kms:Describe*", "kms:Get*", "kms:List*"])


def test_in_the_callers_account(world):
    t, account, made, _ = world
    key = via(t, made, made["bob"][0]).describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert key["AWSAccountId"] == OTHER and key["KeyManager"] == "AWS"
    assert key["KeyId"] != s3_key(t, made)["KeyId"]
    b_root = as_(t, made, "b-root")
    assert aliases(b_root)["alias/aws/s3"]["TargetKeyId"] == key["KeyId"]


def test_only_the_services_own_alias_and_only_through_it(world):
    t, account, made, _ = world
    # The S3 service cannot make SQS's key, nor anything outside alias/aws/s3.
    for alias in ["alias/aws/sqs", "alias/aws/ebs", "alias/aws/s3x"]:
        code, message = error_of(via(t, made, made["ann"][0]).describe_key, KeyId=alias)
        assert code == "NotFoundException", (alias, message)
    # Its principal calling for itself is not acting on anyone's behalf.
    code, _ = error_of(as_(t, made, "gateway").describe_key, KeyId="alias/aws/sqs")
    assert code == "NotFoundException"
    assert "alias/aws/sqs" not in aliases(t.boto3_client())


def test_used_only_through_the_service(world):
    t, account, made, _ = world
    key = s3_key(t, made)
    ann, service = as_(t, made, "ann"), via(t, made, made["ann"][0])
    blob = service.encrypt(KeyId="alias/aws/s3", Plaintext=b"secret")["CiphertextBlob"]
    assert service.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    # Directly, even a principal allowed everything by IAM cannot use it:
    # the policy allows use only with kms:ViaService.
    for call, kw in [(ann.encrypt, {"KeyId": "alias/aws/s3", "Plaintext": b"x"}), (ann.decrypt, {"CiphertextBlob": blob}), (ann.generate_data_key, {"KeyId": key["KeyId"], "KeySpec": "AES_256"})]:
        code, message = error_of(call, **kw)
        assert code == "AccessDeniedException", message
        assert "because no resource-based policy allows" in message, message
    # Its metadata is the account's to read.
    assert ann.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyManager"] == "AWS"
    # Another service's calls are not this service's.
    code, _ = error_of(via(t, made, made["ann"][0], service="queue").decrypt, CiphertextBlob=blob)
    assert code == "AccessDeniedException"


def test_concurrent_first_uses_make_one_key(world):
    t, account, made, _ = world
    clients = [via(t, made, made["ann"][0], service="queue") for _ in range(12)]
    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        ids = list(pool.map(lambda c: c.generate_data_key(KeyId="alias/aws/sqs", KeySpec="AES_256")["KeyId"], clients))
    assert len(set(ids)) == 1, ids
    admin = t.boto3_client()
    metadata = [admin.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in admin.list_keys()["Keys"]]
    sqs = [m["Arn"] for m in metadata if m["KeyManager"] == "AWS" and "sqs" in m["Description"]]
    assert sqs == ids[:1], sqs
    assert aliases(admin)["alias/aws/sqs"]["TargetKeyId"] in ids[0]


def refusals(key_id, other_key_id):
    """Every change to a key, as (operation, arguments)."""
    return [
        ("put_key_policy", {"KeyId": key_id, "PolicyName": "default", "Policy": ALLOW_ALL.replace('"Action"', '"Principal": "*", "Action"')}),
        ("disable_key", {"KeyId": key_id}),
        ("enable_key", {"KeyId": key_id}),
        ("schedule_key_deletion", {"KeyId": key_id, "PendingWindowInDays": 7}),
        ("cancel_key_deletion", {"KeyId": key_id}),
        ("enable_key_rotation", {"KeyId": key_id}),
        ("disable_key_rotation", {"KeyId": key_id}),
        ("rotate_key_on_demand", {"KeyId": key_id}),
        ("tag_resource", {"KeyId": key_id, "Tags": [{"TagKey": "t", "TagValue": "v"}]}),
        ("untag_resource", {"KeyId": key_id, "TagKeys": ["t"]}),
        ("update_key_description", {"KeyId": key_id, "Description": "mine now"}),
        ("delete_imported_key_material", {"KeyId": key_id}),
        ("import_key_material", {"KeyId": key_id, "ImportToken": b"t" * 32, "EncryptedKeyMaterial": b"m" * 32, "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
        ("create_alias", {"AliasName": "alias/points-at-aws-managed", "TargetKeyId": key_id}),
        ("update_alias", {"AliasName": "alias/customer", "TargetKeyId": key_id}),
        ("replicate_key", {"KeyId": key_id, "ReplicaRegion": "eu-west-1"}),
        ("update_primary_region", {"KeyId": key_id, "PrimaryRegion": "eu-west-1"}),
    ]


def test_nobody_can_change_it(world):
    t, account, made, _ = world
    key = s3_key(t, made)
    admin = t.boto3_client()
    customer = admin.create_key(Description="customer")["KeyMetadata"]["KeyId"]
    admin.create_alias(AliasName="alias/customer", TargetKeyId=customer)
    before = (admin.describe_key(KeyId=key["KeyId"])["KeyMetadata"], admin.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    callers = {
        "Trent's admin": admin,
        "ann (allowed everything by IAM)": as_(t, made, "ann"),
        "the account root, through the service": via(t, made, f"arn:aws:iam::{account}:root"),
        "ann, through the service": via(t, made, made["ann"][0]),
    }
    for who, client in callers.items():
        for op, kw in refusals(key["KeyId"], customer):
            code, message = error_of(getattr(client, op), **kw)
            assert code == "AccessDeniedException", (who, op, message)
            assert "because no resource-based policy allows the kms:" in message, (who, op, message)
    # The aws/ aliases cannot be made (a reserved name), nor moved or
    # deleted (their key's policy allows neither).
    code, message = error_of(admin.create_alias, AliasName="alias/aws/mine", TargetKeyId=customer)
    assert code == "InvalidAliasNameException", message
    for who, client in callers.items():
        for op, kw in [("update_alias", {"AliasName": "alias/aws/s3", "TargetKeyId": customer}), ("delete_alias", {"AliasName": "alias/aws/s3"})]:
            code, message = error_of(getattr(client, op), **kw)
            assert code == "AccessDeniedException", (who, op, message)
            assert f"kms:{op.title().replace('_', '')} on resource: {key['Arn']}" in message, (who, op, message)
    for op, kw in [("update_alias", {"AliasName": "alias/aws/nothing", "TargetKeyId": customer}), ("delete_alias", {"AliasName": "alias/aws/nothing"})]:
        code, message = error_of(getattr(admin, op), **kw)
        assert code == "NotFoundException", (op, message)
    after = (admin.describe_key(KeyId=key["KeyId"])["KeyMetadata"], admin.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    assert after == before
    assert admin.list_resource_tags(KeyId=key["KeyId"])["Tags"] == []
    assert aliases(admin)["alias/aws/s3"]["TargetKeyId"] == key["KeyId"]
    assert aliases(admin)["alias/customer"]["TargetKeyId"] == customer


def reads(key_id):
    """What the account may do to the key directly: read it."""
    return [
        ("describe_key", {"KeyId": key_id}),
        ("get_key_policy", {"KeyId": key_id, "PolicyName": "default"}),
        ("get_key_rotation_status", {"KeyId": key_id}),
        ("get_key_last_usage", {"KeyId": key_id}),
        ("list_aliases", {"KeyId": key_id}),
        ("list_grants", {"KeyId": key_id}),
        ("list_key_policies", {"KeyId": key_id}),
        ("list_key_rotations", {"KeyId": key_id}),
        ("list_resource_tags", {"KeyId": key_id}),
    ]


# Operations that name no key.
NO_KEY = {"CreateKey", "ListKeys", "GenerateRandom", "ListRetirableGrants"}
# Uses, through the service, and the uses a symmetric key cannot have.
USES = {"Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "CreateGrant", "RetireGrant", "RevokeGrant"}
NOT_SYMMETRIC = {"Sign", "Verify", "GenerateMac", "VerifyMac", "DeriveSharedSecret", "Encapsulate", "Decapsulate", "GetPublicKey", "GetParametersForImport"}


def test_every_operation_is_accounted_for(world):
    """Each operation of the model is here a change (refused), a read, a
    use, one a symmetric key cannot do, or one that names no key: a new
    operation fails this test until it is placed."""
    t, _, made, _ = world
    model = json.load(open(__file__.rsplit("/tests/", 1)[0] + "/model/service-2.json"))
    pascal = lambda snake: "".join(w.title() for w in snake.split("_"))
    placed = [pascal(op) for op, _ in refusals("k", "k") + reads("k")] + ["DeleteAlias"] + sorted(NO_KEY | USES | NOT_SYMMETRIC)
    custom_key_stores = {op for op in model["operations"] if "CustomKeyStore" in op}
    assert sorted(set(placed) | custom_key_stores) == sorted(model["operations"]), set(model["operations"]) ^ (set(placed) | custom_key_stores)
    assert len(placed) == len(set(placed))


def test_the_account_reads_it_and_the_service_uses_it(world):
    t, account, made, _ = world
    key = s3_key(t, made)
    for who, client in {"Trent's admin": t.boto3_client(), "ann": as_(t, made, "ann")}.items():
        for op, kw in reads(key["KeyId"]):
            getattr(client, op)(**kw)
        code, message = error_of(client.get_parameters_for_import, KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
        assert code == "UnsupportedOperationException", (who, message)
    service = via(t, made, made["ann"][0])
    blob = service.encrypt(KeyId="alias/aws/s3", Plaintext=b"z")["CiphertextBlob"]
    assert service.re_encrypt(CiphertextBlob=blob, DestinationKeyId="alias/aws/s3")["KeyId"] == key["Arn"]
    service.generate_data_key_without_plaintext(KeyId="alias/aws/s3", KeySpec="AES_256")
    service.generate_data_key_pair(KeyId="alias/aws/s3", KeyPairSpec="ECC_NIST_P256")
    grant = service.create_grant(KeyId=key["Arn"], GranteePrincipal=made["ann"][0], Operations=["Decrypt"])
    assert [g["GrantId"] for g in t.boto3_client().list_grants(KeyId=key["KeyId"])["Grants"]] == [grant["GrantId"]]
    # The account may not revoke it (AWS's policy gives it reads only); the
    # service on its behalf may not either.
    for client in (t.boto3_client(), service):
        code, message = error_of(client.revoke_grant, KeyId=key["KeyId"], GrantId=grant["GrantId"])
        assert code == "AccessDeniedException", message
    # Nor may anyone sign with it: it is an encryption key.
    code, _ = error_of(service.sign, KeyId="alias/aws/s3", Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert code == "AccessDeniedException"


def test_rotated_every_year(world):
    t, account, made, flags = world
    key = s3_key(t, made)
    assert t.boto3_client().list_key_rotations(KeyId=key["KeyId"])["Rotations"] == []
    blob = via(t, made, made["ann"][0]).encrypt(KeyId="alias/aws/s3", Plaintext=b"before")["CiphertextBlob"]
    # A year later: rotated at start-up. (Seen after going back to today's
    # clock, which requests are signed with.)
    t.restart(flags + ["--clock-offset-secs", str(366 * DAY)])
    t.restart(flags)
    admin = t.boto3_client()
    rotations = admin.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"], rotations
    assert admin.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"] != key["CurrentKeyMaterialId"]
    # Older ciphertexts still decrypt through the service.
    assert via(t, made, made["ann"][0]).decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
