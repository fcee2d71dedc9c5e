"""The stock aws CLI (v1) against a secure-mode Trent, as a user drives it.

Tests share one server. What they leave behind (keys, aliases, tags,
policies, ciphertexts) is recorded in `survivors`, and the last test
restarts the server and checks that all of it still works.
"""

import base64
import json
import re
import time

import pytest

from conftest import AwsCliError

DAY = 24 * 3600


def unb64(text):
    return base64.b64decode(text)


class Survivors:
    """What must still be there after a restart."""

    def __init__(self):
        self.keys = {}  # key id -> {"Description": ..., "KeyState": ...}
        self.tags = {}  # key id -> [{"TagKey", "TagValue"}], sorted
        self.policies = {}  # key id -> policy text
        self.aliases = {}  # alias name -> key id
        self.ciphertexts = []  # (fileb:// path, context args, plaintext, key ARN)


@pytest.fixture(scope="module")
def t(secure_trent):
    return secure_trent


@pytest.fixture(scope="module")
def survivors():
    return Survivors()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Writes bytes to a file and returns its fileb:// (or file://) URL."""
    d = tmp_path_factory.mktemp("cli-files")
    count = [0]

    def write(data, scheme="fileb"):
        count[0] += 1
        p = d / f"f{count[0]}"
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        return f"{scheme}://{p}"

    return write


def create_key(t, survivors, description, *extra):
    meta = t.aws("kms", "create-key", "--description", description, *extra)["KeyMetadata"]
    survivors.keys[meta["KeyId"]] = {"Description": description, "KeyState": "Enabled"}
    return meta


def encrypt(t, files, key, plaintext, *context):
    args = ["--encryption-context", ",".join(context)] if context else []
    out = t.aws("kms", "encrypt", "--key-id", key, "--plaintext", files(plaintext), *args)
    return out, files(unb64(out["CiphertextBlob"]))


def decrypt(t, blob_url, *args):
    return t.aws("kms", "decrypt", "--ciphertext-blob", blob_url, *args)


def cli_error(t, *args):
    err = t.aws(*args, check=False)
    assert isinstance(err, AwsCliError), f"expected an error, got {err}"
    return err.code


@pytest.fixture(scope="module")
def k(t, survivors, files):
    """Two keys, an alias and a ciphertext, made as a user would."""
    key1 = create_key(t, survivors, "cli test key", "--tags", "TagKey=team,TagValue=crypto", "TagKey=env,TagValue=test")
    survivors.tags[key1["KeyId"]] = [{"TagKey": "env", "TagValue": "test"}, {"TagKey": "team", "TagValue": "crypto"}]
    key2 = create_key(t, survivors, "second key")
    assert t.aws("kms", "create-alias", "--alias-name", "alias/cli-app", "--target-key-id", key1["KeyId"]) == {}
    survivors.aliases["alias/cli-app"] = key1["KeyId"]
    _, blob = encrypt(t, files, "alias/cli-app", b"baseline", "kind=baseline")
    survivors.ciphertexts.append((blob, ["--encryption-context", "kind=baseline"], b"baseline", key1["Arn"]))

    class Keys:
        one, two = key1, key2
        account = key1["AWSAccountId"]
        alias_arn = f"arn:aws:kms:us-east-1:{key1['AWSAccountId']}:alias/cli-app"

    return Keys


def test_create_key_metadata(t, k):
    m = k.one
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", m["KeyId"])
    assert re.fullmatch(r"\d{12}", m["AWSAccountId"])
    assert m["Arn"] == f"arn:aws:kms:us-east-1:{m['AWSAccountId']}:key/{m['KeyId']}"
    assert (m["Description"], m["KeyState"], m["Enabled"]) == ("cli test key", "Enabled", True)
    assert (m["KeySpec"], m["KeyUsage"], m["Origin"], m["KeyManager"]) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "AWS_KMS", "CUSTOMER")
    assert m["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert abs(m["CreationDate"] - time.time()) < 300
    assert k.two["KeyId"] != m["KeyId"]
    tags = t.aws("kms", "list-resource-tags", "--key-id", m["KeyId"])["Tags"]
    assert sorted(tags, key=lambda x: x["TagKey"]) == [{"TagKey": "env", "TagValue": "test"}, {"TagKey": "team", "TagValue": "crypto"}]


def test_describe_key_by_id_arn_alias_and_alias_arn(t, k):
    for ref in [k.one["KeyId"], k.one["Arn"], "alias/cli-app", k.alias_arn]:
        m = t.aws("kms", "describe-key", "--key-id", ref)["KeyMetadata"]
        assert (m["KeyId"], m["Arn"], m["Description"]) == (k.one["KeyId"], k.one["Arn"], "cli test key"), ref
    assert cli_error(t, "kms", "describe-key", "--key-id", "alias/cli-nope") == "NotFoundException"


def test_encrypt_decrypt_with_context(t, k, files, survivors):
    plaintext = bytes(range(256)) * 3  # binary, not UTF-8
    ctx = ("purpose=test", "app=trent")
    out, blob = encrypt(t, files, "alias/cli-app", plaintext, *ctx)
    assert out["KeyId"] == k.one["Arn"]
    assert out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert plaintext not in unb64(out["CiphertextBlob"])
    ctx_arg = ["--encryption-context", ",".join(ctx)]

    # Without --key-id: the ciphertext names its key.
    d = decrypt(t, blob, *ctx_arg)
    assert unb64(d["Plaintext"]) == plaintext
    assert d["KeyId"] == k.one["Arn"]
    # The context's order does not matter.
    assert unb64(decrypt(t, blob, "--encryption-context", "app=trent,purpose=test")["Plaintext"]) == plaintext
    # With the right key, by id and by alias.
    for ref in [k.one["KeyId"], "alias/cli-app"]:
        assert unb64(decrypt(t, blob, "--key-id", ref, *ctx_arg)["Plaintext"]) == plaintext

    assert cli_error(t, "kms", "decrypt", "--ciphertext-blob", blob, "--key-id", k.two["KeyId"], *ctx_arg) == "IncorrectKeyException"
    for wrong in ["purpose=test,app=other", "purpose=test", "purpose=test,app=trent,extra=1"]:
        assert cli_error(t, "kms", "decrypt", "--ciphertext-blob", blob, "--encryption-context", wrong) == "InvalidCiphertextException", wrong
    assert cli_error(t, "kms", "decrypt", "--ciphertext-blob", blob) == "InvalidCiphertextException"
    survivors.ciphertexts.append((blob, ctx_arg, plaintext, k.one["Arn"]))


def test_generate_data_key(t, k, files, survivors):
    for args, length in [(["--key-spec", "AES_256"], 32), (["--key-spec", "AES_128"], 16), (["--number-of-bytes", "64"], 64)]:
        out = t.aws("kms", "generate-data-key", "--key-id", "alias/cli-app", "--encryption-context", "use=dek", *args)
        data_key = unb64(out["Plaintext"])
        assert len(data_key) == length, args
        assert out["KeyId"] == k.one["Arn"]
        blob = files(unb64(out["CiphertextBlob"]))
        d = decrypt(t, blob, "--encryption-context", "use=dek")
        assert unb64(d["Plaintext"]) == data_key
    survivors.ciphertexts.append((blob, ["--encryption-context", "use=dek"], data_key, k.one["Arn"]))
    a = t.aws("kms", "generate-data-key", "--key-id", k.one["KeyId"], "--key-spec", "AES_256")
    b = t.aws("kms", "generate-data-key", "--key-id", k.one["KeyId"], "--key-spec", "AES_256")
    assert a["Plaintext"] != b["Plaintext"] and a["CiphertextBlob"] != b["CiphertextBlob"]


def test_generate_data_key_without_plaintext(t, k, files):
    out = t.aws("kms", "generate-data-key-without-plaintext", "--key-id", k.two["Arn"], "--key-spec", "AES_256")
    assert "Plaintext" not in out
    assert out["KeyId"] == k.two["Arn"]
    d = decrypt(t, files(unb64(out["CiphertextBlob"])))
    assert len(unb64(d["Plaintext"])) == 32
    assert d["KeyId"] == k.two["Arn"]


def test_generate_random(t):
    a = unb64(t.aws("kms", "generate-random", "--number-of-bytes", "48")["Plaintext"])
    b = unb64(t.aws("kms", "generate-random", "--number-of-bytes", "48")["Plaintext"])
    assert len(a) == len(b) == 48 and a != b


def test_re_encrypt_to_a_second_key(t, k, files, survivors):
    plaintext = b"re-encrypt me"
    _, blob = encrypt(t, files, k.one["KeyId"], plaintext, "stage=one")
    out = t.aws(
        "kms", "re-encrypt", "--ciphertext-blob", blob, "--source-encryption-context", "stage=one",
        "--destination-key-id", k.two["KeyId"], "--destination-encryption-context", "stage=two",
    )
    assert (out["SourceKeyId"], out["KeyId"]) == (k.one["Arn"], k.two["Arn"])
    new_blob = files(unb64(out["CiphertextBlob"]))
    d = decrypt(t, new_blob, "--encryption-context", "stage=two")
    assert (unb64(d["Plaintext"]), d["KeyId"]) == (plaintext, k.two["Arn"])
    assert cli_error(t, "kms", "decrypt", "--ciphertext-blob", new_blob, "--encryption-context", "stage=one") == "InvalidCiphertextException"
    assert cli_error(t, "kms", "decrypt", "--ciphertext-blob", new_blob, "--key-id", k.one["KeyId"], "--encryption-context", "stage=two") == "IncorrectKeyException"
    survivors.ciphertexts.append((new_blob, ["--encryption-context", "stage=two"], plaintext, k.two["Arn"]))


def test_disable_and_enable_key(t, files, survivors):
    key = create_key(t, survivors, "disable me")["KeyId"]
    _, blob = encrypt(t, files, key, b"before")
    assert t.aws("kms", "disable-key", "--key-id", key) == {}
    m = t.aws("kms", "describe-key", "--key-id", key)["KeyMetadata"]
    assert (m["KeyState"], m["Enabled"]) == ("Disabled", False)
    assert cli_error(t, "kms", "encrypt", "--key-id", key, "--plaintext", files(b"x")) == "DisabledException"
    assert cli_error(t, "kms", "decrypt", "--ciphertext-blob", blob) == "DisabledException"
    assert cli_error(t, "kms", "generate-data-key", "--key-id", key, "--key-spec", "AES_256") == "DisabledException"
    assert t.aws("kms", "enable-key", "--key-id", key) == {}
    m = t.aws("kms", "describe-key", "--key-id", key)["KeyMetadata"]
    assert (m["KeyState"], m["Enabled"]) == ("Enabled", True)
    assert unb64(decrypt(t, blob)["Plaintext"]) == b"before"
    # Leave one disabled key for the restart check.
    assert t.aws("kms", "disable-key", "--key-id", key) == {}
    survivors.keys[key]["KeyState"] = "Disabled"


def test_schedule_and_cancel_key_deletion(t, files, survivors):
    key = create_key(t, survivors, "delete me later")["KeyId"]
    before = time.time()
    out = t.aws("kms", "schedule-key-deletion", "--key-id", key)
    assert (out["KeyState"], out["PendingWindowInDays"]) == ("PendingDeletion", 30)
    assert out["KeyId"].endswith(f":key/{key}")
    assert before + 30 * DAY - 300 < out["DeletionDate"] < time.time() + 30 * DAY + 300
    m = t.aws("kms", "describe-key", "--key-id", key)["KeyMetadata"]
    assert (m["KeyState"], m["Enabled"], m["DeletionDate"]) == ("PendingDeletion", False, out["DeletionDate"])
    assert cli_error(t, "kms", "encrypt", "--key-id", key, "--plaintext", files(b"x")) == "KMSInvalidStateException"

    out = t.aws("kms", "cancel-key-deletion", "--key-id", key)
    assert out["KeyId"].endswith(f":key/{key}")
    m = t.aws("kms", "describe-key", "--key-id", key)["KeyMetadata"]
    assert (m["KeyState"], m["Enabled"]) == ("Disabled", False)
    assert "DeletionDate" not in m
    survivors.keys[key]["KeyState"] = "Disabled"

    key7 = create_key(t, survivors, "pending for 7 days")["KeyId"]
    out = t.aws("kms", "schedule-key-deletion", "--key-id", key7, "--pending-window-in-days", "7")
    assert (out["KeyState"], out["PendingWindowInDays"]) == ("PendingDeletion", 7)
    assert before + 7 * DAY - 300 < out["DeletionDate"] < time.time() + 7 * DAY + 300
    assert cli_error(t, "kms", "encrypt", "--key-id", key7, "--plaintext", files(b"x")) == "KMSInvalidStateException"
    survivors.keys[key7]["KeyState"] = "PendingDeletion"


def test_update_key_description(t, k, survivors):
    key = k.two["KeyId"]
    assert t.aws("kms", "update-key-description", "--key-id", key, "--description", "renamed second key") == {}
    assert t.aws("kms", "describe-key", "--key-id", key)["KeyMetadata"]["Description"] == "renamed second key"
    survivors.keys[key]["Description"] = "renamed second key"


def test_tag_untag_list_resource_tags(t, k, survivors):
    key = k.two["KeyId"]
    assert t.aws("kms", "tag-resource", "--key-id", key, "--tags", "TagKey=a,TagValue=1", "TagKey=b,TagValue=2", "TagKey=c,TagValue=3") == {}
    assert t.aws("kms", "tag-resource", "--key-id", key, "--tags", "TagKey=b,TagValue=two") == {}  # replaces the value
    assert t.aws("kms", "untag-resource", "--key-id", key, "--tag-keys", "c", "not-there") == {}
    tags = sorted(t.aws("kms", "list-resource-tags", "--key-id", key)["Tags"], key=lambda x: x["TagKey"])
    assert tags == [{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "two"}]
    survivors.tags[key] = tags


def test_key_policies(t, k, files, survivors):
    key = k.two["KeyId"]
    assert t.aws("kms", "list-key-policies", "--key-id", key)["PolicyNames"] == ["default"]
    default = json.loads(t.aws("kms", "get-key-policy", "--key-id", key, "--policy-name", "default")["Policy"])
    assert default["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{k.account}:root"}
    assert default["Statement"][0]["Action"] == "kms:*"
    policy = json.dumps({
        "Version": "2012-10-17",
        "Id": "cli-test",
        "Statement": [{"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{k.account}:root"}, "Action": "kms:*", "Resource": "*"}],
    }, indent=1)
    assert t.aws("kms", "put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", files(policy, "file")) == {}
    assert t.aws("kms", "get-key-policy", "--key-id", key, "--policy-name", "default")["Policy"] == policy
    survivors.policies[key] = policy
    survivors.policies[k.one["KeyId"]] = t.aws("kms", "get-key-policy", "--key-id", k.one["KeyId"], "--policy-name", "default")["Policy"]


def test_list_keys_and_aliases(t, k):
    keys = t.aws("kms", "list-keys")["Keys"]
    assert {"KeyId": k.one["KeyId"], "KeyArn": k.one["Arn"]} in keys
    assert {"KeyId": k.two["KeyId"], "KeyArn": k.two["Arn"]} in keys
    aliases = t.aws("kms", "list-aliases")["Aliases"]
    mine = [a for a in aliases if a["AliasName"] == "alias/cli-app"]
    assert len(mine) == 1
    assert (mine[0]["AliasArn"], mine[0]["TargetKeyId"]) == (k.alias_arn, k.one["KeyId"])
    only = t.aws("kms", "list-aliases", "--key-id", k.one["KeyId"])["Aliases"]
    assert [a["AliasName"] for a in only] == ["alias/cli-app"]
    assert t.aws("kms", "list-aliases", "--key-id", k.two["KeyId"])["Aliases"] == []


def test_update_alias_and_delete_alias(t, k, survivors):
    name = "alias/cli-move"
    t.aws("kms", "create-alias", "--alias-name", name, "--target-key-id", k.one["Arn"])
    assert t.aws("kms", "describe-key", "--key-id", name)["KeyMetadata"]["KeyId"] == k.one["KeyId"]
    assert t.aws("kms", "update-alias", "--alias-name", name, "--target-key-id", k.two["KeyId"]) == {}
    assert t.aws("kms", "describe-key", "--key-id", name)["KeyMetadata"]["KeyId"] == k.two["KeyId"]
    assert [a["AliasName"] for a in t.aws("kms", "list-aliases", "--key-id", k.two["KeyId"])["Aliases"]] == [name]
    assert t.aws("kms", "delete-alias", "--alias-name", name) == {}
    assert cli_error(t, "kms", "describe-key", "--key-id", name) == "NotFoundException"
    assert name not in [a["AliasName"] for a in t.aws("kms", "list-aliases")["Aliases"]]
    assert cli_error(t, "kms", "delete-alias", "--alias-name", name) == "NotFoundException"
    # One alias that moved stays for the restart check.
    t.aws("kms", "create-alias", "--alias-name", "alias/cli-moved", "--target-key-id", k.one["KeyId"])
    t.aws("kms", "update-alias", "--alias-name", "alias/cli-moved", "--target-key-id", k.two["KeyId"])
    survivors.aliases["alias/cli-moved"] = k.two["KeyId"]


def test_everything_survives_a_restart(t, k, survivors):
    """Runs last: stop the server, start it again, check all the above."""
    creds = t.credentials
    t.restart()
    assert t.credentials == creds  # the same admin key, not a new one
    listed = {x["KeyId"] for x in t.aws("kms", "list-keys")["Keys"]}
    assert set(survivors.keys) <= listed
    for key, want in survivors.keys.items():
        m = t.aws("kms", "describe-key", "--key-id", key)["KeyMetadata"]
        assert {f: m[f] for f in want} == want, key
    for key, tags in survivors.tags.items():
        assert sorted(t.aws("kms", "list-resource-tags", "--key-id", key)["Tags"], key=lambda x: x["TagKey"]) == tags
    for key, policy in survivors.policies.items():
        assert t.aws("kms", "get-key-policy", "--key-id", key, "--policy-name", "default")["Policy"] == policy
    aliases = {a["AliasName"]: a["TargetKeyId"] for a in t.aws("kms", "list-aliases")["Aliases"]}
    for name, key in survivors.aliases.items():
        assert aliases.get(name) == key, name
        assert t.aws("kms", "describe-key", "--key-id", name)["KeyMetadata"]["KeyId"] == key
    for blob, ctx, plaintext, arn in survivors.ciphertexts:
        d = decrypt(t, blob, *ctx)
        assert (unb64(d["Plaintext"]), d["KeyId"]) == (plaintext, arn)
    # The keys still work for new data, and keys pending deletion are still refused.
    out = t.aws("kms", "generate-data-key", "--key-id", "alias/cli-app", "--key-spec", "AES_128")
    assert len(unb64(out["Plaintext"])) == 16
    for key, want in survivors.keys.items():
        if want["KeyState"] == "PendingDeletion":
            assert cli_error(t, "kms", "generate-data-key", "--key-id", key, "--key-spec", "AES_128") == "KMSInvalidStateException"
