"""ReplicateKey's permissions as AWS documents them, through the stock aws
CLI with IAM users: kms:ReplicateKey on the primary key and kms:CreateKey
in an IAM policy, both seeing kms:ReplicaRegion.
"""

import json

import pytest

from test_identity import Cli, unique


@pytest.fixture(scope="module")
def t(secure_trent):
    return secure_trent


@pytest.fixture(scope="module")
def aws(t, tmp_path_factory):
    return Cli(t, tmp_path_factory.mktemp("mrk-cli"))


def user_with(aws, who, statements):
    name = unique(who)
    aws("iam", "create-user", "--user-name", name)
    key = aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    aws.configure(name, key["AccessKeyId"], key["SecretAccessKey"])
    doc = {"Version": "2012-10-17", "Statement": statements}
    aws("iam", "put-user-policy", "--user-name", name, "--policy-name", "mrk", "--policy-document", json.dumps(doc))
    return name


def allow(actions, condition=None):
    s = {"Effect": "Allow", "Action": actions, "Resource": "*"}
    if condition:
        s["Condition"] = condition
    return s


def test_replicating_needs_create_key_in_an_iam_policy(t, aws):
    # The default key policy delegates to the account: identity policies decide.
    key_id = aws("kms", "create-key", "--multi-region")["KeyMetadata"]["KeyId"]
    only_replicate = user_with(aws, "nora", [allow(["kms:ReplicateKey", "kms:DescribeKey"])])
    err = aws("kms", "replicate-key", "--key-id", key_id, "--replica-region", "eu-west-1", profile=only_replicate, check=False)
    assert err.code == "AccessDeniedException", err
    assert "kms:CreateKey" in str(err), err
    assert t.aws("kms", "describe-key", "--key-id", key_id, region="eu-west-1", check=False).code == "NotFoundException", "no replica was made"

    both = user_with(aws, "rita", [allow(["kms:ReplicateKey", "kms:CreateKey"], {"StringEquals": {"kms:ReplicaRegion": "eu-west-1"}})])
    assert aws.fails("kms", "replicate-key", "--key-id", key_id, "--replica-region", "ap-south-1", profile=both) == "AccessDeniedException"
    out = aws("kms", "replicate-key", "--key-id", key_id, "--replica-region", "eu-west-1", profile=both)
    assert out["ReplicaKeyMetadata"]["Arn"].startswith("arn:aws:kms:eu-west-1:")
    assert out["ReplicaKeyMetadata"]["KeyState"] == "Creating"
    replica = t.aws("kms", "describe-key", "--key-id", key_id, region="eu-west-1")["KeyMetadata"]
    assert replica["KeyState"] == "Enabled"
    assert replica["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert replica["MultiRegionConfiguration"]["PrimaryKey"]["Region"] == "us-east-1"


def test_the_replica_region_condition_is_checked_on_the_create_key_side_too(t, aws):
    key_id = aws("kms", "create-key", "--multi-region")["KeyMetadata"]["KeyId"]
    # kms:CreateKey only for replicas into eu-west-1.
    user = user_with(aws, "carl", [allow(["kms:ReplicateKey"]), allow(["kms:CreateKey"], {"StringEquals": {"kms:ReplicaRegion": "eu-west-1"}})])
    assert aws.fails("kms", "replicate-key", "--key-id", key_id, "--replica-region", "ap-south-1", profile=user) == "AccessDeniedException"
    aws("kms", "replicate-key", "--key-id", key_id, "--replica-region", "eu-west-1", profile=user)


def test_tags_on_a_new_key_need_tag_resource_in_an_iam_policy(t, aws):
    # AWS: "To use the Tags parameter, kms:TagResource (IAM policy)", for
    # CreateKey and for ReplicateKey; without it nothing is made.
    tags = ["--tags", "TagKey=team,TagValue=red"]
    no_tagging = user_with(aws, "tam", [allow(["kms:CreateKey", "kms:ReplicateKey", "kms:DescribeKey", "kms:ListKeys"])])
    before = {k["KeyId"] for k in aws("kms", "list-keys", profile=no_tagging)["Keys"]}
    err = aws("kms", "create-key", *tags, profile=no_tagging, check=False)
    assert err.code == "AccessDeniedException" and "kms:TagResource" in str(err), err
    assert {k["KeyId"] for k in aws("kms", "list-keys", profile=no_tagging)["Keys"]} == before, "no key was made"
    # Untagged, the same caller makes keys and replicas.
    key_id = aws("kms", "create-key", "--multi-region", profile=no_tagging)["KeyMetadata"]["KeyId"]
    err = aws("kms", "replicate-key", "--key-id", key_id, "--replica-region", "eu-west-1", *tags, profile=no_tagging, check=False)
    assert err.code == "AccessDeniedException" and "kms:TagResource" in str(err), err
    assert t.aws("kms", "describe-key", "--key-id", key_id, region="eu-west-1", check=False).code == "NotFoundException", "no replica was made"
    aws("kms", "replicate-key", "--key-id", key_id, "--replica-region", "eu-west-1", profile=no_tagging)

    # kms:TagResource with a condition on the request's tags decides them.
    tagging = user_with(aws, "tia", [allow(["kms:CreateKey", "kms:ReplicateKey"]), allow(["kms:TagResource"], {"StringEquals": {"aws:RequestTag/team": "red"}})])
    made = aws("kms", "create-key", "--multi-region", *tags, profile=tagging)["KeyMetadata"]["KeyId"]
    assert aws.fails("kms", "create-key", "--tags", "TagKey=team,TagValue=blue", profile=tagging) == "AccessDeniedException"
    out = aws("kms", "replicate-key", "--key-id", made, "--replica-region", "eu-west-1", *tags, profile=tagging)
    assert out["ReplicaTags"] == [{"TagKey": "team", "TagValue": "red"}]
