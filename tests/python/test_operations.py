"""Operator endpoints and logs, end to end: /metrics read by Prometheus's
own text parser (prometheus_client), and the operational log as JSON."""

import json
import urllib.request

import boto3
import botocore
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import kms_error


def get(endpoint, path):
    with urllib.request.urlopen(endpoint + path, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def scrape(endpoint):
    status, content_type, text = get(endpoint, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(families, family, name, **labels):
    for s in families[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


def test_metrics_count_requests_by_operation_and_outcome(new_trent):
    t = new_trent()
    kms = t.boto3_client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(5):
        kms.encrypt(KeyId=key_id, Plaintext=b"hello")
    kms_error(kms.decrypt, CiphertextBlob=b"\x01" * 40)
    # A principal without any permission: a denial.
    iam = boto3.session.Session(aws_access_key_id=t.keys()[0], aws_secret_access_key=t.keys()[1], region_name="us-east-1").client(
        "iam", endpoint_url=t.endpoint, config=botocore.config.Config(retries={"total_max_attempts": 1})
    )
    iam.create_user(UserName="nobody")
    new_key = iam.create_access_key(UserName="nobody")["AccessKey"]
    nobody = t.boto3_client(access_key=new_key["AccessKeyId"], secret_key=new_key["SecretAccessKey"])
    assert kms_error(nobody.encrypt, KeyId=key_id, Plaintext=b"x")[0] == "AccessDeniedException"

    families = scrape(t.endpoint)
    assert families["trent_requests"].type == "counter"
    ok = dict(family="trent_requests", name="trent_requests_total", service="kms")
    assert value(families, **ok, operation="Encrypt", outcome="ok") == 5
    assert value(families, **ok, operation="Encrypt", outcome="denied") == 1
    assert value(families, **ok, operation="Decrypt", outcome="client_error") == 1
    assert value(families, **ok, operation="CreateKey", outcome="ok") == 1
    assert value(families, "trent_requests", "trent_requests_total", service="iam", outcome="ok") == 2

    # The latency histogram: cumulative buckets ending in +Inf == count.
    hist = families["trent_request_duration_seconds"]
    assert hist.type == "histogram"
    buckets = [(float(s.labels["le"]), s.value) for s in hist.samples if s.name.endswith("_bucket") and s.labels["operation"] == "Encrypt"]
    assert buckets == sorted(buckets) and buckets[-1][0] == float("inf")
    counts = [c for _, c in buckets]
    assert counts == sorted(counts), "buckets are cumulative"
    assert counts[-1] == 6 == value(families, "trent_request_duration_seconds", "trent_request_duration_seconds_count", operation="Encrypt")
    assert value(families, "trent_request_duration_seconds", "trent_request_duration_seconds_sum", operation="Encrypt") > 0

    # The rest of what an operator watches.
    assert families["trent_audit_failing"].type == "gauge"
    assert value(families, "trent_audit_failing", "trent_audit_failing") == 0
    assert "trent_audit_owed_events" in families and "trent_audit_failures" in families
    assert value(families, "trent_store_errors", "trent_store_errors_total") == 0
    assert value(families, "trent_read_cache_lookups", "trent_read_cache_lookups_total", result="hit") > 0
    assert 0 < value(families, "trent_read_cache_hit_ratio", "trent_read_cache_hit_ratio") <= 1
    assert value(families, "trent_background_runs", "trent_background_runs_total", job="deletion", result="ok") >= 1

    # Nothing in it names a key, an account or a principal.
    _, _, text = get(t.endpoint, "/metrics")
    for secret in [key_id, t.keys()[0], new_key["AccessKeyId"], "arn:aws"]:
        assert secret not in text


def test_health_and_metrics_are_neither_authenticated_nor_audited(new_trent):
    t = new_trent()
    t.boto3_client().list_keys()
    before = audit_lines(t)
    for _ in range(3):
        assert get(t.endpoint, "/health")[0] == 200
        scrape(t.endpoint)
    assert audit_lines(t) == before


def audit_lines(t):
    import glob
    import os

    return sum(open(p).read().count('"recordType":"event"') for p in glob.glob(os.path.join(t.data_dir, "audit", "audit-*.jsonl")))


def test_log_format_json_writes_one_json_object_per_line(new_trent):
    t = new_trent(args=["--log-format", "json"])
    t.boto3_client().list_keys()
    t.stop()
    lines = open(t.stderr_path, encoding="utf-8").read().splitlines()
    assert lines, "the server logged nothing"
    records = [json.loads(line) for line in lines]  # every line parses
    listening = [r for r in records if r.get("message") == "listening"]
    assert len(listening) == 1, records
    assert t.endpoint.endswith(listening[0]["address"])
    assert all({"timestamp", "level", "message"} <= r.keys() for r in records)
