"""Request quotas (`trent serve --throttle on`): a request over its quota is
AWS's ThrottlingException, which boto3's own retry logic retries with
backoff until it gets through (docs/throttling.md)."""

import time

import botocore.config
import botocore.exceptions
import pytest


def client(t, **retries):
    config = botocore.config.Config(retries=retries, connect_timeout=5, read_timeout=30)
    return t.boto3_client(config=config)


def test_over_the_quota_is_throttling_exception_and_boto3_retries_it(new_trent):
    t = new_trent(args=["--throttle", "on", "--quota", "CreateKey=2", "--quota", "DescribeKey=1000"])
    no_retry = client(t, total_max_attempts=1)
    no_retry.create_key()
    no_retry.create_key()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        no_retry.create_key()
    err = e.value.response
    assert err["Error"]["Code"] == "ThrottlingException"
    assert err["Error"]["Message"] == "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Another quota class is not affected.
    key_id = no_retry.list_keys()["Keys"][0]["KeyId"]
    no_retry.describe_key(KeyId=key_id)

    # boto3's standard retry mode treats it as throttling: it backs off and
    # retries, and the calls get through at the quota's rate.
    retrying = client(t, mode="standard", total_max_attempts=10)
    retried = 0
    started = time.monotonic()
    for _ in range(4):
        out = retrying.create_key()
        retried += out["ResponseMetadata"]["RetryAttempts"]
    assert retried > 0, "boto3 saw no throttling to retry"
    assert time.monotonic() - started >= 1.0, "four CreateKey at 2/s take over a second"


def test_throttling_is_off_unless_asked(new_trent):
    t = new_trent(args=["--quota", "CreateKey=1"])
    c = client(t, total_max_attempts=1)
    for _ in range(5):
        c.create_key()
