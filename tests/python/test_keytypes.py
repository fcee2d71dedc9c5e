"""Asymmetric, HMAC, key agreement and post-quantum keys against an
independent implementation: what Trent produces is checked with the Python
`cryptography` package (OpenSSL), never with Trent itself. The aws CLI
drives Sign/Verify/GetPublicKey/GenerateMac end to end; boto3 the rest.
"""

import base64
import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from conftest import AwsCliError, kms_error


@pytest.fixture(scope="module")
def t(secure_trent):
    return secure_trent


@pytest.fixture(scope="module")
def kms(t):
    return t.boto3_client()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("keytype-files")
    count = [0]

    def write(data):
        count[0] += 1
        p = d / f"m{count[0]}"
        p.write_bytes(data)
        return f"fileb://{p}"

    return write


def unb64(text):
    return base64.b64decode(text)


def b64(data):
    return base64.b64encode(data).decode()


def cli_key(t, spec, usage):
    return t.aws("kms", "create-key", "--key-spec", spec, "--key-usage", usage, "--description", f"{spec} {usage}")["KeyMetadata"]


def cli_public_key(t, key_id):
    out = t.aws("kms", "get-public-key", "--key-id", key_id)
    return out, serialization.load_der_public_key(unb64(out["PublicKey"]))


HASHES = {"SHA_256": hashes.SHA256(), "SHA_384": hashes.SHA384(), "SHA_512": hashes.SHA512()}


def verify_outside(public, algorithm, message, signature, prehashed=False):
    """Verifies with `cryptography`; raises InvalidSignature if it does not."""
    suffix = algorithm[-7:]
    h = HASHES.get(suffix)
    data_hash = utils.Prehashed(h) if prehashed else h
    if algorithm.startswith("RSASSA_PSS_"):
        public.verify(signature, message, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), data_hash)
    elif algorithm.startswith("RSASSA_PKCS1_V1_5_"):
        public.verify(signature, message, padding.PKCS1v15(), data_hash)
    elif algorithm.startswith("ECDSA_"):
        public.verify(signature, message, ec.ECDSA(data_hash))
    else:  # Ed25519 and ML-DSA take the message itself
        public.verify(signature, message)


SIGNING_CASES = [
    ("RSA_2048", "RSASSA_PSS_SHA_256"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512"),
    ("RSA_3072", "RSASSA_PSS_SHA_384"),
    ("ECC_NIST_P256", "ECDSA_SHA_256"),
    ("ECC_NIST_P384", "ECDSA_SHA_384"),
    ("ECC_NIST_P521", "ECDSA_SHA_512"),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
    ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512"),
    ("ML_DSA_44", "ML_DSA_SHAKE_256"),
    ("ML_DSA_65", "ML_DSA_SHAKE_256"),
    ("ML_DSA_87", "ML_DSA_SHAKE_256"),
]


@pytest.mark.parametrize("spec,algorithm", SIGNING_CASES)
def test_cli_sign_verifies_outside_with_the_public_key(t, files, spec, algorithm):
    key = cli_key(t, spec, "SIGN_VERIFY")
    assert algorithm in key["SigningAlgorithms"]
    info, public = cli_public_key(t, key["KeyId"])
    assert (info["KeyId"], info["KeySpec"], info["KeyUsage"]) == (key["Arn"], spec, "SIGN_VERIFY")
    assert info["SigningAlgorithms"] == key["SigningAlgorithms"]
    if spec.startswith("RSA_"):
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == int(spec[4:])
    elif spec == "ECC_NIST_EDWARDS25519":
        assert isinstance(public, ed25519.Ed25519PublicKey)
    elif spec.startswith("ECC_"):
        assert isinstance(public, ec.EllipticCurvePublicKey)

    message = b"signed by Trent, checked by OpenSSL"
    out = t.aws("kms", "sign", "--key-id", key["KeyId"], "--message", files(message), "--message-type", "RAW", "--signing-algorithm", algorithm)
    assert (out["KeyId"], out["SigningAlgorithm"]) == (key["Arn"], algorithm)
    signature = unb64(out["Signature"])
    verify_outside(public, algorithm, message, signature)
    with pytest.raises(InvalidSignature):
        verify_outside(public, algorithm, message + b"!", signature)

    sig_file = files(signature)
    ok = t.aws("kms", "verify", "--key-id", key["KeyId"], "--message", files(message), "--signature", sig_file, "--signing-algorithm", algorithm)
    assert ok["SignatureValid"] is True
    bad = t.aws("kms", "verify", "--key-id", key["KeyId"], "--message", files(message + b"!"), "--signature", sig_file, "--signing-algorithm", algorithm, check=False)
    assert isinstance(bad, AwsCliError) and bad.code == "KMSInvalidSignatureException"


@pytest.mark.parametrize("spec,algorithm", [(s, a) for s, a in SIGNING_CASES if a[-7:] in HASHES and not a.startswith("ED25519")])
def test_cli_sign_digest_verifies_outside_as_a_prehashed_message(t, files, spec, algorithm):
    key = cli_key(t, spec, "SIGN_VERIFY")
    _, public = cli_public_key(t, key["KeyId"])
    message = b"a long document, hashed by the caller"
    digest = hashlib.new(algorithm[-7:].replace("_", "").lower(), message).digest()
    out = t.aws("kms", "sign", "--key-id", key["KeyId"], "--message", files(digest), "--message-type", "DIGEST", "--signing-algorithm", algorithm)
    signature = unb64(out["Signature"])
    verify_outside(public, algorithm, digest, signature, prehashed=True)
    verify_outside(public, algorithm, message, signature)  # the same as a signature of the message
    short = t.aws("kms", "sign", "--key-id", key["KeyId"], "--message", files(digest[:-1]), "--message-type", "DIGEST", "--signing-algorithm", algorithm, check=False)
    assert isinstance(short, AwsCliError) and short.code == "ValidationException"


def test_cli_generate_mac_and_verify_mac(t, files):
    key = cli_key(t, "HMAC_256", "GENERATE_VERIFY_MAC")
    assert key["MacAlgorithms"] == ["HMAC_SHA_256"]
    msg = files(b"authenticate me")
    a = t.aws("kms", "generate-mac", "--key-id", key["KeyId"], "--message", msg, "--mac-algorithm", "HMAC_SHA_256")
    b = t.aws("kms", "generate-mac", "--key-id", key["KeyId"], "--message", msg, "--mac-algorithm", "HMAC_SHA_256")
    c = t.aws("kms", "generate-mac", "--key-id", key["KeyId"], "--message", files(b"authenticate me too"), "--mac-algorithm", "HMAC_SHA_256")
    mac = unb64(a["Mac"])
    assert (len(mac), a["MacAlgorithm"], a["KeyId"]) == (32, "HMAC_SHA_256", key["Arn"])
    assert a["Mac"] == b["Mac"] != c["Mac"]
    ok = t.aws("kms", "verify-mac", "--key-id", key["KeyId"], "--message", msg, "--mac", files(mac), "--mac-algorithm", "HMAC_SHA_256")
    assert ok["MacValid"] is True
    bad = t.aws("kms", "verify-mac", "--key-id", key["KeyId"], "--message", msg, "--mac", files(bytes([mac[0] ^ 1]) + mac[1:]), "--mac-algorithm", "HMAC_SHA_256", check=False)
    assert isinstance(bad, AwsCliError) and bad.code == "KMSInvalidMacException"
    wrong = t.aws("kms", "generate-mac", "--key-id", key["KeyId"], "--message", msg, "--mac-algorithm", "HMAC_SHA_512", check=False)
    assert isinstance(wrong, AwsCliError) and wrong.code == "InvalidKeyUsageException"
    # An HMAC key has no public key.
    none = t.aws("kms", "get-public-key", "--key-id", key["KeyId"], check=False)
    assert isinstance(none, AwsCliError) and none.code == "UnsupportedOperationException"


@pytest.mark.parametrize("spec,limits", [("RSA_2048", {"RSAES_OAEP_SHA_1": 214, "RSAES_OAEP_SHA_256": 190})])
def test_data_encrypted_outside_with_the_public_key_decrypts_in_trent(kms, spec, limits):
    key = kms.create_key(KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert key["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    for algorithm, h in [("RSAES_OAEP_SHA_1", hashes.SHA1()), ("RSAES_OAEP_SHA_256", hashes.SHA256())]:
        plaintext = bytes(range(limits[algorithm]))
        ciphertext = public.encrypt(plaintext, padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))
        out = kms.decrypt(KeyId=key["KeyId"], CiphertextBlob=ciphertext, EncryptionAlgorithm=algorithm)
        assert (out["Plaintext"], out["EncryptionAlgorithm"], out["KeyId"]) == (plaintext, algorithm, key["Arn"])
        too_long = kms_error(kms.encrypt, KeyId=key["KeyId"], Plaintext=plaintext + b"x", EncryptionAlgorithm=algorithm)
        assert too_long[:2] == ("ValidationException", 400)
        # Trent's own ciphertext round-trips too.
        ct = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"inside", EncryptionAlgorithm=algorithm)["CiphertextBlob"]
        assert kms.decrypt(KeyId=key["KeyId"], CiphertextBlob=ct, EncryptionAlgorithm=algorithm)["Plaintext"] == b"inside"
    assert kms_error(kms.sign, KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")[:2] == ("InvalidKeyUsageException", 400)


@pytest.mark.parametrize("spec,curve", [("ECC_NIST_P256", ec.SECP256R1()), ("ECC_NIST_P384", ec.SECP384R1()), ("ECC_NIST_P521", ec.SECP521R1())])
def test_derive_shared_secret_equals_ecdh_computed_outside(kms, spec, curve):
    key = kms.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    assert key["KeyAgreementAlgorithms"] == ["ECDH"]
    trent_public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    peer = ec.generate_private_key(curve)
    peer_der = peer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    out = kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer_der)
    assert out["SharedSecret"] == peer.exchange(ec.ECDH(), trent_public)
    assert (out["KeyAgreementAlgorithm"], out["KeyOrigin"], out["KeyId"]) == ("ECDH", "AWS_KMS", key["Arn"])


@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"])
def test_data_key_pair_private_key_matches_its_public_key(kms, spec):
    key = kms.create_key()["KeyMetadata"]
    out = kms.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec=spec, EncryptionContext={"use": "pair"})
    assert (out["KeyPairSpec"], out["KeyId"]) == (spec, key["Arn"])
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
    derived = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert derived == out["PublicKey"]
    unwrapped = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext={"use": "pair"})
    assert unwrapped["Plaintext"] == out["PrivateKeyPlaintext"]
    # The pair works: a signature (or ECDH) with the private half checks with the public half.
    if spec == "ECC_NIST_EDWARDS25519":
        private.public_key().verify(private.sign(b"m"), b"m")
    elif spec.startswith("ECC_"):
        private.public_key().verify(private.sign(b"m", ec.ECDSA(hashes.SHA256())), b"m", ec.ECDSA(hashes.SHA256()))
    without = kms.generate_data_key_pair_without_plaintext(KeyId=key["KeyId"], KeyPairSpec=spec)
    assert "PrivateKeyPlaintext" not in without
    serialization.load_der_public_key(without["PublicKey"])


@pytest.mark.parametrize("spec", ["ML_KEM_768", "ML_KEM_1024"])
def test_ml_kem_secret_encapsulated_outside_decapsulates_in_trent(t, kms, spec):
    from cryptography.hazmat.primitives.asymmetric import mlkem  # noqa: F401 (cryptography >= 47)

    key = kms.create_key(KeySpec=spec, KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]
    described = t.raw("DescribeKey", {"KeyId": key["KeyId"]}).json["KeyMetadata"]
    assert described["EncapsulationAlgorithms"] == ["ML_KEM"]
    assert "EncryptionAlgorithms" not in described and "SigningAlgorithms" not in described
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    shared, ciphertext = public.encapsulate()
    # This botocore predates Encapsulate/Decapsulate: raw signed requests.
    out = t.raw("Decapsulate", {"KeyId": key["KeyId"], "EncapsulationAlgorithm": "ML_KEM", "SharedSecretCiphertextBlob": b64(ciphertext)})
    assert out.status == 200, out
    assert unb64(out.json["SharedSecret"]) == shared
    inside = t.raw("Encapsulate", {"KeyId": key["KeyId"], "EncapsulationAlgorithm": "ML_KEM"}).json
    assert len(unb64(inside["SharedSecretCiphertextBlob"])) == len(ciphertext)
    again = t.raw("Decapsulate", {"KeyId": key["KeyId"], "EncapsulationAlgorithm": "ML_KEM", "SharedSecretCiphertextBlob": inside["SharedSecretCiphertextBlob"]}).json
    assert again["SharedSecret"] == inside["SharedSecret"]
    bad = t.raw("Decapsulate", {"KeyId": key["KeyId"], "EncapsulationAlgorithm": "ML_KEM", "SharedSecretCiphertextBlob": b64(b"short")})
    assert (bad.status, bad.error_code) == (400, "InvalidCiphertextException")


def test_ml_kem_data_key_pair_is_read_by_openssl(kms):
    key = kms.create_key()["KeyMetadata"]
    out = kms.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec="ML_KEM_768")
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
    public = serialization.load_der_public_key(out["PublicKey"])
    shared, ciphertext = public.encapsulate()
    assert private.decapsulate(ciphertext) == shared


def test_wrong_usage_and_algorithm_errors(kms):
    symmetric = kms.create_key()["KeyMetadata"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert kms_error(kms.sign, KeyId=symmetric["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")[:2] == ("InvalidKeyUsageException", 400)
    assert kms_error(kms.sign, KeyId=signing["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")[:2] == ("InvalidKeyUsageException", 400)
    assert kms_error(kms.encrypt, KeyId=signing["KeyId"], Plaintext=b"m")[:2] == ("InvalidKeyUsageException", 400)
    assert kms_error(kms.get_public_key, KeyId=symmetric["KeyId"])[:2] == ("UnsupportedOperationException", 400)
    assert kms_error(kms.create_key, KeySpec="HMAC_256", KeyUsage="ENCRYPT_DECRYPT")[:2] == ("ValidationException", 400)
    assert kms_error(kms.create_key, KeySpec="ECC_SECG_P256K1", KeyUsage="KEY_AGREEMENT")[:2] == ("ValidationException", 400)
    assert kms_error(kms.generate_data_key_pair, KeyId=signing["KeyId"], KeyPairSpec="RSA_2048")[:2] == ("InvalidKeyUsageException", 400)
    # DryRun: the checks run, nothing is signed.
    assert kms_error(kms.sign, KeyId=signing["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256", DryRun=True)[:2] == ("DryRunOperationException", 400)
    assert kms_error(kms.sign, KeyId=signing["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_384", DryRun=True)[:2] == ("InvalidKeyUsageException", 400)
    # A disabled key neither signs nor shows its public key.
    kms.disable_key(KeyId=signing["KeyId"])
    assert kms_error(kms.sign, KeyId=signing["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")[:2] == ("DisabledException", 400)
    assert kms_error(kms.get_public_key, KeyId=signing["KeyId"])[:2] == ("DisabledException", 400)


# A grant may allow only operations its key can do (CreateGrant's Operations:
# "you cannot create a grant for a symmetric encryption KMS key that allows
# the Sign operation, or a grant for an asymmetric KMS key that allows the
# GenerateDataKey operation"). Each case: operations the key supports, and
# one it does not.
GRANT_CASES = [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["Encrypt", "Decrypt", "GenerateDataKeyPair", "ReEncryptFrom", "DescribeKey", "CreateGrant", "RetireGrant"], "Sign"),
    ("RSA_2048", "ENCRYPT_DECRYPT", ["Encrypt", "Decrypt", "ReEncryptTo", "GetPublicKey"], "GenerateDataKey"),
    ("RSA_2048", "SIGN_VERIFY", ["Sign", "Verify", "GetPublicKey", "DescribeKey"], "Decrypt"),
    ("HMAC_256", "GENERATE_VERIFY_MAC", ["GenerateMac", "VerifyMac", "DescribeKey"], "GetPublicKey"),
    ("ECC_NIST_P256", "KEY_AGREEMENT", ["DeriveSharedSecret", "GetPublicKey"], "Sign"),
    ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", ["GetPublicKey", "DescribeKey"], "Decrypt"),
]


@pytest.mark.parametrize("spec,usage,supported,unsupported", GRANT_CASES)
def test_a_grant_allows_only_operations_its_key_supports(kms, spec, usage, supported, unsupported):
    key = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    grant = {"KeyId": key["KeyId"], "GranteePrincipal": f"arn:aws:iam::{key['AWSAccountId']}:root"}
    for operations in ([unsupported], supported + [unsupported]):
        error = kms_error(kms.create_grant, **grant, Operations=operations, Name="refused")
        assert error[:2] == ("ValidationException", 400)
        assert f"[{unsupported}]" in error.message and spec in error.message and usage in error.message
    # DryRun checks the same and answers the same.
    assert kms_error(kms.create_grant, **grant, Operations=[unsupported], DryRun=True)[:2] == ("ValidationException", 400)
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    made = kms.create_grant(**grant, Operations=supported)
    assert [(g["GrantId"], sorted(g["Operations"])) for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]] == [(made["GrantId"], sorted(supported))]


@pytest.mark.parametrize("spec", ["ML_DSA_44", "ML_DSA_65", "ML_DSA_87"])
def test_ml_dsa_external_mu_signature_verifies_as_a_signature_of_the_message(kms, spec):
    from cryptography.hazmat.primitives.asymmetric import mldsa

    key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    message = b"a message Trent never sees"
    hasher = mldsa.MLDSAMuHasher(public)
    hasher.update(message)
    mu = hasher.finalize()
    assert len(mu) == 64
    out = kms.sign(KeyId=key["KeyId"], Message=mu, MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")
    public.verify(out["Signature"], message)  # OpenSSL: a valid ML-DSA signature of the message
    assert kms.verify(KeyId=key["KeyId"], Message=mu, MessageType="EXTERNAL_MU", Signature=out["Signature"], SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"]
    raw = kms.sign(KeyId=key["KeyId"], Message=message, MessageType="RAW", SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    # Trent's RAW signature verifies against the mu OpenSSL computed.
    assert kms.verify(KeyId=key["KeyId"], Message=mu, MessageType="EXTERNAL_MU", Signature=raw, SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"]
    assert kms_error(kms.sign, KeyId=key["KeyId"], Message=mu[:63], MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")[:2] == ("ValidationException", 400)
    assert kms_error(kms.sign, KeyId=key["KeyId"], Message=mu, MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256")[:2] == ("ValidationException", 400)


def openssl(*args, data=None):
    """Runs the openssl CLI (SM2 is not in `cryptography`); returns stdout bytes."""
    import shutil
    import subprocess

    exe = shutil.which("openssl")
    if exe is None:
        pytest.skip("no openssl CLI")
    r = subprocess.run([exe, *args], input=data, capture_output=True, timeout=60)
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr.decode(errors='replace')}"
    return r.stdout


def test_sm2_signatures_and_ciphertexts_interoperate_with_openssl(kms, tmp_path):
    signing = kms.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert signing["SigningAlgorithms"] == ["SM2DSA"]
    public = tmp_path / "sm2-sign.der"
    public.write_bytes(kms.get_public_key(KeyId=signing["KeyId"])["PublicKey"])
    message = tmp_path / "message"
    message.write_bytes(b"signed with SM2 in Trent")
    signature = tmp_path / "sig"
    signature.write_bytes(kms.sign(KeyId=signing["KeyId"], Message=message.read_bytes(), SigningAlgorithm="SM2DSA")["Signature"])
    # OpenSSL: SM3 over Z (default distinguishing ID 1234567812345678) and the message.
    out = openssl("pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", str(public), "-rawin", "-in", str(message),
                  "-sigfile", str(signature), "-digest", "sm3", "-pkeyopt", "distid:1234567812345678")
    assert b"Signature Verified Successfully" in out

    encrypting = kms.create_key(KeySpec="SM2", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert encrypting["EncryptionAlgorithms"] == ["SM2PKE"]
    enc_public = tmp_path / "sm2-enc.der"
    enc_public.write_bytes(kms.get_public_key(KeyId=encrypting["KeyId"])["PublicKey"])
    ciphertext = openssl("pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", str(enc_public), data=b"encrypted by OpenSSL")
    out = kms.decrypt(KeyId=encrypting["KeyId"], CiphertextBlob=ciphertext, EncryptionAlgorithm="SM2PKE")
    assert out["Plaintext"] == b"encrypted by OpenSSL"
    assert kms_error(kms.encrypt, KeyId=encrypting["KeyId"], Plaintext=b"x" * 1025, EncryptionAlgorithm="SM2PKE")[:2] == ("ValidationException", 400)

    pair = kms.generate_data_key_pair(KeyId=kms.create_key()["KeyMetadata"]["KeyId"], KeyPairSpec="SM2")
    derived = openssl("pkey", "-inform", "DER", "-pubout", "-outform", "DER", data=pair["PrivateKeyPlaintext"])
    assert derived == pair["PublicKey"]


# The SM2 curve (GB/T 32918.5), for an ECDH computed here in plain Python:
# neither `cryptography` nor OpenSSL 3.0 derive on it.
SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
SM2_G = (0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7, 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0)
# SubjectPublicKeyInfo prefix: id-ecPublicKey, curve 1.2.156.10197.1.301, uncompressed point.
SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")


def sm2_add(p, q):
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % SM2_P == 0:
        return None
    if p == q:
        lam = (3 * p[0] * p[0] + SM2_A) * pow(2 * p[1], -1, SM2_P) % SM2_P
    else:
        lam = (q[1] - p[1]) * pow(q[0] - p[0], -1, SM2_P) % SM2_P
    x = (lam * lam - p[0] - q[0]) % SM2_P
    return (x, (lam * (p[0] - x) - p[1]) % SM2_P)


def sm2_mul(k, point):
    result = None
    while k:
        if k & 1:
            result = sm2_add(result, point)
        point = sm2_add(point, point)
        k >>= 1
    return result


def test_sm2_derive_shared_secret_equals_ecdh_computed_outside(kms):
    import secrets

    key = kms.create_key(KeySpec="SM2", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    assert key["KeyAgreementAlgorithms"] == ["ECDH"]
    spki = kms.get_public_key(KeyId=key["KeyId"])["PublicKey"]
    assert spki.startswith(SM2_SPKI_PREFIX) and len(spki) == len(SM2_SPKI_PREFIX) + 64
    trent_point = (int.from_bytes(spki[-64:-32], "big"), int.from_bytes(spki[-32:], "big"))
    d = secrets.randbelow(SM2_N - 1) + 1
    mine = sm2_mul(d, SM2_G)
    peer = SM2_SPKI_PREFIX + mine[0].to_bytes(32, "big") + mine[1].to_bytes(32, "big")
    out = kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    assert out["SharedSecret"] == sm2_mul(d, trent_point)[0].to_bytes(32, "big")
