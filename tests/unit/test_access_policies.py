"""labcore.access and the bucket-policy merge of VersityGW: how the lab reads its own grants back."""

from __future__ import annotations

from labcore.access import dataset_of, trainer_policy
from labcore.settings import load_settings
from labcore.useradmin.versitygw import _kept

SETTINGS = load_settings(environ={"BUCKET": "lab-data", "DATA_PREFIX": "mnist/v2"})


def test_the_dataset_of_a_lab_policy_is_read_back_in_either_shape():
    policy = trainer_policy(SETTINGS)
    assert dataset_of(policy, "lab-data") == "mnist/v2"
    # Stores hand documents back with single values as strings (SeaweedFS's GetUserPolicy).
    resources = ["arn:aws:s3:::lab-data/mnist/v2/*", "arn:aws:s3:::lab-data/mnist/v2-shards/*"]
    assert (
        dataset_of({"Statement": [{"Action": "s3:GetObject", "Resource": resources}]}, "lab-data")
        == "mnist/v2"
    )
    assert dataset_of(policy, "other-bucket") is None
    assert dataset_of({"Statement": [{"Action": "s3:PutObject", "Resource": "arn:aws:s3:::lab-data/x/*"}]}, "lab-data") is None  # fmt: skip


def test_a_bucket_policy_keeps_other_datasets_and_other_principals_but_not_hand_grants_to_the_trainer():
    name = "lab-trainer-lab-data-mnist"
    statements = [
        {"Sid": f"{name}:0", "Principal": {"AWS": ["labtrainer"]}},  # rewritten
        {"Sid": "lab-trainer-lab-data-fashion:2", "Principal": {"AWS": ["labtrainer"]}},  # another dataset
        {"Sid": "ops", "Principal": {"AWS": ["auditor"]}},  # someone else's
        {"Sid": "by-hand", "Principal": {"AWS": "labtrainer"}},  # would undo least privilege
        {"Principal": "*"},
    ]
    kept = [s.get("Sid") for s in statements if _kept(s, name, "labtrainer")]
    assert kept == ["lab-trainer-lab-data-fashion:2", "ops", None]
