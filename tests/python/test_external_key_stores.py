"""AWS's external key store walkthrough with the stock aws CLI: `trent serve`
(the KMS side) with an EXTERNAL_KEY_STORE custom key store on `trent
xks-proxy` over TLS (docs/custom-key-stores.md shows the same commands).
The proxy keeps its keys in its data directory, or in a SoftHSM2 token (that
case skips without SoftHSM2, unless TRENT_REQUIRE_SOFTHSM=1, where it fails).
"""

import base64
import datetime
import json
import os
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import START_TIMEOUT, delete_key_store_and_its_key, note_secret, softhsm_token, trent_bin, wait_key_store_state as wait_state

PREFIX = "/example/prefix"
LABEL = "xks-token"
PIN = "kmsuser-pin"


def self_signed(tmp_path):
    """A certificate for `localhost` (not a CA: it is its own trust anchor)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "proxy.crt", tmp_path / "proxy.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def token_env(tmp_path):
    """A fresh SoftHSM2 token; returns the proxy's backend flags and the
    environment its processes need (the PIN in TRENT_XKS_PKCS11_PIN)."""
    module, conf = softhsm_token(tmp_path, LABEL, PIN)
    env = dict(os.environ, SOFTHSM2_CONF=conf, TRENT_XKS_PKCS11_PIN=PIN)
    return ["--pkcs11-module", module, "--pkcs11-token-label", LABEL], env


def proxy_cmd(data_dir, *args, env=None):
    r = subprocess.run([trent_bin(), "xks-proxy", *args, "--data-dir", str(data_dir)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(params=["data-dir", "pkcs11"])
def proxy(request, tmp_path):
    """`trent xks-proxy` on TLS with key `key-1` and one credential; stopped
    at the end."""
    backend, env = ([], None) if request.param == "data-dir" else token_env(tmp_path)
    data_dir = tmp_path / "xks"
    assert proxy_cmd(data_dir, "key", "create", "--key-id", "key-1", *backend, env=env).strip() == "key-1"
    out = proxy_cmd(data_dir, "credential", "create")
    cred = dict(line.split(": ", 1) for line in out.splitlines())
    note_secret(cred["SecretAccessKey"])
    cert, key = self_signed(tmp_path)
    log = open(tmp_path / "xks-proxy.out", "w+")
    proc = subprocess.Popen(
        [trent_bin(), "xks-proxy", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0", "--tls-cert", str(cert), "--tls-key", str(key), "--uri-path-prefix", PREFIX, *backend],
        stdout=log, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        line = ""
        while not line.endswith("\n"):
            assert proc.poll() is None and time.monotonic() < deadline, f"trent xks-proxy did not start: {line!r}"
            time.sleep(0.05)
            log.seek(0)
            line = log.readline()
        # "Trent xks-proxy listening on https://127.0.0.1:PORT/example/prefix/kms/xks/v1"
        port = int(line.split("https://127.0.0.1:", 1)[1].split("/", 1)[0])
        yield {"port": port, "cert": cert, "cred": cred, "data_dir": data_dir, "backend": backend, "env": env}
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_the_external_key_store_walkthrough_with_the_aws_cli(new_trent, proxy, tmp_path):
    # Trent trusts the proxy's certificate and reaches https://localhost at its port.
    t = new_trent(args=["--xks-ca-bundle", str(proxy["cert"]), "--xks-connect-to", f"localhost=127.0.0.1:{proxy['port']}"])
    cred = proxy["cred"]

    # aws CLI v1 fetches a parameter that starts with https:// (its
    # cli_follow_urlparam); v2 does not. So the endpoint goes in
    # --cli-input-json, which is never fetched; the rest as AWS documents it.
    created = t.aws(
        "kms", "create-custom-key-store",
        "--custom-key-store-name", "ExampleXksKeyStore",
        "--custom-key-store-type", "EXTERNAL_KEY_STORE",
        "--cli-input-json", json.dumps({"XksProxyUriEndpoint": "https://localhost"}),
        "--xks-proxy-uri-path", f"{PREFIX}/kms/xks/v1",
        "--xks-proxy-authentication-credential", f"AccessKeyId={cred['AccessKeyId']},RawSecretAccessKey={cred['SecretAccessKey']}",
        "--xks-proxy-connectivity", "PUBLIC_ENDPOINT",
    )
    store_id = created["CustomKeyStoreId"]
    assert store_id.startswith("cks-")

    entry = t.aws("kms", "describe-custom-key-stores", "--custom-key-store-name", "ExampleXksKeyStore")["CustomKeyStores"][0]
    assert entry["CustomKeyStoreType"] == "EXTERNAL_KEY_STORE"
    assert entry["ConnectionState"] == "DISCONNECTED"
    config = entry["XksProxyConfiguration"]
    assert config["Connectivity"] == "PUBLIC_ENDPOINT"
    assert config["UriEndpoint"] == "https://localhost"
    assert config["UriPath"] == f"{PREFIX}/kms/xks/v1"
    assert config["AccessKeyId"] == cred["AccessKeyId"]
    assert "RawSecretAccessKey" not in str(entry)

    t.aws("kms", "connect-custom-key-store", "--custom-key-store-id", store_id)
    wait_state(t, store_id, "CONNECTED")

    key = t.aws("kms", "create-key", "--origin", "EXTERNAL_KEY_STORE", "--custom-key-store-id", store_id, "--xks-key-id", "key-1", "--description", "outer layer in the proxy")["KeyMetadata"]
    assert key["Origin"] == "EXTERNAL_KEY_STORE"
    assert key["CustomKeyStoreId"] == store_id
    assert key["XksKeyConfiguration"]["Id"] == "key-1"
    err = t.aws("kms", "create-key", "--origin", "EXTERNAL_KEY_STORE", "--custom-key-store-id", store_id, "--xks-key-id", "no-such-key", check=False)
    assert err.code == "XksKeyNotFoundException"

    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"secret kept behind the proxy")
    blob = t.aws("kms", "encrypt", "--key-id", key["KeyId"], "--plaintext", f"fileb://{plain}", "--encryption-context", "app=walkthrough")["CiphertextBlob"]
    sealed = tmp_path / "sealed.bin"
    sealed.write_bytes(base64.b64decode(blob))
    opened = t.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{sealed}", "--encryption-context", "app=walkthrough")
    assert base64.b64decode(opened["Plaintext"]) == b"secret kept behind the proxy"
    assert opened["KeyId"] == key["Arn"]

    # The external key disabled at the proxy: KMS answers KMSInvalidStateException.
    proxy_cmd(proxy["data_dir"], "key", "disable", "--key-id", "key-1", *proxy["backend"], env=proxy["env"])
    err = t.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{sealed}", "--encryption-context", "app=walkthrough", check=False)
    assert err.code == "KMSInvalidStateException"
    proxy_cmd(proxy["data_dir"], "key", "enable", "--key-id", "key-1", *proxy["backend"], env=proxy["env"])

    t.aws("kms", "disconnect-custom-key-store", "--custom-key-store-id", store_id)
    wait_state(t, store_id, "DISCONNECTED")
    err = t.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{sealed}", "--encryption-context", "app=walkthrough", check=False)
    assert err.code == "KMSInvalidStateException"

    delete_key_store_and_its_key(t, store_id, key["KeyId"])
