#!/usr/bin/env python3
"""Regenerates tests/fixtures/botocore_kms.json: KMS requests exactly as
botocore's KMS client sends them (its own serializer and SigV4Auth signer),
captured before they hit the network, at a fixed clock.

Run from anywhere:  python3 crates/sigv4/tests/gen_botocore_fixture.py
The output is committed; tests read it, they never run this script.
"""

import datetime
import json
import os
from urllib.parse import urlsplit

import botocore
import botocore.auth
import botocore.session
from botocore.awsrequest import AWSResponse

FIXED_NOW = datetime.datetime(2024, 5, 17, 9, 30, 15)  # UTC, naive like botocore's own
ENDPOINT = "http://localhost:4566"
REGION = "eu-west-1"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN//////////wEaDEXAMPLE+sessionToken/with=padding=="

CASES = [
    ("list-keys", {}, "list_keys", {"Limit": 10}),
    (
        "encrypt-json-body",
        {},
        "encrypt",
        {
            "KeyId": "alias/trent-test",
            "Plaintext": b"hello, trent \xe2\x9c\x93",
            "EncryptionContext": {"purpose": "sigv4 fixture", "tenant": "42"},
        },
    ),
    ("describe-key-session-token", {"aws_session_token": SESSION_TOKEN}, "describe_key", {"KeyId": "alias/trent-test"}),
]


class Captured(Exception):
    pass


def capture(operation, creds, params):
    session = botocore.session.get_session()
    client = session.create_client(
        "kms",
        region_name=REGION,
        endpoint_url=ENDPOINT,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        **creds,
    )
    seen = {}

    def before_send(request, **_):
        seen["request"] = request
        return AWSResponse(request.url, 200, {}, None)

    client.meta.events.register("before-send.kms", before_send)
    try:
        getattr(client, operation)(**params)
    except Exception:  # the fake empty response does not parse; we only need the request
        pass
    return seen["request"]


def main():
    botocore.auth.get_current_datetime = lambda *a, **k: FIXED_NOW
    now_unix = int(FIXED_NOW.replace(tzinfo=datetime.timezone.utc).timestamp())
    out = []
    for name, creds, operation, params in CASES:
        req = capture(operation, creds, params)
        url = urlsplit(req.url)
        body = req.body or b""
        if isinstance(body, str):
            body = body.encode()
        headers = [[k, v.decode() if isinstance(v, bytes) else v] for k, v in req.headers.items()]
        # botocore leaves Host to the HTTP client; urllib3 sends it first.
        headers.insert(0, ["Host", url.netloc])
        out.append(
            {
                "name": name,
                "method": req.method,
                "path": url.path or "/",
                "query": url.query,
                "headers": headers,
                "body": body.decode("utf-8"),  # KMS bodies are JSON text
                "access_key_id": ACCESS_KEY,
                "secret_access_key": SECRET_KEY,
                "region": REGION,
                "service": "kms",
                "now_unix": now_unix,
            }
        )
    doc = {
        "generator": "crates/sigv4/tests/gen_botocore_fixture.py",
        "botocore_version": botocore.__version__,
        "requests": out,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "botocore_kms.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"wrote {len(out)} requests to {path}")


if __name__ == "__main__":
    main()
