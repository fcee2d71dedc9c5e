"""The AWS JSON 1.1 protocol and SigV4 authentication, over raw HTTP
(urllib), requests signed with botocore's SigV4Auth."""

import json
import os
import re
import stat
import time
import uuid

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from conftest import DEV_ACCOUNT, send, sign_request

BAD = 400
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@pytest.fixture(scope="module")
def t(secure_trent):
    return secure_trent


def check_envelope(r):
    """Every answer: a request id and the AWS JSON 1.1 content type."""
    assert re.fullmatch(r"[0-9a-f-]{36}", r.headers.get("x-amzn-RequestId", "")), r.headers
    assert r.headers.get("Content-Type") == "application/x-amz-json-1.1"
    return r


def call(t, operation, body, **kw):
    return check_envelope(t.raw(operation, body, **kw))


def error(r):
    return r.status, r.error_code


def signed(t, operation, body):
    """A prepared request signed now, for tests that change it afterwards."""
    ak, sk = t.keys()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{operation}"}
    req = botocore.awsrequest.AWSRequest(method="POST", url=t.endpoint + "/", data=json.dumps(body).encode(), headers=headers)
    sign_request(req, ak, sk, "us-east-1")
    return req.prepare()


def alias_names(t):
    r = call(t, "ListAliases", {"Limit": 1000})
    assert r.status == 200
    return [a["AliasName"] for a in r.json["Aliases"]]


def key_count(t):
    r = call(t, "ListKeys", {"Limit": 1000})
    assert r.status == 200
    return len(r.json["Keys"])


@pytest.fixture(scope="module")
def key_id(t):
    r = call(t, "CreateKey", {"Description": "protocol"})
    assert r.status == 200
    return r.json["KeyMetadata"]["KeyId"]


def test_credentials_file(t):
    path = os.path.join(t.data_dir, "credentials")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    creds = t.credentials
    assert set(creds) == {"aws_access_key_id", "aws_secret_access_key"}
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", creds["aws_access_key_id"])
    assert len(creds["aws_secret_access_key"]) == 40


def test_success_envelope(t, key_id):
    r1 = call(t, "DescribeKey", {"KeyId": key_id})
    r2 = call(t, "DescribeKey", {"KeyId": key_id})
    assert r1.status == 200 and r1.json["KeyMetadata"]["KeyId"] == key_id
    assert r1.headers["x-amzn-RequestId"] != r2.headers["x-amzn-RequestId"]


def test_unknown_and_missing_target(t):
    assert error(call(t, "NoSuchOperation", {})) == (BAD, "UnknownOperationException")
    assert error(call(t, None, {})) == (BAD, "UnknownOperationException")
    r = call(t, None, {}, headers={"X-Amz-Target": "ListKeys"})  # no service prefix
    assert error(r) == (BAD, "UnknownOperationException")


def test_malformed_json(t):
    assert error(call(t, "ListKeys", None, data=b'{"Limit": ')) == (BAD, "SerializationException")
    assert error(call(t, "ListKeys", None, data=b"[]")) == (BAD, "SerializationException")


def test_wrong_type(t, key_id):
    assert error(call(t, "ListKeys", {"Limit": "10"})) == (BAD, "SerializationException")
    assert error(call(t, "Encrypt", {"KeyId": key_id, "Plaintext": 12})) == (BAD, "SerializationException")
    assert error(call(t, "CreateKey", {"Tags": {"TagKey": "a", "TagValue": "b"}})) == (BAD, "SerializationException")


def test_missing_required_member(t):
    r = call(t, "DescribeKey", {})
    assert error(r) == (BAD, "ValidationException")
    assert r.message == "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"


def test_missing_authorization(t):
    before = key_count(t)
    r = call(t, "CreateKey", {}, sign=False)
    assert error(r) == (BAD, "MissingAuthenticationTokenException")
    assert r.message == "Request is missing Authentication Token"
    assert key_count(t) == before


def test_unknown_access_key(t):
    r = call(t, "CreateAlias", {"AliasName": "alias/p-unknown", "TargetKeyId": str(uuid.uuid4())}, access_key="AKIAIOSFODNN7EXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert error(r) == (BAD, "UnrecognizedClientException")
    assert r.message == "The security token included in the request is invalid."


def test_wrong_secret(t, key_id):
    ak, _ = t.keys()
    r = call(t, "CreateAlias", {"AliasName": "alias/p-wrong-secret", "TargetKeyId": key_id}, access_key=ak, secret_key="x" * 40)
    assert error(r) == (BAD, "InvalidSignatureException")
    assert r.message == SIGNATURE_MISMATCH
    assert "alias/p-wrong-secret" not in alias_names(t)


def test_body_changed_after_signing(t, key_id):
    req = signed(t, "CreateAlias", {"AliasName": "alias/p-original", "TargetKeyId": key_id})
    req.body = json.dumps({"AliasName": "alias/p-tampered", "TargetKeyId": key_id}).encode()
    req.headers["Content-Length"] = str(len(req.body))
    r = check_envelope(send(req))
    assert error(r) == (BAD, "InvalidSignatureException")
    names = alias_names(t)
    assert "alias/p-tampered" not in names and "alias/p-original" not in names


def test_signature_expired(t):
    before = key_count(t)
    r = call(t, "CreateKey", {}, at=time.time() - 600)
    assert error(r) == (BAD, "InvalidSignatureException")
    assert r.message.startswith("Signature expired: ")
    r = call(t, "CreateKey", {}, at=time.time() + 600)
    assert error(r) == (BAD, "InvalidSignatureException")
    assert r.message.startswith("Signature not yet current: ")
    assert key_count(t) == before
    # Within the 5 minutes either way is fine.
    assert call(t, "ListKeys", {}, at=time.time() - 120).status == 200


def test_signed_for_another_service(t):
    ak, sk = t.keys()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.CreateKey"}
    req = botocore.awsrequest.AWSRequest(method="POST", url=t.endpoint + "/", data=b"{}", headers=headers)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(ak, sk), "s3", "us-east-1").add_auth(req)
    before = key_count(t)
    r = check_envelope(send(req.prepare()))
    assert error(r) == (BAD, "InvalidSignatureException")
    assert r.message == "Credential should be scoped to correct service: 'kms'."
    assert key_count(t) == before


def test_oversized_body(t):
    r = call(t, "ListKeys", None, data=b'{"Limit": 1' + b" " * (2 << 20) + b"}")
    # Over Trent's bound: 413 (since the request-lifecycle change; AWS's answer is not published).
    assert error(r) == (413, "RequestEntityTooLargeException")


def test_truncated_authorization(t):
    before = key_count(t)
    req = signed(t, "CreateKey", {})
    full = req.headers["Authorization"]
    for cut in [full[: full.index(", SignedHeaders")], full[: full.index("Signature=")], full[:30]]:
        req.headers["Authorization"] = cut
        r = check_envelope(send(req))
        assert error(r) == (BAD, "IncompleteSignatureException"), cut
    assert key_count(t) == before


def test_failed_validation_changes_nothing(t, key_id):
    r = call(t, "CreateAlias", {"AliasName": "p-no-prefix", "TargetKeyId": key_id})
    assert error(r) == (BAD, "ValidationException")
    r = call(t, "CreateAlias", {"AliasName": "alias/p-" + "x" * 300, "TargetKeyId": key_id})
    assert error(r) == (BAD, "ValidationException")
    r = call(t, "CreateAlias", {"AliasName": "alias/p-missing-key", "TargetKeyId": str(uuid.uuid4())})
    assert error(r) == (BAD, "NotFoundException")
    names = alias_names(t)
    assert not [n for n in names if "p-" in n], names
    before = key_count(t)
    r = call(t, "CreateKey", {"Description": "x" * 8193, "Tags": [{"TagKey": "a", "TagValue": "b"}]})
    assert error(r) == (BAD, "ValidationException")
    r = call(t, "CreateKey", {"Tags": [{"TagKey": "aws:x", "TagValue": "b"}]})
    assert error(r) == (BAD, "TagException")
    assert key_count(t) == before
    r = call(t, "UpdateKeyDescription", {"KeyId": key_id, "Description": "y" * 8193})
    assert error(r) == (BAD, "ValidationException")
    assert call(t, "DescribeKey", {"KeyId": key_id}).json["KeyMetadata"]["Description"] == "protocol"


# --- dev mode ------------------------------------------------------------------------


def test_dev_mode_accepts_dummy_credentials(dev_trent):
    t = dev_trent
    kms = t.boto3_client(access_key="test", secret_key="test")
    m = kms.create_key(Description="dev")["KeyMetadata"]
    assert m["AWSAccountId"] == DEV_ACCOUNT == "123456789012"
    assert m["Arn"] == f"arn:aws:kms:us-east-1:123456789012:key/{m['KeyId']}"
    blob = kms.encrypt(KeyId=m["KeyId"], Plaintext=b"hi")["CiphertextBlob"]
    # Any other credentials are the same caller.
    other = t.boto3_client(access_key="AKIAANYTHING", secret_key="whatever")
    assert other.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hi"
    assert m["KeyId"] in [k["KeyId"] for k in other.list_keys()["Keys"]]
    # Even a bad signature or none at all.
    r = check_envelope(t.raw("DescribeKey", {"KeyId": m["KeyId"]}, access_key="test", secret_key="other"))
    assert r.status == 200 and r.json["KeyMetadata"]["Arn"] == m["Arn"]
    r = check_envelope(t.raw("DescribeKey", {"KeyId": m["KeyId"]}, sign=False))
    assert r.status == 200 and r.json["KeyMetadata"]["Arn"] == m["Arn"]
    # The region still comes from the credential scope.
    west = t.boto3_client(region="us-west-2", access_key="test", secret_key="test")
    assert west.create_key()["KeyMetadata"]["Arn"].startswith("arn:aws:kms:us-west-2:123456789012:key/")
    assert m["KeyId"] not in [k["KeyId"] for k in west.list_keys()["Keys"]]


def test_dev_account_id_option(trent_factory):
    t = trent_factory(dev=True, args=["--dev-account-id", "111122223333"])
    kms = t.boto3_client(access_key="test", secret_key="test")
    m = kms.create_key()["KeyMetadata"]
    assert m["AWSAccountId"] == "111122223333"
    assert m["Arn"] == f"arn:aws:kms:us-east-1:111122223333:key/{m['KeyId']}"
    policy = json.loads(kms.get_key_policy(KeyId=m["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}


# --- what the signature must cover --------------------------------------------------


class LeavingOut(botocore.auth.SigV4Auth):
    """botocore's signer, but leaving the named headers out of SignedHeaders
    (as a signer that signs only host and x-amz-date would): the signature
    is valid, yet covers nothing of those headers."""

    def __init__(self, credentials, service, region, leave_out):
        super().__init__(credentials, service, region)
        self.leave_out = [h.lower() for h in leave_out]

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        for name in self.leave_out:
            del headers[name]
        return headers


def signed_leaving_out(t, target, body, leave_out, extra=None, token=None, access_key=None, secret_key=None, service="kms", region="us-east-1"):
    if access_key is None:
        access_key, secret_key = t.keys()
    headers = {"Content-Type": "application/x-amz-json-1.1", **(extra or {})}
    if target:
        headers["X-Amz-Target"] = f"TrentService.{target}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = botocore.awsrequest.AWSRequest(method="POST", url=t.endpoint + "/", data=data, headers=headers)
    LeavingOut(botocore.credentials.Credentials(access_key, secret_key, token), service, region, leave_out).add_auth(req)
    return req.prepare()


def not_signed(name):
    return f"'{name}' must be a 'SignedHeader' in the AWS Authorization."


def key_state(t, key_id):
    return call(t, "DescribeKey", {"KeyId": key_id}).json["KeyMetadata"]["KeyState"]


def test_an_unsigned_target_cannot_turn_a_request_into_another_operation(t):
    key = call(t, "CreateKey", {"Description": "replay"}).json["KeyMetadata"]["KeyId"]
    # Signed as DescribeKey, the same signature and body sent as DisableKey:
    # the signature covers the body but not X-Amz-Target.
    req = signed_leaving_out(t, "DescribeKey", {"KeyId": key}, ["x-amz-target"])
    assert "x-amz-target" not in req.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    req.headers["X-Amz-Target"] = "TrentService.DisableKey"
    r = check_envelope(send(req))
    assert error(r) == (BAD, "InvalidSignatureException")
    assert r.message == not_signed("X-Amz-Target")
    assert key_state(t, key) == "Enabled"
    # Nor is the request itself served with its target unsigned.
    before = key_count(t)
    r = check_envelope(send(signed_leaving_out(t, "CreateKey", {}, ["x-amz-target"])))
    assert (error(r), r.message) == ((BAD, "InvalidSignatureException"), not_signed("X-Amz-Target"))
    assert key_count(t) == before


def test_every_header_that_decides_must_be_signed(t):
    before = key_count(t)
    for leave_out, extra, name in [
        ("content-type", {}, "Content-Type"),
        ("x-amz-date", {}, "X-Amz-Date"),
        ("x-trent-on-behalf-of", {"X-Trent-On-Behalf-Of": "arn:aws:iam::123456789012:root"}, "X-Trent-On-Behalf-Of"),
        ("x-trent-anything", {"X-Trent-Anything": "1"}, "X-Trent-Anything"),
    ]:
        r = check_envelope(send(signed_leaving_out(t, "CreateKey", {}, [leave_out], extra=extra)))
        assert (error(r), r.message) == ((BAD, "InvalidSignatureException"), not_signed(name)), leave_out
    assert key_count(t) == before
    # Headers that decide nothing may stay unsigned (as every SDK leaves
    # User-Agent; botocore also leaves amz-sdk-invocation-id and -request).
    r = check_envelope(send(signed_leaving_out(t, "ListKeys", {}, ["user-agent", "amz-sdk-request"], extra={"User-Agent": "x", "amz-sdk-request": "attempt=1"})))
    assert r.status == 200, r


def test_an_unsigned_session_token_is_refused(t):
    from test_identity import kms_role_session

    c = kms_role_session(t, "token")
    session = dict(access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"], token=c["SessionToken"])
    assert check_envelope(send(signed_leaving_out(t, "ListKeys", {}, [], **session))).status == 200
    r = check_envelope(send(signed_leaving_out(t, "ListKeys", {}, ["x-amz-security-token"], **session)))
    assert (error(r), r.message) == ((BAD, "InvalidSignatureException"), not_signed("X-Amz-Security-Token"))
    # The same on the Query path (STS), in its own codes.
    form = b"Action=GetCallerIdentity&Version=2011-06-15"
    extra = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    r = send(signed_leaving_out(t, None, form, [], extra=extra, service="sts", **session))
    assert r.status == 200, r
    r = send(signed_leaving_out(t, None, form, ["x-amz-security-token"], extra=extra, service="sts", **session))
    assert r.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.body, r
    assert b"X-Amz-Security-Token" in r.body and b"must be a" in r.body, r


def test_the_query_path_needs_its_headers_signed_too(t):
    from test_identity import client

    name = f"unsigned-{uuid.uuid4().hex[:8]}"
    form = f"Action=CreateUser&Version=2010-05-08&UserName={name}".encode()
    extra = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    r = send(signed_leaving_out(t, None, form, ["content-type"], extra=extra, service="iam"))
    assert r.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.body, r
    assert b"Content-Type" in r.body and b"must be a" in r.body, r
    names = [u["UserName"] for u in client(t, "iam").list_users()["Users"]]
    assert name not in names
    r = send(signed_leaving_out(t, None, form, [], extra=extra, service="iam"))
    assert r.status == 200, r


# --- regions ------------------------------------------------------------------------------


def test_only_well_formed_regions_are_accepted(t):
    before = key_count(t)
    for region in ["x:y", "..", "US-EAST-1", "", "us-east", "us-east-01", "aws-global"]:
        r = check_envelope(send(signed_leaving_out(t, "CreateKey", {}, [], region=region)))
        assert error(r) == (BAD, "InvalidSignatureException"), (region, r)
        assert r.message == f"Credential should be scoped to a valid region, not '{region}'.", r.message
    assert key_count(t) == before
    for region in ["us-gov-west-1", "cn-north-1", "il-central-1", "us-isob-east-1", "ap-southeast-4"]:
        r = check_envelope(send(signed_leaving_out(t, "CreateKey", {}, [], region=region)))
        assert r.status == 200, (region, r)
        assert r.json["KeyMetadata"]["Arn"].startswith(f"arn:aws:kms:{region}:")
    # IAM and STS the same, in their own codes.
    form = b"Action=GetCallerIdentity&Version=2011-06-15"
    r = send(signed_leaving_out(t, None, form, [], extra={"Content-Type": "application/x-www-form-urlencoded"}, service="sts", region="x:y"))
    assert r.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.body and b"valid region" in r.body, r


def test_dev_mode_takes_no_malformed_region_either(dev_trent):
    t = dev_trent
    for region in ["x:y", "Us-East-1", ".."]:
        r = check_envelope(t.raw("CreateKey", {}, region=region, access_key="test", secret_key="test"))
        assert error(r) == (BAD, "InvalidSignatureException"), (region, r)
        assert r.message == f"Credential should be scoped to a valid region, not '{region}'."
    r = check_envelope(t.raw("ListKeys", {}, region="eu-central-2", access_key="test", secret_key="test"))
    assert r.status == 200
