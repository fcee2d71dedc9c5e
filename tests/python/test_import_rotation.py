"""On-demand rotation of a symmetric key with imported material, the way a
user does it with the aws CLI and openssl: new material imported as
PENDING_ROTATION, RotateKeyOnDemand, ciphertexts of every material still
decrypting; deletion, re-import and expiry of one material. Which material a
ciphertext was made with is read from its header (docs/ciphertext-format.md)
and proven by decrypting it outside Trent with those bytes."""

import base64
import os
import time
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from conftest import AwsCliError
from test_import import decrypt, decrypt_outside, encrypt, import_material, import_params, wrap

ALGORITHM = "RSAES_OAEP_SHA_256"


def material_of(blob):
    """The material id a ciphertext names (after version byte, flags and key id)."""
    return blob[18:50].hex()


def encrypt_outside(prefix, key_id, material_id, material, plaintext, context):
    """A ciphertext of Trent's format v1 made without Trent (the inverse of
    test_import.decrypt_outside); `prefix` is the version and flags bytes."""
    salt, iv = os.urandom(16), os.urandom(12)
    header = prefix + uuid.UUID(key_id).bytes + bytes.fromhex(material_id) + salt + iv
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"trent/symmetric/v1").derive(material)
    aad = header + len(context).to_bytes(2, "big")
    for k in sorted(context):
        for part in (k.encode(), context[k].encode()):
            aad += len(part).to_bytes(2, "big") + part
    return header + AESGCM(key).encrypt(iv, plaintext, aad)


def import_new(t, tmp, key_id, material, *extra):
    public_key, token, _ = import_params(t, key_id, ALGORITHM)
    return import_material(t, tmp, key_id, token, wrap(tmp, public_key, ALGORITHM, material), *extra)


def rotations(t, key_id, everything=True):
    args = ["--include-key-material", "ALL_KEY_MATERIAL"] if everything else []
    return t.aws("kms", "list-key-rotations", "--key-id", key_id, *args)["Rotations"]


def states(t, key_id):
    """(material id, KeyMaterialState, ImportState) of every material, oldest first."""
    return [(r["KeyMaterialId"], r["KeyMaterialState"], r["ImportState"]) for r in rotations(t, key_id)]


def describe(t, key_id):
    return t.aws("kms", "describe-key", "--key-id", key_id)["KeyMetadata"]


def plain(out):
    return base64.b64decode(out["Plaintext"])


def test_rotating_to_imported_material_and_deleting_one_material(secure_trent, tmp_path):
    t = secure_trent
    key_id = t.aws("kms", "create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
    forever = ["--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE"]
    a, b = os.urandom(32), os.urandom(32)
    id_a = import_new(t, tmp_path, key_id, a, *forever, "--key-material-description", "first")["KeyMaterialId"]
    blob_a = encrypt(t, key_id, b"under A")
    assert material_of(blob_a) == id_a and decrypt_outside(a, blob_a, {"purpose": "byok"}) == b"under A"

    # New material waits for the rotation; encryption still uses A.
    id_b = import_new(t, tmp_path, key_id, b, *forever, "--import-type", "NEW_KEY_MATERIAL", "--key-material-description", "second")["KeyMaterialId"]
    assert id_b != id_a
    assert describe(t, key_id)["CurrentKeyMaterialId"] == id_a
    listed = rotations(t, key_id)
    assert [(r["KeyMaterialId"], r["KeyMaterialState"], r["ImportState"], r["KeyMaterialDescription"], r["ExpirationModel"]) for r in listed] == [
        (id_a, "CURRENT", "IMPORTED", "first", "KEY_MATERIAL_DOES_NOT_EXPIRE"),
        (id_b, "PENDING_ROTATION", "IMPORTED", "second", "KEY_MATERIAL_DOES_NOT_EXPIRE"),
    ]
    assert all("RotationDate" not in r and "ValidTo" not in r for r in listed)
    assert rotations(t, key_id, everything=False) == []
    assert material_of(encrypt(t, key_id, b"still A")) == id_a

    # What AWS refuses: a second pending material, a KeyMaterialId with
    # NEW_KEY_MATERIAL, material the key already has as "new", unknown
    # material as "existing".
    c = os.urandom(32)
    for material, extra, code in [
        (c, ["--import-type", "NEW_KEY_MATERIAL"], "KMSInvalidStateException"),
        (c, ["--import-type", "NEW_KEY_MATERIAL", "--key-material-id", id_a], "ValidationException"),
        (a, ["--import-type", "NEW_KEY_MATERIAL"], "IncorrectKeyMaterialException"),
        (c, ["--import-type", "EXISTING_KEY_MATERIAL"], "IncorrectKeyMaterialException"),
        (a, ["--key-material-id", id_b], "IncorrectKeyMaterialException"),
    ]:
        with pytest.raises(AwsCliError) as e:
            import_new(t, tmp_path, key_id, material, *forever, *extra)
        assert e.value.code == code, extra

    # Pending material is not the key's yet: a ciphertext made with it
    # (outside Trent, from the bytes) is refused until the rotation.
    forged = encrypt_outside(blob_a[:2], key_id, id_b, b, b"made with B", {"purpose": "byok"})
    with pytest.raises(AwsCliError) as e:
        decrypt(t, forged, "--encryption-context", "purpose=byok")
    assert e.value.code == "InvalidCiphertextException"

    # The rotation: B current, A still decrypts.
    before = time.time()
    t.aws("kms", "rotate-key-on-demand", "--key-id", key_id)
    assert describe(t, key_id)["CurrentKeyMaterialId"] == id_b
    blob_b = encrypt(t, key_id, b"under B")
    assert material_of(blob_b) == id_b and decrypt_outside(b, blob_b, {"purpose": "byok"}) == b"under B"
    for blob, text in [(blob_a, b"under A"), (blob_b, b"under B")]:
        assert plain(decrypt(t, blob, "--encryption-context", "purpose=byok")) == text
    assert plain(decrypt(t, forged, "--encryption-context", "purpose=byok")) == b"made with B"
    assert states(t, key_id) == [(id_a, "NON_CURRENT", "IMPORTED"), (id_b, "CURRENT", "IMPORTED")]
    (done,) = rotations(t, key_id, everything=False)
    assert (done["KeyMaterialId"], done["RotationType"]) == (id_b, "ON_DEMAND") and done["RotationDate"] >= before - 1
    with pytest.raises(AwsCliError) as e:
        t.aws("kms", "rotate-key-on-demand", "--key-id", key_id)
    assert e.value.code == "KMSInvalidStateException"  # nothing pending

    # Deleting the older material: the key waits for it; B stays imported.
    deleted = t.aws("kms", "delete-imported-key-material", "--key-id", key_id, "--key-material-id", id_a)
    assert deleted["KeyMaterialId"] == id_a
    assert describe(t, key_id)["KeyState"] == "PendingImport"
    assert states(t, key_id) == [(id_a, "NON_CURRENT", "PENDING_IMPORT"), (id_b, "CURRENT", "IMPORTED")]
    with pytest.raises(AwsCliError) as e:
        decrypt(t, blob_b, "--encryption-context", "purpose=byok")
    assert e.value.code == "KMSInvalidStateException"
    with pytest.raises(AwsCliError) as e:
        t.aws("kms", "delete-imported-key-material", "--key-id", key_id, "--key-material-id", "0" * 64)
    assert e.value.code == "NotFoundException"

    # Re-importing A, named by its id, restores the key; its description stays.
    again = import_new(t, tmp_path, key_id, a, *forever, "--import-type", "EXISTING_KEY_MATERIAL", "--key-material-id", id_a)
    assert again["KeyMaterialId"] == id_a
    assert describe(t, key_id)["KeyState"] == "Enabled"
    assert rotations(t, key_id)[0]["KeyMaterialDescription"] == "first"
    for blob, text in [(blob_a, b"under A"), (blob_b, b"under B")]:
        assert plain(decrypt(t, blob, "--encryption-context", "purpose=byok")) == text

    # Pending material is not part of the key: deleting it leaves the key
    # enabled, and different material may take its place.
    id_c = import_new(t, tmp_path, key_id, c, *forever, "--import-type", "NEW_KEY_MATERIAL")["KeyMaterialId"]
    t.aws("kms", "delete-imported-key-material", "--key-id", key_id, "--key-material-id", id_c)
    assert describe(t, key_id)["KeyState"] == "Enabled"
    assert [m for m, _, _ in states(t, key_id)] == [id_a, id_b]
    id_d = import_new(t, tmp_path, key_id, os.urandom(32), *forever, "--import-type", "NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert states(t, key_id)[-1] == (id_d, "PENDING_ROTATION", "IMPORTED")

    # Without KeyMaterialId, the current material is the one deleted.
    assert t.aws("kms", "delete-imported-key-material", "--key-id", key_id)["KeyMaterialId"] == id_b
    assert states(t, key_id)[1] == (id_b, "CURRENT", "PENDING_IMPORT")


def test_what_aws_does_not_rotate_stays_refused(secure_trent, tmp_path):
    t = secure_trent
    hmac_key = t.aws("kms", "create-key", "--origin", "EXTERNAL", "--key-spec", "HMAC_256", "--key-usage", "GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    import_new(t, tmp_path, hmac_key, os.urandom(32), "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    with pytest.raises(AwsCliError) as e:
        t.aws("kms", "rotate-key-on-demand", "--key-id", hmac_key)
    assert e.value.code == "UnsupportedOperationException"
    with pytest.raises(AwsCliError) as e:
        import_new(t, tmp_path, hmac_key, os.urandom(32), "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE", "--import-type", "NEW_KEY_MATERIAL")
    assert e.value.code == "ValidationException"
    symmetric = t.aws("kms", "create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
    with pytest.raises(AwsCliError) as e:
        t.aws("kms", "rotate-key-on-demand", "--key-id", symmetric)
    assert e.value.code == "KMSInvalidStateException"  # no material at all yet
    import_new(t, tmp_path, symmetric, os.urandom(32), "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    with pytest.raises(AwsCliError) as e:
        t.aws("kms", "enable-key-rotation", "--key-id", symmetric)
    assert e.value.code == "UnsupportedOperationException"  # no automatic rotation of imported material


def test_each_material_expires_on_its_own(new_trent, tmp_path):
    # Dev mode: restarts with a moved clock would fail SigV4's 5-minute skew check.
    t = new_trent(dev=True)
    key_id = t.aws("kms", "create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
    now = int(time.time())
    a, b, c = os.urandom(32), os.urandom(32), os.urandom(32)
    id_a = import_new(t, tmp_path, key_id, a, "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")["KeyMaterialId"]
    blob_a = encrypt(t, key_id, b"under A")
    id_b = import_new(t, tmp_path, key_id, b, "--import-type", "NEW_KEY_MATERIAL", "--valid-to", str(now + 3 * 3600))["KeyMaterialId"]
    t.aws("kms", "rotate-key-on-demand", "--key-id", key_id)
    blob_b = encrypt(t, key_id, b"under B")
    id_c = import_new(t, tmp_path, key_id, c, "--import-type", "NEW_KEY_MATERIAL", "--valid-to", str(now + 3600))["KeyMaterialId"]
    assert [(r["KeyMaterialId"], int(r.get("ValidTo", 0))) for r in rotations(t, key_id)] == [(id_a, 0), (id_b, now + 3 * 3600), (id_c, now + 3600)]
    assert int(describe(t, key_id)["ValidTo"]) == now + 3 * 3600  # the current material's

    # C (pending) expires: forgotten, the key unaffected.
    t.restart(["--clock-offset-secs", str(2 * 3600)])
    assert describe(t, key_id)["KeyState"] == "Enabled"
    assert states(t, key_id) == [(id_a, "NON_CURRENT", "IMPORTED"), (id_b, "CURRENT", "IMPORTED")]

    # B (current) expires: the key waits for it; A is still imported.
    t.restart(["--clock-offset-secs", str(4 * 3600)])
    meta = describe(t, key_id)
    assert meta["KeyState"] == "PendingImport" and "ValidTo" not in meta
    assert states(t, key_id) == [(id_a, "NON_CURRENT", "IMPORTED"), (id_b, "CURRENT", "PENDING_IMPORT")]
    with pytest.raises(AwsCliError) as e:
        decrypt(t, blob_a, "--encryption-context", "purpose=byok")
    assert e.value.code == "KMSInvalidStateException"

    # The same B again (no expiry this time): both ciphertexts decrypt.
    import_new(t, tmp_path, key_id, b, "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert describe(t, key_id)["KeyState"] == "Enabled"
    for blob, text in [(blob_a, b"under A"), (blob_b, b"under B")]:
        assert plain(decrypt(t, blob, "--encryption-context", "purpose=byok")) == text
