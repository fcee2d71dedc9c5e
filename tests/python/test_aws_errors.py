"""Trent's errors are AWS's (issue 17): the exception, the HTTP status and
the message, or no message where AWS sends none. One table per class of
the issue; each row is a request and what AWS answers it with. The
messages are the catalogue's (crates/server/src/protocol/catalogue.rs,
docs/errors.md), AWS's recorded wording where one is published."""

import base64
import json

import pytest

B64 = lambda b: base64.b64encode(b).decode()


@pytest.fixture(scope="module")
def t(secure_trent):
    return secure_trent


def ok(t, operation, body):
    r = t.raw(operation, body)
    assert r.status == 200, r
    return r.json


@pytest.fixture(scope="module")
def keys(t):
    """One key of each kind the tables need, by name: its metadata."""
    specs = {
        "symmetric": {},
        "hmac": {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
        "ecc_sign": {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
        "rsa_encrypt": {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
        "external": {"Origin": "EXTERNAL"},
        "disabled_ecc": {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
        "disabled_hmac": {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
    }
    out = {name: ok(t, "CreateKey", body)["KeyMetadata"] for name, body in specs.items()}
    for name in ("disabled_ecc", "disabled_hmac"):
        ok(t, "DisableKey", {"KeyId": out[name]["KeyId"]})
    return out


@pytest.fixture(scope="module")
def ciphertext(t, keys):
    body = {"KeyId": keys["symmetric"]["KeyId"], "Plaintext": B64(b"secret"), "EncryptionContext": {"purpose": "test"}}
    return ok(t, "Encrypt", body)["CiphertextBlob"]


@pytest.fixture(scope="module")
def mac(t, keys):
    body = {"KeyId": keys["hmac"]["KeyId"], "Message": B64(b"m"), "MacAlgorithm": "HMAC_SHA_256"}
    return ok(t, "GenerateMac", body)["Mac"]


def flip(blob_b64):
    raw = bytearray(base64.b64decode(blob_b64))
    raw[-1] ^= 1
    return B64(bytes(raw))


def arn(keys, name):
    return keys[name]["Arn"]


def kid(keys, name):
    return keys[name]["KeyId"]


# --- Class 1: errors AWS sends without any message ---------------------------------

NO_MESSAGE = [
    ("InvalidCiphertextException", "Decrypt", lambda k, c, m: {"CiphertextBlob": c, "EncryptionContext": {"purpose": "other"}}),
    ("InvalidCiphertextException", "Decrypt", lambda k, c, m: {"CiphertextBlob": flip(c), "EncryptionContext": {"purpose": "test"}}),
    ("KMSInvalidSignatureException", "Verify", lambda k, c, m: {"KeyId": kid(k, "ecc_sign"), "Message": B64(b"m"), "Signature": B64(b"\x30\x06\x02\x01\x01\x02\x01\x01"), "SigningAlgorithm": "ECDSA_SHA_256"}),
    ("KMSInvalidMacException", "VerifyMac", lambda k, c, m: {"KeyId": kid(k, "hmac"), "Message": B64(b"m"), "Mac": flip(m), "MacAlgorithm": "HMAC_SHA_256"}),
    ("UnsupportedOperationException", "EnableKeyRotation", lambda k, c, m: {"KeyId": kid(k, "ecc_sign")}),
    ("UnsupportedOperationException", "RotateKeyOnDemand", lambda k, c, m: {"KeyId": kid(k, "hmac")}),
]


@pytest.mark.parametrize("code,operation,body", NO_MESSAGE, ids=[f"{c}-{o}" for c, o, _ in NO_MESSAGE])
def test_errors_aws_sends_without_a_message(t, keys, ciphertext, mac, code, operation, body):
    r = t.raw(operation, body(keys, ciphertext, mac))
    assert (r.status, r.error_code) == (400, code), r
    # Not an empty message: no message member at all, as AWS.
    assert set(r.json) == {"__type"}, r.json


def test_boto3_sees_no_message(t, keys, ciphertext):
    from conftest import kms_error

    kms = t.boto3_client()
    err = kms_error(kms.decrypt, CiphertextBlob=base64.b64decode(ciphertext), EncryptionContext={"purpose": "other"})
    # botocore reports an absent message as "" (as in the recordings of AWS).
    assert err == ("InvalidCiphertextException", 400, "")


# --- Class 3: AWS's exception, where Trent answered another ---------------------------

def tags(n):
    return [{"TagKey": f"k{i}", "TagValue": "v"} for i in range(n)]


CODES = [
    ("alias without alias/", "CreateAlias", lambda k: {"AliasName": "my-alias", "TargetKeyId": kid(k, "symmetric")}, "ValidationException"),
    ("51 tags on a new key", "CreateKey", lambda k: {"Tags": tags(51)}, "TagException"),
    ("51 tags on a key", "TagResource", lambda k: {"KeyId": kid(k, "symmetric"), "Tags": tags(51)}, "TagException"),
    ("Decrypt naming an HMAC key", "Decrypt", lambda k: {"KeyId": kid(k, "hmac"), "CiphertextBlob": B64(b"x" * 64)}, "IncorrectKeyException"),
    ("ReEncrypt from an HMAC key", "ReEncrypt", lambda k: {"SourceKeyId": kid(k, "hmac"), "DestinationKeyId": kid(k, "symmetric"), "CiphertextBlob": B64(b"x" * 64)}, "IncorrectKeyException"),
    ("Decrypt naming a signing key", "Decrypt", lambda k: {"KeyId": kid(k, "ecc_sign"), "CiphertextBlob": B64(b"x" * 64)}, "IncorrectKeyException"),
    ("EnableKeyRotation of a disabled asymmetric key", "EnableKeyRotation", lambda k: {"KeyId": kid(k, "disabled_ecc")}, "DisabledException"),
    ("RotateKeyOnDemand of a disabled HMAC key", "RotateKeyOnDemand", lambda k: {"KeyId": kid(k, "disabled_hmac")}, "DisabledException"),
    ("DryRun that would succeed", "Encrypt", lambda k: {"KeyId": kid(k, "symmetric"), "Plaintext": B64(b"p"), "DryRun": True}, "DryRunOperationException"),
    ("DryRun of GenerateDataKey", "GenerateDataKey", lambda k: {"KeyId": kid(k, "symmetric"), "KeySpec": "AES_256", "DryRun": True}, "DryRunOperationException"),
]


@pytest.mark.parametrize("case,operation,body,code", CODES, ids=[c[0] for c in CODES])
def test_aws_exception_and_status(t, keys, case, operation, body, code):
    r = t.raw(operation, body(keys))
    assert (r.status, r.error_code) == (400, code), r


def test_dry_run_through_boto3_is_400(t, keys):
    from conftest import kms_error

    kms = t.boto3_client()
    err = kms_error(kms.encrypt, KeyId=kid(keys, "symmetric"), Plaintext=b"p", DryRun=True)
    assert err == ("DryRunOperationException", 400, "The request would have succeeded, but the DryRun option is set.")


# --- Class 4: AWS's message text --------------------------------------------------------

MRK = "mrk-d3b95762d3b95762d3b95762d3b95762"

MESSAGES = [
    ("well-formed mrk- id", "DescribeKey", lambda k: {"KeyId": MRK}, "NotFoundException",
     lambda k: f"Key '{arn(k, 'symmetric').rsplit('/', 1)[0]}/{MRK}' does not exist"),
    ("malformed mrk- id", "DescribeKey", lambda k: {"KeyId": "mrk-fake-key-id"}, "NotFoundException",
     lambda k: "Invalid keyId 'mrk-fake-key-id'"),
    ("alias name for a key-id-only operation", "GetKeyPolicy", lambda k: {"KeyId": "alias/x", "PolicyName": "default"}, "NotFoundException",
     lambda k: "Invalid keyId 'alias/x'"),
    ("GenerateRandom without NumberOfBytes", "GenerateRandom", lambda k: {}, "ValidationException",
     lambda k: "NumberOfBytes is required."),
    ("RSA plaintext too long", "Encrypt", lambda k: {"KeyId": kid(k, "rsa_encrypt"), "Plaintext": B64(b"p" * 191), "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}, "ValidationException",
     lambda k: "Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than 190 bytes."),
    ("ValidTo required", "ImportKeyMaterial", lambda k: {"KeyId": kid(k, "external"), "ImportToken": B64(b"t"), "EncryptedKeyMaterial": B64(b"m"), "ExpirationModel": "KEY_MATERIAL_EXPIRES"}, "ValidationException",
     lambda k: "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"),
    ("MAC algorithm of another spec", "GenerateMac", lambda k: {"KeyId": kid(k, "hmac"), "Message": B64(b"m"), "MacAlgorithm": "HMAC_SHA_512"}, "InvalidKeyUsageException",
     lambda k: "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256."),
    ("GetParametersForImport on an AWS_KMS key", "GetParametersForImport", lambda k: {"KeyId": kid(k, "symmetric"), "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}, "UnsupportedOperationException",
     lambda k: f"{arn(k, 'symmetric')} origin is AWS_KMS which is not valid for this operation."),
    ("DeriveSharedSecret with a symmetric key", "DeriveSharedSecret", lambda k: {"KeyId": kid(k, "symmetric"), "KeyAgreementAlgorithm": "ECDH", "PublicKey": B64(b"k")}, "InvalidKeyUsageException",
     lambda k: f"{arn(k, 'symmetric')} key usage is ENCRYPT_DECRYPT which is not valid for DeriveSharedSecret."),
    ("DeriveSharedSecret with a signing key", "DeriveSharedSecret", lambda k: {"KeyId": kid(k, "ecc_sign"), "KeyAgreementAlgorithm": "ECDH", "PublicKey": B64(b"k")}, "InvalidKeyUsageException",
     lambda k: f"{arn(k, 'ecc_sign')} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret."),
    ("HMAC CreateKey without KeyUsage", "CreateKey", lambda k: {"KeySpec": "HMAC_256"}, "ValidationException",
     lambda k: "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."),
    ("CancelKeyDeletion of a key not pending deletion", "CancelKeyDeletion", lambda k: {"KeyId": kid(k, "symmetric")}, "KMSInvalidStateException",
     lambda k: f"{arn(k, 'symmetric')} is not pending deletion."),
    ("Decrypt naming an HMAC key", "Decrypt", lambda k: {"KeyId": kid(k, "hmac"), "CiphertextBlob": B64(b"x" * 64)}, "IncorrectKeyException",
     lambda k: "The key ID in the request does not identify a CMK that can perform this operation."),
    ("alias without alias/", "CreateAlias", lambda k: {"AliasName": "my-alias", "TargetKeyId": kid(k, "symmetric")}, "ValidationException",
     lambda k: 'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html'),
    ("enum values in the model's order", "CreateKey", lambda k: {"KeyUsage": "BOGUS"}, "ValidationException",
     lambda k: "1 validation error detected: Value 'BOGUS' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: "
               "[SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]"),
    ("enum values in the model's order (MAC algorithms)", "GenerateMac", lambda k: {"KeyId": kid(k, "hmac"), "Message": B64(b"m"), "MacAlgorithm": "NOPE"}, "ValidationException",
     lambda k: "1 validation error detected: Value 'NOPE' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: "
               "[HMAC_SHA_224, HMAC_SHA_256, HMAC_SHA_384, HMAC_SHA_512]"),
]


@pytest.mark.parametrize("case,operation,body,code,message", MESSAGES, ids=[c[0] for c in MESSAGES])
def test_aws_message(t, keys, case, operation, body, code, message):
    r = t.raw(operation, body(keys))
    assert (r.status, r.error_code, r.message) == (400, code, message(keys)), r


def test_the_model_orders_enum_values_as_service_2_json(t):
    """The enum order of a validation message is the model's, for every enum
    the model prints (a spot check of one more than the table above)."""
    model = json.load(open(__import__("pathlib").Path(__file__).parents[2] / "model" / "service-2.json"))
    values = model["shapes"]["KeySpec"]["enum"]
    r = t.raw("CreateKey", {"KeySpec": "NOPE"})
    assert r.status == 400 and r.message.endswith("[" + ", ".join(values) + "]"), r
