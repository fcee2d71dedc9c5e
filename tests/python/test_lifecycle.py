"""Scheduled deletion really destroys keys (the server restarted "days
later" with --clock-offset-secs), and keys stay inside their account."""

import time

from conftest import kms_error

DAY = 24 * 3600


def clients(t):
    return t.boto3_client(access_key="test", secret_key="test")


def listed_keys(kms):
    return [k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]]


def listed_aliases(kms):
    return {a["AliasName"]: a["TargetKeyId"] for a in kms.list_aliases(Limit=1000)["Aliases"]}


def test_deletion_after_the_waiting_period(new_trent):
    t = new_trent(dev=True)
    kms = clients(t)
    doomed = kms.create_key(Description="doomed")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=doomed)
    doomed_blob = kms.encrypt(KeyId="alias/doomed", Plaintext=b"gone soon")["CiphertextBlob"]
    saved = kms.create_key(Description="saved")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/saved", TargetKeyId=saved)
    saved_blob = kms.encrypt(KeyId=saved, Plaintext=b"still here", EncryptionContext={"k": "v"})["CiphertextBlob"]
    keeper = kms.create_key(Description="never scheduled")["KeyMetadata"]["KeyId"]
    date = kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)["DeletionDate"]
    kms.schedule_key_deletion(KeyId=saved, PendingWindowInDays=7)

    # Six days later: still pending, still cancellable.
    t.restart(["--clock-offset-secs", str(6 * DAY)])
    kms = clients(t)
    assert {doomed, saved, keeper} <= set(listed_keys(kms))
    m = kms.describe_key(KeyId=doomed)["KeyMetadata"]
    assert (m["KeyState"], m["DeletionDate"]) == ("PendingDeletion", date)
    assert listed_aliases(kms)["alias/doomed"] == doomed
    assert kms_error(kms.decrypt, CiphertextBlob=doomed_blob)[:2] == ("KMSInvalidStateException", 400)
    assert kms.cancel_key_deletion(KeyId=saved)["KeyId"].endswith(saved)
    assert kms.describe_key(KeyId=saved)["KeyMetadata"]["KeyState"] == "Disabled"

    # Eight days later: destroyed at start-up, before any request touches it.
    # (Seen after going back to today's clock: nothing there is due.)
    t.restart(["--clock-offset-secs", str(8 * DAY)])
    t.restart()
    kms = clients(t)
    keys = listed_keys(kms)
    assert doomed not in keys
    assert {saved, keeper} <= set(keys)
    aliases = listed_aliases(kms)
    assert "alias/doomed" not in aliases
    assert aliases["alias/saved"] == saved
    assert kms_error(kms.describe_key, KeyId=doomed)[:2] == ("NotFoundException", 400)
    assert kms_error(kms.describe_key, KeyId="alias/doomed")[:2] == ("NotFoundException", 400)
    # The old ciphertext can never be decrypted again. (AWS: a ciphertext
    # whose key was deleted cannot be decrypted; Trent answers InvalidCiphertextException.)
    assert kms_error(kms.decrypt, CiphertextBlob=doomed_blob)[:2] == ("InvalidCiphertextException", 400)
    assert kms_error(kms.cancel_key_deletion, KeyId=doomed)[:2] == ("NotFoundException", 400)

    # The cancelled one survived, disabled, and works once enabled.
    assert kms.describe_key(KeyId="alias/saved")["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=saved)
    assert kms.decrypt(CiphertextBlob=saved_blob, EncryptionContext={"k": "v"})["Plaintext"] == b"still here"
    assert kms.describe_key(KeyId=keeper)["KeyMetadata"]["KeyState"] == "Enabled"


def test_the_sweeper_destroys_a_due_key_while_running(new_trent):
    t = new_trent(dev=True)
    kms = clients(t)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/swept", TargetKeyId=key)
    date = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)["DeletionDate"].timestamp()
    # Start "3 seconds before" the deletion date, sweeping every second, and
    # send no request (requests that reach a due key destroy it themselves).
    t.restart(["--clock-offset-secs", str(int(date - time.time()) - 3), "--sweep-interval-secs", "1"])
    wait_for_log(t, key, timeout=15)  # the sweeper logs the key it destroys
    # Back on today's clock, where the key is not due: it is gone all the same.
    t.restart()
    kms = clients(t)
    assert key not in listed_keys(kms)
    assert "alias/swept" not in listed_aliases(kms)
    assert kms_error(kms.describe_key, KeyId=key)[:2] == ("NotFoundException", 400)


def wait_for_log(t, text, timeout):
    """Waits until `text` shows in the server's log, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while text not in t.stderr_tail(lines=200) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_keys_stay_in_their_account(new_trent):
    t = new_trent(dev=True)  # account 123456789012
    kms = clients(t)
    meta = kms.create_key(Description="account A")["KeyMetadata"]
    assert meta["AWSAccountId"] == "123456789012"
    kms.create_alias(AliasName="alias/a-only", TargetKeyId=meta["KeyId"])
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"for A")["CiphertextBlob"]

    t.restart(["--dev-account-id", "111122223333"])
    kms = clients(t)
    assert kms.list_keys()["Keys"] == []
    assert kms.list_aliases()["Aliases"] == []
    assert kms_error(kms.decrypt, CiphertextBlob=blob)[:2] == ("AccessDeniedException", 400)  # the key exists; its policy does not allow B
    assert kms_error(kms.describe_key, KeyId=meta["Arn"])[:2] == ("AccessDeniedException", 400)
    assert kms_error(kms.describe_key, KeyId=meta["KeyId"])[:2] == ("NotFoundException", 400)
    assert kms_error(kms.describe_key, KeyId="alias/a-only")[:2] == ("NotFoundException", 400)
    assert kms_error(kms.encrypt, KeyId=meta["Arn"], Plaintext=b"x")[:2] == ("AccessDeniedException", 400)
    assert kms_error(kms.schedule_key_deletion, KeyId=meta["Arn"], PendingWindowInDays=7)[:2] == ("AccessDeniedException", 400)
    # B's alias of the same name is B's own.
    b_key = kms.create_key()["KeyMetadata"]
    assert b_key["AWSAccountId"] == "111122223333"
    kms.create_alias(AliasName="alias/a-only", TargetKeyId=b_key["KeyId"])

    # Back as A: untouched.
    t.restart()
    kms = clients(t)
    assert listed_keys(kms) == [meta["KeyId"]]
    assert listed_aliases(kms) == {"alias/a-only": meta["KeyId"]}
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"for A"
    assert kms.describe_key(KeyId=meta["Arn"])["KeyMetadata"]["KeyState"] == "Enabled"
