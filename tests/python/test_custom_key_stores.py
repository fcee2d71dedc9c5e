"""AWS's CloudHSM key store walkthrough with the stock aws CLI, against a
SoftHSM2 token registered with `trent hsm register` (docs/custom-key-stores.md
shows the same commands). SoftHSM2 comes from scripts/lib/softhsm.sh; without
it the test skips, unless TRENT_REQUIRE_SOFTHSM=1 (scripts/test), where it fails.
"""

import base64
import os
import subprocess

import pytest

from conftest import delete_key_store_and_its_key, softhsm_token, trent_bin, wait_key_store_state as wait_state

CLUSTER = "cluster-jgmxu3u6z2b"
PIN = "kmsuser-password"


@pytest.fixture
def token(tmp_path, monkeypatch):
    module, conf = softhsm_token(tmp_path, "kms-cluster", PIN)
    # The server started below inherits it; nothing else in this process reads it.
    monkeypatch.setenv("SOFTHSM2_CONF", conf)
    return module


def test_the_cloudhsm_key_store_walkthrough_with_the_aws_cli(new_trent, token, tmp_path):
    t = new_trent()
    subprocess.run(
        [trent_bin(), "hsm", "register", "--data-dir", t.data_dir, "--cluster-id", CLUSTER, "--module", token, "--token-label", "kms-cluster"],
        check=True, capture_output=True,
    )
    listed = subprocess.run([trent_bin(), "hsm", "list", "--data-dir", t.data_dir], check=True, capture_output=True, text=True).stdout
    assert CLUSTER in listed
    anchor = os.path.join(t.data_dir, "hsm", CLUSTER, "customerCA.crt")

    created = t.aws(
        "kms", "create-custom-key-store",
        "--custom-key-store-name", "ExampleKeyStore",
        "--cloud-hsm-cluster-id", CLUSTER,
        "--key-store-password", PIN,
        "--trust-anchor-certificate", f"file://{anchor}",
    )
    store_id = created["CustomKeyStoreId"]
    assert store_id.startswith("cks-")

    entry = t.aws("kms", "describe-custom-key-stores", "--custom-key-store-name", "ExampleKeyStore")["CustomKeyStores"][0]
    assert entry["ConnectionState"] == "DISCONNECTED"
    assert entry["CustomKeyStoreType"] == "AWS_CLOUDHSM"
    assert entry["CloudHsmClusterId"] == CLUSTER
    assert "KeyStorePassword" not in entry

    t.aws("kms", "connect-custom-key-store", "--custom-key-store-id", store_id)
    wait_state(t, store_id, "CONNECTED")

    key = t.aws("kms", "create-key", "--origin", "AWS_CLOUDHSM", "--custom-key-store-id", store_id, "--description", "in the HSM")["KeyMetadata"]
    assert key["Origin"] == "AWS_CLOUDHSM"
    assert key["CustomKeyStoreId"] == store_id
    described = t.aws("kms", "describe-key", "--key-id", key["KeyId"])["KeyMetadata"]
    assert described["CloudHsmClusterId"] == CLUSTER

    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"secret kept by the token")
    blob = t.aws("kms", "encrypt", "--key-id", key["KeyId"], "--plaintext", f"fileb://{plain}", "--encryption-context", "app=walkthrough")["CiphertextBlob"]
    sealed = tmp_path / "sealed.bin"
    sealed.write_bytes(base64.b64decode(blob))
    opened = t.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{sealed}", "--encryption-context", "app=walkthrough")
    assert base64.b64decode(opened["Plaintext"]) == b"secret kept by the token"
    assert opened["KeyId"] == key["Arn"]

    # boto3 sees the same key store.
    kms = t.boto3_client()
    assert kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]["ConnectionState"] == "CONNECTED"
    assert len(kms.generate_random(NumberOfBytes=16, CustomKeyStoreId=store_id)["Plaintext"]) == 16

    t.aws("kms", "disconnect-custom-key-store", "--custom-key-store-id", store_id)
    wait_state(t, store_id, "DISCONNECTED")
    assert t.aws("kms", "describe-key", "--key-id", key["KeyId"])["KeyMetadata"]["KeyState"] == "Unavailable"
    err = t.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{sealed}", "--encryption-context", "app=walkthrough", check=False)
    assert err.code == "KMSInvalidStateException"

    t.aws("kms", "update-custom-key-store", "--custom-key-store-id", store_id, "--new-custom-key-store-name", "DevelopmentKeys")
    delete_key_store_and_its_key(t, store_id, key["KeyId"])
