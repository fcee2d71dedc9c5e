"""boto3 against a secure-mode Trent: the operations, and every error path
with the exception code and HTTP status AWS answers with."""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import kms_error

BAD = 400


@pytest.fixture(scope="module")
def t(secure_trent):
    return secure_trent


@pytest.fixture(scope="module")
def kms(t):
    return t.boto3_client()


@pytest.fixture(scope="module")
def account(kms):
    return kms.create_key()["KeyMetadata"]["AWSAccountId"]


@pytest.fixture
def key(kms):
    """A fresh enabled key's metadata."""
    return kms.create_key(Description="boto3 test key")["KeyMetadata"]


def unique(prefix="alias/b3-"):
    return prefix + uuid.uuid4().hex[:12]


# --- operations ------------------------------------------------------------------


def test_create_key_and_describe_it_every_way(kms, account):
    m = kms.create_key(Description="with tags", Tags=[{"TagKey": "team", "TagValue": "x"}, {"TagKey": "empty", "TagValue": ""}])["KeyMetadata"]
    assert m["Arn"] == f"arn:aws:kms:us-east-1:{account}:key/{m['KeyId']}"
    assert (m["Description"], m["KeyState"], m["Enabled"], m["KeySpec"], m["KeyUsage"]) == ("with tags", "Enabled", True, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    alias = unique()
    kms.create_alias(AliasName=alias, TargetKeyId=m["KeyId"])
    for ref in [m["KeyId"], m["Arn"], alias, f"arn:aws:kms:us-east-1:{account}:{alias}"]:
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["Arn"] == m["Arn"], ref
    tags = kms.list_resource_tags(KeyId=m["KeyId"])
    assert sorted(tags["Tags"], key=lambda x: x["TagKey"]) == [{"TagKey": "empty", "TagValue": ""}, {"TagKey": "team", "TagValue": "x"}]
    assert tags["Truncated"] is False


def test_encrypt_decrypt_reencrypt(kms, key):
    other = kms.create_key()["KeyMetadata"]
    ctx = {"tenant": "acme", "purpose": "e2e"}
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"\x00secret\xff", EncryptionContext=ctx)
    assert (out["KeyId"], out["EncryptionAlgorithm"]) == (key["Arn"], "SYMMETRIC_DEFAULT")
    d = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=ctx)
    assert (d["Plaintext"], d["KeyId"], d["EncryptionAlgorithm"]) == (b"\x00secret\xff", key["Arn"], "SYMMETRIC_DEFAULT")
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=ctx, KeyId=key["Arn"])["Plaintext"] == b"\x00secret\xff"
    # Same plaintext twice: different ciphertexts.
    assert kms.encrypt(KeyId=key["KeyId"], Plaintext=b"\x00secret\xff", EncryptionContext=ctx)["CiphertextBlob"] != out["CiphertextBlob"]

    # Unicode and empty values; the order of the pairs does not matter.
    uctx = {"ключ": "значение", "emoji": "🔑", "empty": "", "a": "b"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"u", EncryptionContext=uctx)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(list(uctx.items()))))["Plaintext"] == b"u"
    assert kms_error(kms.decrypt, CiphertextBlob=blob, EncryptionContext={**uctx, "empty": " "})[:2] == ("InvalidCiphertextException", BAD)

    r = kms.re_encrypt(CiphertextBlob=out["CiphertextBlob"], SourceEncryptionContext=ctx, DestinationKeyId=other["KeyId"])
    assert (r["SourceKeyId"], r["KeyId"]) == (key["Arn"], other["Arn"])
    d = kms.decrypt(CiphertextBlob=r["CiphertextBlob"])
    assert (d["Plaintext"], d["KeyId"]) == (b"\x00secret\xff", other["Arn"])


def test_generate_data_keys_and_random(kms, key):
    for kw, n in [({"KeySpec": "AES_256"}, 32), ({"KeySpec": "AES_128"}, 16), ({"NumberOfBytes": 1}, 1), ({"NumberOfBytes": 1024}, 1024)]:
        g = kms.generate_data_key(KeyId=key["KeyId"], EncryptionContext={"k": "v"}, **kw)
        assert len(g["Plaintext"]) == n and g["KeyId"] == key["Arn"], kw
        assert kms.decrypt(CiphertextBlob=g["CiphertextBlob"], EncryptionContext={"k": "v"})["Plaintext"] == g["Plaintext"]
    w = kms.generate_data_key_without_plaintext(KeyId=key["Arn"], KeySpec="AES_256")
    assert "Plaintext" not in w
    assert len(kms.decrypt(CiphertextBlob=w["CiphertextBlob"])["Plaintext"]) == 32
    r1, r2 = (kms.generate_random(NumberOfBytes=1024)["Plaintext"] for _ in range(2))
    assert len(r1) == len(r2) == 1024 and r1 != r2


def test_management_operations(kms, key):
    k = key["KeyId"]
    kms.update_key_description(KeyId=k, Description="new words")
    assert kms.describe_key(KeyId=k)["KeyMetadata"]["Description"] == "new words"
    kms.tag_resource(KeyId=k, Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}])
    kms.tag_resource(KeyId=k, Tags=[{"TagKey": "a", "TagValue": "one"}])
    kms.untag_resource(KeyId=k, TagKeys=["b"])
    assert kms.list_resource_tags(KeyId=k)["Tags"] == [{"TagKey": "a", "TagValue": "one"}]
    assert kms.list_key_policies(KeyId=k)["PolicyNames"] == ["default"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]})
    kms.put_key_policy(KeyId=k, PolicyName="default", Policy=policy)
    assert kms.get_key_policy(KeyId=k, PolicyName="default")["Policy"] == policy
    kms.disable_key(KeyId=k)
    assert kms.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.disable_key(KeyId=k)  # again: no error, as in AWS
    assert kms_error(kms.encrypt, KeyId=k, Plaintext=b"x")[:2] == ("DisabledException", BAD)
    kms.enable_key(KeyId=k)
    assert kms.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] == "Enabled"
    s = kms.schedule_key_deletion(KeyId=k, PendingWindowInDays=7)
    assert (s["KeyState"], s["PendingWindowInDays"]) == ("PendingDeletion", 7)
    m = kms.describe_key(KeyId=k)["KeyMetadata"]
    assert (m["KeyState"], m["Enabled"], m["DeletionDate"]) == ("PendingDeletion", False, s["DeletionDate"])
    assert abs(m["DeletionDate"].timestamp() - (time.time() + 7 * 86400)) < 300
    assert kms_error(kms.encrypt, KeyId=k, Plaintext=b"x")[:2] == ("KMSInvalidStateException", BAD)
    assert kms.cancel_key_deletion(KeyId=k)["KeyId"] == key["Arn"]
    m = kms.describe_key(KeyId=k)["KeyMetadata"]
    assert m["KeyState"] == "Disabled" and "DeletionDate" not in m and "PendingDeletionWindowInDays" not in m


def test_aliases(kms, key):
    other = kms.create_key()["KeyMetadata"]
    name = unique()
    kms.create_alias(AliasName=name, TargetKeyId=key["Arn"])
    [created] = kms.list_aliases(KeyId=key["KeyId"])["Aliases"]
    assert (created["AliasName"], created["AliasArn"]) == (name, key["Arn"].split(":key/")[0] + ":" + name)
    assert abs(created["CreationDate"].timestamp() - time.time()) < 300
    kms.update_alias(AliasName=name, TargetKeyId=other["KeyId"])
    assert kms.list_aliases(KeyId=key["KeyId"])["Aliases"] == []
    listed = kms.list_aliases(KeyId=other["Arn"])["Aliases"]
    assert [(a["AliasName"], a["TargetKeyId"]) for a in listed] == [(name, other["KeyId"])]
    assert listed[0]["CreationDate"] == created["CreationDate"]
    assert listed[0]["LastUpdatedDate"] >= created["LastUpdatedDate"]
    assert kms.encrypt(KeyId=name, Plaintext=b"x")["KeyId"] == other["Arn"]
    kms.delete_alias(AliasName=name)
    assert name not in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert kms.describe_key(KeyId=other["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"  # the key is untouched


# --- error paths -------------------------------------------------------------------


def test_not_found(kms, account):
    missing = str(uuid.uuid4())
    assert kms_error(kms.describe_key, KeyId=missing)[:2] == ("NotFoundException", BAD)
    assert kms_error(kms.describe_key, KeyId=f"arn:aws:kms:us-east-1:{account}:key/{missing}")[:2] == ("NotFoundException", BAD)
    assert kms_error(kms.encrypt, KeyId=missing, Plaintext=b"x")[:2] == ("NotFoundException", BAD)
    assert kms_error(kms.describe_key, KeyId="alias/b3-no-such-alias")[:2] == ("NotFoundException", BAD)
    assert kms_error(kms.encrypt, KeyId="alias/b3-no-such-alias", Plaintext=b"x")[:2] == ("NotFoundException", BAD)
    assert kms_error(kms.delete_alias, AliasName="alias/b3-no-such-alias")[:2] == ("NotFoundException", BAD)
    assert kms_error(kms.update_alias, AliasName="alias/b3-no-such-alias", TargetKeyId=missing)[:2] == ("NotFoundException", BAD)


def test_duplicate_alias(kms, key):
    other = kms.create_key()["KeyMetadata"]
    name = unique()
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    assert kms_error(kms.create_alias, AliasName=name, TargetKeyId=other["KeyId"])[:2] == ("AlreadyExistsException", BAD)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == key["KeyId"]


def test_validation_errors(t, kms, key):
    k = key["KeyId"]
    for days in (6, 31):
        e = kms_error(kms.schedule_key_deletion, KeyId=k, PendingWindowInDays=days)
        assert e[:2] == ("ValidationException", BAD), days
    assert kms.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] == "Enabled"

    r = t.raw("ListKeys", {"Limit": 0})  # boto3 itself refuses Limit=0
    assert (r.status, r.error_code) == (BAD, "ValidationException")
    assert r.message == "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
    r = t.raw("ListAliases", {"Limit": 1001})
    assert (r.status, r.error_code) == (BAD, "ValidationException")

    long = "d" * 8193
    assert kms_error(kms.create_key, Description=long)[:2] == ("ValidationException", BAD)
    assert kms_error(kms.update_key_description, KeyId=k, Description=long)[:2] == ("ValidationException", BAD)
    assert kms.describe_key(KeyId=k)["KeyMetadata"]["Description"] == "boto3 test key"
    kms.update_key_description(KeyId=k, Description="d" * 8192)  # the limit itself is fine

    assert kms_error(kms.generate_data_key, KeyId=k, KeySpec="AES_256", NumberOfBytes=32)[:2] == ("ValidationException", BAD)
    assert kms_error(kms.generate_data_key, KeyId=k)[:2] == ("ValidationException", BAD)
    assert kms_error(kms.generate_data_key_without_plaintext, KeyId=k)[:2] == ("ValidationException", BAD)


def test_invalid_alias_names(kms, key):
    # Without the alias/ prefix: AWS's ValidationException; reserved: InvalidAliasNameException.
    for name, code in [("b3-no-prefix", "ValidationException"), ("alias/aws/b3-reserved", "InvalidAliasNameException")]:
        assert kms_error(kms.create_alias, AliasName=name, TargetKeyId=key["KeyId"])[:2] == (code, BAD), name
    assert kms.list_aliases(KeyId=key["KeyId"])["Aliases"] == []


def test_invalid_arn(kms, key):
    for arn in [
        "arn:aws:kms:us-east-1:12345:key/" + key["KeyId"],  # account is not 12 digits
        "arn:aws:kms:us-east-1:" + key["Arn"].split(":")[4] + ":key/not-a-uuid",
        "arn:aws:kms",
    ]:
        assert kms_error(kms.describe_key, KeyId=arn)[:2] == ("InvalidArnException", BAD), arn


def test_malformed_policy(kms, key):
    before = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    for policy in ["not json", "{}", json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})]:
        assert kms_error(kms.put_key_policy, KeyId=key["KeyId"], PolicyName="default", Policy=policy)[:2] == ("MalformedPolicyDocumentException", BAD)
    assert kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"] == before
    assert kms_error(kms.create_key, Policy="not json")[:2] == ("MalformedPolicyDocumentException", BAD)


def test_reserved_tags(kms, key):
    assert kms_error(kms.tag_resource, KeyId=key["KeyId"], Tags=[{"TagKey": "aws:owner", "TagValue": "x"}])[:2] == ("TagException", BAD)
    assert kms_error(kms.create_key, Tags=[{"TagKey": "aws:owner", "TagValue": "x"}])[:2] == ("TagException", BAD)
    assert kms.list_resource_tags(KeyId=key["KeyId"])["Tags"] == []


def test_invalid_marker(kms, key):
    for marker in ["bogus", "!!!", "%%%%"]:
        assert kms_error(kms.list_keys, Marker=marker)[:2] == ("InvalidMarkerException", BAD), marker
        assert kms_error(kms.list_aliases, Marker=marker)[:2] == ("InvalidMarkerException", BAD), marker
        assert kms_error(kms.list_resource_tags, KeyId=key["KeyId"], Marker=marker)[:2] == ("InvalidMarkerException", BAD), marker


def test_forged_marker(kms):
    forged = "bm90LWEtbWFya2Vy"  # base64url of "not-a-marker": never a NextMarker Trent gave out
    assert kms_error(kms.list_keys, Marker=forged)[:2] == ("InvalidMarkerException", BAD)


def test_invalid_state(kms, key):
    k = key["KeyId"]
    assert kms_error(kms.cancel_key_deletion, KeyId=k)[:2] == ("KMSInvalidStateException", BAD)
    kms.schedule_key_deletion(KeyId=k, PendingWindowInDays=7)
    date = kms.describe_key(KeyId=k)["KeyMetadata"]["DeletionDate"]
    assert kms_error(kms.schedule_key_deletion, KeyId=k, PendingWindowInDays=30)[:2] == ("KMSInvalidStateException", BAD)
    assert kms.describe_key(KeyId=k)["KeyMetadata"]["DeletionDate"] == date
    for call in (kms.enable_key, kms.disable_key):
        assert kms_error(call, KeyId=k)[:2] == ("KMSInvalidStateException", BAD)
    assert kms_error(kms.update_key_description, KeyId=k, Description="x")[:2] == ("KMSInvalidStateException", BAD)
    assert kms_error(kms.create_alias, AliasName=unique(), TargetKeyId=k)[:2] == ("KMSInvalidStateException", BAD)
    assert kms.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_pending_deletion_metadata_fields(kms, key):
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    m = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert "DeletionDate" in m
    assert "PendingDeletionWindowInDays" not in m


def test_concurrent_changes_to_one_key(t, kms, key):
    """Simultaneous TagResource calls on one key all succeed and all land
    (Trent used to fail the losers with KMSInvalidStateException)."""
    threads = 8
    clients = [t.boto3_client() for _ in range(threads)]
    for round in range(10):
        barrier = threading.Barrier(threads)

        def tag(i):
            barrier.wait()
            clients[i].tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": f"t{i}", "TagValue": f"r{round}"}])

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(tag, range(threads)))  # raises the first error
    tags = kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
    assert sorted((x["TagKey"], x["TagValue"]) for x in tags) == [(f"t{i}", "r9") for i in range(threads)]


def test_dry_run(kms, key):
    k = key["KeyId"]
    blob = kms.encrypt(KeyId=k, Plaintext=b"x")["CiphertextBlob"]
    assert kms_error(kms.encrypt, KeyId=k, Plaintext=b"x", DryRun=True)[:2] == ("DryRunOperationException", BAD)
    assert kms_error(kms.decrypt, CiphertextBlob=blob, DryRun=True)[:2] == ("DryRunOperationException", BAD)
    assert kms_error(kms.generate_data_key, KeyId=k, KeySpec="AES_256", DryRun=True)[:2] == ("DryRunOperationException", BAD)
    # IGNORE_CIPHERTEXT: only whether the caller may use the key is checked.
    ignore = {"DryRun": True, "DryRunModifiers": ["IGNORE_CIPHERTEXT"]}
    assert kms_error(kms.decrypt, CiphertextBlob=b"not a ciphertext", KeyId=k, **ignore)[:2] == ("DryRunOperationException", BAD)
    assert kms_error(kms.decrypt, CiphertextBlob=b"not a ciphertext", KeyId=str(uuid.uuid4()), **ignore)[:2] == ("NotFoundException", BAD)
    # A DryRun that would fail fails with the real error.
    assert kms_error(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"a": "b"}, DryRun=True)[:2] == ("InvalidCiphertextException", BAD)
    kms.disable_key(KeyId=k)
    assert kms_error(kms.encrypt, KeyId=k, Plaintext=b"x", DryRun=True)[:2] == ("DisabledException", BAD)


def test_incorrect_key(kms, key):
    other = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert kms_error(kms.decrypt, CiphertextBlob=blob, KeyId=other["KeyId"])[:2] == ("IncorrectKeyException", BAD)
    assert kms_error(kms.re_encrypt, CiphertextBlob=blob, SourceKeyId=other["Arn"], DestinationKeyId=other["KeyId"])[:2] == ("IncorrectKeyException", BAD)


def page_through(call, field, **kw):
    """Every item of a paged list, one per page, checking Truncated/NextMarker."""
    items, marker = [], None
    while True:
        page = call(Limit=1, **({"Marker": marker} if marker else {}), **kw)
        assert len(page[field]) <= 1
        items += page[field]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            return items
        assert page["NextMarker"] and len(page[field]) == 1
        marker = page["NextMarker"]


def test_paging_one_at_a_time(kms):
    made = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)]
    names = [unique() for _ in range(3)]
    for name, k in zip(names, made):
        kms.create_alias(AliasName=name, TargetKeyId=k)
    keys = page_through(kms.list_keys, "Keys")
    ids = [x["KeyId"] for x in keys]
    assert len(ids) == len(set(ids))
    assert set(made) <= set(ids)
    assert sorted(ids) == sorted(x["KeyId"] for x in kms.list_keys(Limit=1000)["Keys"])
    aliases = page_through(kms.list_aliases, "Aliases")
    alias_names = [a["AliasName"] for a in aliases]
    assert len(alias_names) == len(set(alias_names))
    assert set(names) <= set(alias_names)
    assert sorted(alias_names) == sorted(a["AliasName"] for a in kms.list_aliases(Limit=1000)["Aliases"])


def test_regions_are_separate(t, kms, account):
    west = t.boto3_client(region="us-west-2")
    w = west.create_key(Description="west")["KeyMetadata"]
    assert w["Arn"] == f"arn:aws:kms:us-west-2:{account}:key/{w['KeyId']}"
    name = unique()
    west.create_alias(AliasName=name, TargetKeyId=w["KeyId"])
    assert w["KeyId"] not in [x["KeyId"] for x in kms.list_keys(Limit=1000)["Keys"]]
    assert name not in [a["AliasName"] for a in kms.list_aliases(Limit=1000)["Aliases"]]
    assert kms_error(kms.describe_key, KeyId=w["KeyId"])[:2] == ("NotFoundException", BAD)
    assert kms_error(kms.describe_key, KeyId=name)[:2] == ("NotFoundException", BAD)
    assert kms_error(kms.describe_key, KeyId=w["Arn"])[:2] == ("NotFoundException", BAD)
    blob = west.encrypt(KeyId=name, Plaintext=b"west")["CiphertextBlob"]
    assert kms_error(kms.decrypt, CiphertextBlob=blob)[:2] == ("InvalidCiphertextException", BAD)
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"west"
    # The same alias name can exist in another region.
    east_key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=name, TargetKeyId=east_key)
    assert west.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == w["KeyId"]


def test_plaintext_size_limit(kms, key):
    for n in (1, 4096):
        blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p" * n)["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p" * n
    assert kms_error(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"p" * 4097)[:2] == ("ValidationException", BAD)


def test_tampered_ciphertext(kms, key):
    ctx = {"a": "b"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"tamper with me", EncryptionContext=ctx)["CiphertextBlob"]
    # docs/ciphertext-format.md: magic, version, key id, material id, salt, iv, ciphertext, tag.
    for pos in [0, 1, 2, 17, 18, 49, 50, 66, 78, len(blob) - 1]:
        bad = bytearray(blob)
        bad[pos] ^= 0x01
        assert kms_error(kms.decrypt, CiphertextBlob=bytes(bad), EncryptionContext=ctx)[:2] == ("InvalidCiphertextException", BAD), pos
    for bad in [blob[:-1], blob[: len(blob) // 2], blob[:1], blob + b"\x00"]:
        assert kms_error(kms.decrypt, CiphertextBlob=bad, EncryptionContext=ctx)[:2] == ("InvalidCiphertextException", BAD), len(bad)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"tamper with me"
