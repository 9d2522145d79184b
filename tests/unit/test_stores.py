"""labcore.stores: what differs between S3 servers, and the STORE setting that picks one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labcore.access import trainer_access
from labcore.errors import ConfigError
from labcore.metrics import get_counter
from labcore.settings import Settings, load_settings
from labcore.stores import STORES
from labcore.useradmin import BACKENDS, user_admin

REPO = Path(__file__).resolve().parents[2]
BASE = {
    "MINIO_ROOT_USER": "lab-admin",
    "MINIO_ROOT_PASSWORD": "lab-admin-secret",
    "AWS_ACCESS_KEY_ID": "labtrainer",
    "AWS_SECRET_ACCESS_KEY": "lab-trainer-secret",
}


def test_minio_is_the_default_and_keeps_the_trainer_keys():
    settings = load_settings(environ=BASE)
    assert settings.store == "minio"
    assert settings.aws_access_key_id == "labtrainer"


def test_an_unknown_store_is_one_line_naming_the_choices():
    with pytest.raises(ConfigError, match=r"STORE='ceph' is not a store the lab runs: use one of minio, "):
        load_settings(environ={**BASE, "STORE": "ceph"})


@pytest.mark.parametrize("store", ["seaweedfs", "versitygw"])
def test_stores_that_confine_per_prefix_keep_the_trainer_keys(store):
    settings = load_settings(environ={**BASE, "STORE": store})
    assert STORES[store].confines("") == "prefix"
    assert (settings.aws_access_key_id, settings.aws_secret_access_key) == (
        "labtrainer",
        "lab-trainer-secret",
    )
    assert get_counter(settings) is None  # no request counts there: the bench shows n/a


def test_garage_without_an_admin_token_gives_the_trainer_the_admin_keys_and_says_so():
    settings = load_settings(environ={**BASE, "STORE": "garage"})
    assert (settings.aws_access_key_id, settings.aws_secret_access_key) == ("lab-admin", "lab-admin-secret")
    assert trainer_access(settings).startswith(
        "least privilege unavailable on Garage without STORE_ADMIN_TOKEN: the trainer uses the admin keys"
    )


def test_garage_with_an_admin_token_keeps_the_trainer_keys_for_a_per_bucket_grant():
    settings = load_settings(environ={**BASE, "STORE": "garage", "STORE_ADMIN_TOKEN": "t" * 20})
    assert settings.aws_access_key_id == "labtrainer"
    assert STORES["garage"].confines(settings.store_admin_token) == "bucket"
    assert "t" * 20 not in repr(settings)  # a secret, like the keys


def test_every_store_has_one_user_admin_backend_and_an_unknown_one_fails_in_one_line():
    assert set(BACKENDS) == set(STORES)
    with pytest.raises(
        ConfigError, match=r"^STORE='ceph' has no user admin in labcore.useradmin: use one of minio, "
    ):
        user_admin(Settings(store="ceph"))


def test_seaweedfs_refuses_a_trainer_key_id_it_cannot_take_in_one_line():
    settings = load_settings(environ={**BASE, "STORE": "seaweedfs", "AWS_ACCESS_KEY_ID": "lab-trainer"})
    with pytest.raises(ConfigError, match=r"SeaweedFS takes trainer keys of 4-128 letters and digits"):
        user_admin(settings).check_keys(settings.aws_access_key_id, settings.aws_secret_access_key)


@pytest.mark.parametrize(
    ("store", "taken", "refused"),
    [
        ("minio", ["abc", "a" * 20, "lab-trainer"], ["ab", "a" * 21]),
        ("seaweedfs", ["labtrainer", "a" * 128], ["lab-trainer", "abc", "a" * 129, "labtrainer\n"]),
        ("garage", ["lab-admin", "a.b_c-d1"], ["labtr", "lab admin", "lab-admin\n"]),
        ("versitygw", ["x", "any thing"], []),
    ],
)
def test_each_stores_key_id_rule_is_one_pattern_on_its_record(store, taken, refused):
    assert all(STORES[store].takes_key_id(key) for key in taken)
    assert not any(STORES[store].takes_key_id(key) for key in refused)


def test_minio_refuses_a_trainer_key_id_of_more_than_20_characters_in_one_line():
    settings = load_settings(environ={**BASE, "MINIO_ENDPOINT": "127.0.0.1:9"})
    user_admin(settings).check_keys("a" * 20, "lab-trainer-secret")
    with pytest.raises(
        ConfigError, match=r"^AWS_ACCESS_KEY_ID must be 3-20 characters and AWS_SECRET_ACCESS_KEY"
    ):
        user_admin(settings).check_keys("a" * 21, "lab-trainer-secret")


def test_garage_key_ids_have_their_own_rule():
    short = {**BASE, "MINIO_ROOT_USER": "lab", "STORE": "garage"}
    with pytest.raises(ConfigError, match=r"MINIO_ROOT_USER='lab' is not a Garage key id: use 8 or more"):
        load_settings(environ=short)
    assert load_settings(environ={**BASE, "STORE": "garage"}).store == "garage"


def test_a_refused_key_id_is_named_by_the_variable_it_was_read_from():
    old = {**BASE, "STORE": "garage", "MINIO_ACCESS_KEY": "lab", "MINIO_SECRET_KEY": "lab-secret-1"}
    with pytest.raises(ConfigError, match=r"^MINIO_ACCESS_KEY='lab' is not a Garage key id"):
        load_settings(environ=old)


@pytest.mark.parametrize("store", [s for s in STORES if s != "minio"])
def test_each_other_store_runs_as_the_minio_service_with_its_own_healthcheck_and_volume(store):
    adapter = STORES[store]
    override = yaml.safe_load(
        (REPO / adapter.compose_file).read_text().replace("!reset", "").replace("!override", "")
    )
    server = override["services"]["minio"]
    assert f"/{store}:" in server["image"]
    assert server["healthcheck"]["test"][0] == "CMD"
    assert any(v.startswith(f"{store}-data:") for v in server["volumes"])
    assert override["services"]["trainer"]["environment"]["STORE"] == store
    # The trainer keeps its own keys from .env: the seeder makes its user (labcore.useradmin).
    assert "AWS_ACCESS_KEY_ID" not in override["services"]["trainer"]["environment"]
    assert (REPO / "docker" / "stores" / store / "Dockerfile").is_file()
