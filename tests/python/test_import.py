"""Imported key material (BYOK) the way a user does it: the aws CLI for the
KMS calls and the openssl CLI to wrap 32 random bytes with each wrapping
algorithm. Then the proof that Trent really uses those bytes: a Trent
ciphertext decrypted outside Trent with them (docs/ciphertext-format.md),
with Python's `cryptography`."""

import base64
import os
import subprocess
import time
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from conftest import AwsCliError

ALGORITHMS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"]


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def wrap(tmp, public_key_der, algorithm, material):
    """Wraps `material` for import with openssl, as AWS's guide shows."""
    pub, plain, out = tmp / "public.der", tmp / "material.bin", tmp / "wrapped.bin"
    pub.write_bytes(public_key_der)
    md = "sha256" if algorithm.endswith("SHA_256") else "sha1"
    rsa = ["pkeyutl", "-encrypt", "-pubin", "-inkey", str(pub), "-keyform", "DER",
           "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}", "-pkeyopt", f"rsa_mgf1_md:{md}"]
    plain.write_bytes(material)
    if algorithm.startswith("RSAES_OAEP"):
        openssl(*rsa, "-in", str(plain), "-out", str(out))
        return out.read_bytes()
    aes = os.urandom(32)
    (tmp / "aes.bin").write_bytes(aes)
    openssl("enc", "-id-aes256-wrap-pad", "-K", aes.hex(), "-iv", "A65959A6", "-in", str(plain), "-out", str(tmp / "kwp.bin"))
    openssl(*rsa, "-in", str(tmp / "aes.bin"), "-out", str(tmp / "aes-wrapped.bin"))
    return (tmp / "aes-wrapped.bin").read_bytes() + (tmp / "kwp.bin").read_bytes()


def decrypt_outside(material, blob, context):
    """Trent's ciphertext format v1, decrypted without Trent."""
    header, salt, iv, body = blob[:78], blob[50:66], blob[66:78], blob[78:]
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"trent/symmetric/v1").derive(material)
    aad = header + len(context).to_bytes(2, "big")
    for k in sorted(context):
        for part in (k.encode(), context[k].encode()):
            aad += len(part).to_bytes(2, "big") + part
    return AESGCM(key).decrypt(iv, body, aad)


def decrypt(t, blob, *args):
    path = os.path.join(t.base_dir, "ciphertext.bin")
    with open(path, "wb") as f:
        f.write(blob)
    return t.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{path}", *args)


def import_params(t, key_id, algorithm, spec="RSA_2048"):
    p = t.aws("kms", "get-parameters-for-import", "--key-id", key_id, "--wrapping-algorithm", algorithm, "--wrapping-key-spec", spec)
    return base64.b64decode(p["PublicKey"]), base64.b64decode(p["ImportToken"]), p


def import_material(t, tmp, key_id, token, wrapped, *extra):
    (tmp / "token.bin").write_bytes(token)
    (tmp / "encrypted.bin").write_bytes(wrapped)
    return t.aws("kms", "import-key-material", "--key-id", key_id, "--import-token", f"fileb://{tmp / 'token.bin'}",
                 "--encrypted-key-material", f"fileb://{tmp / 'encrypted.bin'}", *extra)


def encrypt(t, key_id, text, context="purpose=byok"):
    path = os.path.join(t.base_dir, "plaintext.bin")
    with open(path, "wb") as f:
        f.write(text)
    out = t.aws("kms", "encrypt", "--key-id", key_id, "--plaintext", f"fileb://{path}", "--encryption-context", context)
    return base64.b64decode(out["CiphertextBlob"])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_import_walkthrough_with_each_wrapping_algorithm(secure_trent, tmp_path, algorithm):
    t = secure_trent
    meta = t.aws("kms", "create-key", "--origin", "EXTERNAL", "--description", f"byok {algorithm}")["KeyMetadata"]
    key_id = meta["KeyId"]
    assert (meta["KeyState"], meta["Origin"], meta["Enabled"]) == ("PendingImport", "EXTERNAL", False)
    assert "CurrentKeyMaterialId" not in meta
    with pytest.raises(AwsCliError) as e:
        encrypt(t, key_id, b"too early")
    assert e.value.code == "KMSInvalidStateException"

    public_key, token, params = import_params(t, key_id, algorithm)
    assert params["KeyId"].endswith(key_id)
    assert params["ParametersValidTo"] > time.time() + 23 * 3600
    material = os.urandom(32)
    out = import_material(t, tmp_path, key_id, token, wrap(tmp_path, public_key, algorithm, material),
                          "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    meta = t.aws("kms", "describe-key", "--key-id", key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["ExpirationModel"], meta["CurrentKeyMaterialId"]) == ("Enabled", "KEY_MATERIAL_DOES_NOT_EXPIRE", out["KeyMaterialId"])

    blob = encrypt(t, key_id, b"imported secret")
    assert decrypt_outside(material, blob, {"purpose": "byok"}) == b"imported secret"
    back = decrypt(t, blob, "--encryption-context", "purpose=byok")
    assert base64.b64decode(back["Plaintext"]) == b"imported secret"


def test_reimport_only_of_the_same_material_and_deletion(secure_trent, tmp_path):
    t = secure_trent
    key_id = t.aws("kms", "create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    public_key, token, _ = import_params(t, key_id, "RSAES_OAEP_SHA_256")
    first = import_material(t, tmp_path, key_id, token, wrap(tmp_path, public_key, "RSAES_OAEP_SHA_256", material),
                            "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    blob = encrypt(t, key_id, b"kept across re-import")

    # Different material is refused and changes nothing.
    with pytest.raises(AwsCliError) as e:
        import_material(t, tmp_path, key_id, token, wrap(tmp_path, public_key, "RSAES_OAEP_SHA_256", os.urandom(32)),
                        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert e.value.code == "IncorrectKeyMaterialException"
    # Bytes not wrapped to this token's key, a token of another key, a truncated token.
    with pytest.raises(AwsCliError) as e:
        import_material(t, tmp_path, key_id, token, os.urandom(256), "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert e.value.code == "InvalidCiphertextException"
    other = t.aws("kms", "create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
    _, other_token, _ = import_params(t, other, "RSAES_OAEP_SHA_256")
    with pytest.raises(AwsCliError) as e:
        import_material(t, tmp_path, key_id, other_token, wrap(tmp_path, public_key, "RSAES_OAEP_SHA_256", material),
                        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert e.value.code == "InvalidImportTokenException"
    with pytest.raises(AwsCliError) as e:
        import_material(t, tmp_path, key_id, token[:-1], wrap(tmp_path, public_key, "RSAES_OAEP_SHA_256", material),
                        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert e.value.code == "InvalidImportTokenException"
    # ValidTo rules.
    with pytest.raises(AwsCliError) as e:
        import_material(t, tmp_path, key_id, token, wrap(tmp_path, public_key, "RSAES_OAEP_SHA_256", material))
    assert e.value.code == "ValidationException"  # KEY_MATERIAL_EXPIRES (the default) needs ValidTo
    assert t.aws("kms", "describe-key", "--key-id", key_id)["KeyMetadata"]["KeyState"] == "Enabled"

    # Deleted: unusable at once; the same material brings the key and its ciphertexts back.
    deleted = t.aws("kms", "delete-imported-key-material", "--key-id", key_id)
    assert deleted["KeyMaterialId"] == first["KeyMaterialId"]
    assert t.aws("kms", "describe-key", "--key-id", key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(AwsCliError) as e:
        decrypt(t, blob, "--encryption-context", "purpose=byok")
    assert e.value.code == "KMSInvalidStateException"
    valid_to = int(time.time()) + 3600
    again = import_material(t, tmp_path, key_id, token, wrap(tmp_path, public_key, "RSAES_OAEP_SHA_256", material),
                            "--expiration-model", "KEY_MATERIAL_EXPIRES", "--valid-to", str(valid_to))
    assert again["KeyMaterialId"] == first["KeyMaterialId"]
    meta = t.aws("kms", "describe-key", "--key-id", key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["ExpirationModel"], int(meta["ValidTo"])) == ("Enabled", "KEY_MATERIAL_EXPIRES", valid_to)
    back = decrypt(t, blob, "--encryption-context", "purpose=byok")
    assert base64.b64decode(back["Plaintext"]) == b"kept across re-import"


def test_the_same_material_in_two_keys_does_not_make_ciphertexts_portable(secure_trent, tmp_path):
    t = secure_trent
    material = os.urandom(32)
    keys = []
    for _ in range(2):
        key_id = t.aws("kms", "create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
        public_key, token, _ = import_params(t, key_id, "RSAES_OAEP_SHA_1")
        import_material(t, tmp_path, key_id, token, wrap(tmp_path, public_key, "RSAES_OAEP_SHA_1", material),
                        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
        keys.append(key_id)
    blob = encrypt(t, keys[0], b"only for key A")
    with pytest.raises(AwsCliError) as e:
        decrypt(t, blob, "--key-id", keys[1], "--encryption-context", "purpose=byok")
    assert e.value.code == "IncorrectKeyException"
    # Relabelled to key B's id and material id, it does not authenticate.
    meta_b = t.aws("kms", "describe-key", "--key-id", keys[1])["KeyMetadata"]
    forged = blob[:2] + uuid.UUID(keys[1]).bytes + bytes.fromhex(meta_b["CurrentKeyMaterialId"]) + blob[50:]
    with pytest.raises(AwsCliError) as e:
        decrypt(t, forged, "--encryption-context", "purpose=byok")
    assert e.value.code == "InvalidCiphertextException"


def test_material_is_deleted_when_valid_to_passes_and_import_tokens_expire(new_trent, tmp_path):
    # Dev mode: restarts with a moved clock would fail SigV4's 5-minute skew check.
    t = new_trent(dev=True)
    key_id = t.aws("kms", "create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
    public_key, token, _ = import_params(t, key_id, "RSA_AES_KEY_WRAP_SHA_256", spec="RSA_3072")
    material = os.urandom(32)
    wrapped = wrap(tmp_path, public_key, "RSA_AES_KEY_WRAP_SHA_256", material)
    import_material(t, tmp_path, key_id, token, wrapped, "--expiration-model", "KEY_MATERIAL_EXPIRES", "--valid-to", str(int(time.time()) + 2 * 3600))
    blob = encrypt(t, key_id, b"short-lived")

    t.restart(["--clock-offset-secs", str(3600)])
    assert t.aws("kms", "describe-key", "--key-id", key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    t.restart(["--clock-offset-secs", str(3 * 3600)])
    meta = t.aws("kms", "describe-key", "--key-id", key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingImport" and "ValidTo" not in meta
    assert "imported key material" in t.stderr_tail(100)
    # The same token, a day later, has expired.
    t.restart(["--clock-offset-secs", str(25 * 3600)])
    with pytest.raises(AwsCliError) as e:
        import_material(t, tmp_path, key_id, token, wrapped, "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert e.value.code == "ExpiredImportTokenException"
    # New parameters, the same material: the old ciphertext decrypts again.
    public_key, token, _ = import_params(t, key_id, "RSAES_OAEP_SHA_256")
    import_material(t, tmp_path, key_id, token, wrap(tmp_path, public_key, "RSAES_OAEP_SHA_256", material),
                    "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    back = decrypt(t, blob, "--encryption-context", "purpose=byok")
    assert base64.b64decode(back["Plaintext"]) == b"short-lived"


def test_sm2pke_wrapping_with_openssl(secure_trent, tmp_path):
    """SM2 wrapping keys (AWS: China Regions) work like the RSA ones: openssl
    encrypts the material to the SM2 public key, in its ASN.1 C1C3C2 form."""
    t = secure_trent
    key_id = t.aws("kms", "create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
    public_key, token, _ = import_params(t, key_id, "SM2PKE", spec="SM2")
    (tmp_path / "sm2.der").write_bytes(public_key)
    (tmp_path / "material.bin").write_bytes(material := os.urandom(32))
    openssl("pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", str(tmp_path / "sm2.der"),
            "-in", str(tmp_path / "material.bin"), "-out", str(tmp_path / "wrapped.bin"))
    wrapped = (tmp_path / "wrapped.bin").read_bytes()
    # The same bytes under another key's SM2 token do not open.
    other = t.aws("kms", "create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
    _, other_token, _ = import_params(t, other, "SM2PKE", spec="SM2")
    with pytest.raises(AwsCliError) as e:
        import_material(t, tmp_path, other, other_token, wrapped, "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert e.value.code == "InvalidCiphertextException"
    import_material(t, tmp_path, key_id, token, wrapped, "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    blob = encrypt(t, key_id, b"wrapped with SM2")
    assert decrypt_outside(material, blob, {"purpose": "byok"}) == b"wrapped with SM2"
    # SM2PKE goes with SM2 wrapping keys only, and SM2 keys with SM2PKE only.
    for algorithm, spec in [("SM2PKE", "RSA_2048"), ("RSAES_OAEP_SHA_256", "SM2"), ("RSA_AES_KEY_WRAP_SHA_256", "SM2")]:
        with pytest.raises(AwsCliError) as e:
            import_params(t, key_id, algorithm, spec=spec)
        assert e.value.code == "UnsupportedOperationException", (algorithm, spec)


def test_wrong_origin_and_unsupported_wrapping(secure_trent):
    t = secure_trent
    native = t.aws("kms", "create-key")["KeyMetadata"]["KeyId"]
    for call in (["get-parameters-for-import", "--key-id", native, "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_2048"],
                 ["delete-imported-key-material", "--key-id", native]):
        with pytest.raises(AwsCliError) as e:
            t.aws("kms", *call)
        assert e.value.code == "UnsupportedOperationException"
    external = t.aws("kms", "create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
    with pytest.raises(AwsCliError) as e:
        t.aws("kms", "get-parameters-for-import", "--key-id", external, "--wrapping-algorithm", "RSAES_PKCS1_V1_5", "--wrapping-key-spec", "RSA_2048")
    assert e.value.code == "UnsupportedOperationException"
    with pytest.raises(AwsCliError) as e:
        t.aws("kms", "enable-key-rotation", "--key-id", external)
    assert e.value.code == "UnsupportedOperationException"


# --- asymmetric and HMAC material --------------------------------------------------


def test_imported_hmac_material_gives_the_mac_computed_outside(secure_trent, tmp_path):
    import hashlib
    import hmac

    t = secure_trent
    key_id = t.aws("kms", "create-key", "--origin", "EXTERNAL", "--key-spec", "HMAC_256", "--key-usage", "GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    material = os.urandom(48)  # HMAC material may be longer than the digest
    public_key, token, _ = import_params(t, key_id, "RSAES_OAEP_SHA_256")
    import_material(t, tmp_path, key_id, token, wrap(tmp_path, public_key, "RSAES_OAEP_SHA_256", material),
                    "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    (tmp_path / "message.bin").write_bytes(b"mac me")
    out = t.aws("kms", "generate-mac", "--key-id", key_id, "--message", f"fileb://{tmp_path / 'message.bin'}", "--mac-algorithm", "HMAC_SHA_256")
    assert base64.b64decode(out["Mac"]) == hmac.new(material, b"mac me", hashlib.sha256).digest()
    # Only symmetric encryption keys show their current material (AWS's KeyMetadata docs).
    assert "CurrentKeyMaterialId" not in t.aws("kms", "describe-key", "--key-id", key_id)["KeyMetadata"]
    # Asymmetric and HMAC material never changes after the first import.
    with pytest.raises(AwsCliError) as e:
        import_material(t, tmp_path, key_id, token, wrap(tmp_path, public_key, "RSAES_OAEP_SHA_256", os.urandom(48)),
                        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert e.value.code == "IncorrectKeyMaterialException"
    # Too short for HMAC_256.
    other = t.aws("kms", "create-key", "--origin", "EXTERNAL", "--key-spec", "HMAC_256", "--key-usage", "GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    public_key, token, _ = import_params(t, other, "RSAES_OAEP_SHA_256")
    with pytest.raises(AwsCliError) as e:
        import_material(t, tmp_path, other, token, wrap(tmp_path, public_key, "RSAES_OAEP_SHA_256", os.urandom(16)),
                        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert e.value.code == "IncorrectKeyMaterialException"


@pytest.mark.parametrize("spec,algorithm,curve", [
    ("ECC_NIST_P256", "ECDSA_SHA_256", "P-256"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", None),
])
def test_an_imported_private_key_signs_and_openssl_verifies(secure_trent, tmp_path, spec, algorithm, curve):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    t = secure_trent
    private = ec.generate_private_key(ec.SECP256R1()) if curve else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    key_id = t.aws("kms", "create-key", "--origin", "EXTERNAL", "--key-spec", spec, "--key-usage", "SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public_key, token, _ = import_params(t, key_id, "RSA_AES_KEY_WRAP_SHA_256")
    import_material(t, tmp_path, key_id, token, wrap(tmp_path, public_key, "RSA_AES_KEY_WRAP_SHA_256", pkcs8),
                    "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")

    # Trent's public key is the imported key's.
    got = base64.b64decode(t.aws("kms", "get-public-key", "--key-id", key_id)["PublicKey"])
    assert got == private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert "CurrentKeyMaterialId" not in t.aws("kms", "describe-key", "--key-id", key_id)["KeyMetadata"]
    (tmp_path / "message.bin").write_bytes(b"signed by imported material")
    out = t.aws("kms", "sign", "--key-id", key_id, "--message", f"fileb://{tmp_path / 'message.bin'}", "--message-type", "RAW", "--signing-algorithm", algorithm)
    (tmp_path / "signature.bin").write_bytes(base64.b64decode(out["Signature"]))
    (tmp_path / "public.pem").write_bytes(pem)
    r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "public.pem"), "-signature", str(tmp_path / "signature.bin"),
                        str(tmp_path / "message.bin")], capture_output=True, text=True)
    assert r.returncode == 0 and "Verified OK" in r.stdout, r.stdout + r.stderr

    # The material must be a key of the key's own spec.
    other = t.aws("kms", "create-key", "--origin", "EXTERNAL", "--key-spec", spec, "--key-usage", "SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    wrong = (ec.generate_private_key(ec.SECP384R1()) if curve else rsa.generate_private_key(public_exponent=65537, key_size=3072))
    wrong_der = wrong.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public_key, token, _ = import_params(t, other, "RSA_AES_KEY_WRAP_SHA_256")
    with pytest.raises(AwsCliError) as e:
        import_material(t, tmp_path, other, token, wrap(tmp_path, public_key, "RSA_AES_KEY_WRAP_SHA_256", wrong_der),
                        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert e.value.code == "IncorrectKeyMaterialException"

    # Deleted: unusable at once.
    t.aws("kms", "delete-imported-key-material", "--key-id", key_id)
    with pytest.raises(AwsCliError) as e:
        t.aws("kms", "sign", "--key-id", key_id, "--message", f"fileb://{tmp_path / 'message.bin'}", "--message-type", "RAW", "--signing-algorithm", algorithm)
    assert e.value.code == "KMSInvalidStateException"


def test_key_types_without_import(secure_trent):
    with pytest.raises(AwsCliError) as e:
        secure_trent.aws("kms", "create-key", "--origin", "EXTERNAL", "--key-spec", "ML_DSA_65", "--key-usage", "SIGN_VERIFY")
    assert e.value.code == "UnsupportedOperationException"
