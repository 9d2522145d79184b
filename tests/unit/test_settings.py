import pytest

from labcore.errors import ConfigError
from labcore.settings import MINIO_VARS, S3_VARS, load_settings, read_environment

GOOD = {
    "MINIO_ENDPOINT": "127.0.0.1:9000",
    "MINIO_ROOT_USER": "lab",
    "MINIO_ROOT_PASSWORD": "secret-123",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9000/",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "lab",
    "AWS_SECRET_ACCESS_KEY": "secret-123",
}


def settings(**overrides):
    return load_settings(environ={**GOOD, **overrides}, require=MINIO_VARS + S3_VARS)


def test_defaults_and_parsing():
    s = settings(MINIO_SECURE="TRUE", SEED_LIMIT="250", SEED_WORKERS="4", LOADER="shards", NUM_WORKERS="0")
    assert (s.loader, s.num_workers, s.epochs, s.seed_format, s.shard_size) == (
        "shards",
        0,
        2,
        "objects",
        1000,
    )
    assert s.bucket == "lab-data" and s.data_prefix == "mnist"
    assert s.minio_secure is True and s.minio_url == "https://127.0.0.1:9000"
    assert s.aws_endpoint_url == "http://127.0.0.1:9000"
    assert (s.seed_limit, s.seed_workers) == (250, 4)
    assert settings(SEED_LIMIT="").seed_limit is None


def test_secret_is_not_in_repr():
    assert "secret-123" not in repr(settings())


@pytest.mark.parametrize(
    "name,value,message",
    [
        (
            "MINIO_ENDPOINT",
            "http://minio:9000",
            r"MINIO_ENDPOINT='http://minio:9000' must be host:port without a scheme.*set MINIO_ENDPOINT=minio:9000",
        ),
        ("MINIO_ENDPOINT", "minio:9000/path", "MINIO_ENDPOINT='minio:9000/path' is not host:port"),
        ("MINIO_ENDPOINT", "minio:99999", "is not host:port"),
        (
            "AWS_ENDPOINT_URL",
            "127.0.0.1:9000",
            r"AWS_ENDPOINT_URL='127.0.0.1:9000' needs a scheme.*set AWS_ENDPOINT_URL=http://127.0.0.1:9000",
        ),
        ("AWS_ENDPOINT_URL", "ftp://host", "needs a scheme"),
        ("MINIO_SECURE", "maybe", "MINIO_SECURE='maybe' is not true or false"),
        ("SEED_LIMIT", "ten", "SEED_LIMIT='ten' is not a whole number"),
        ("SEED_LIMIT", "0", "SEED_LIMIT=0 is too small"),
        ("SEED_WORKERS", "-2", "SEED_WORKERS=-2 is too small"),
        ("BUCKET", "My_Bucket", "BUCKET='My_Bucket' is not a valid bucket name"),
        ("BUCKET", "ab", "is not a valid bucket name"),
        ("DATA_PREFIX", "bad prefix", "DATA_PREFIX='bad prefix' is not a plain key prefix"),
        ("AWS_REGION", "US East", "AWS_REGION='US East' is not a region name"),
        ("SEED_FORMAT", "zip", "SEED_FORMAT='zip' is not one of objects, shards, both"),
        ("SHARD_SIZE", "0", "SHARD_SIZE=0 is too small"),
        ("NUM_WORKERS", "two", "NUM_WORKERS='two' is not a whole number"),
        ("EPOCHS", "0", "EPOCHS=0 is too small"),
        ("READ_AHEAD", "0", "READ_AHEAD=0 is too small"),
        ("LOADER", "fast", "LOADER='fast' is not one of s3iter, s3prefix, map, manual, shards"),
        ("MNIST_MIRRORS", "mirror.example/mnist", "MNIST_MIRRORS='mirror.example/mnist' needs a scheme"),
    ],
)
def test_mistakes_name_the_variable_and_the_fix(name, value, message):
    with pytest.raises(ConfigError, match=message):
        settings(**{name: value})


def test_required_variables():
    env = dict(GOOD)
    del env["MINIO_ROOT_USER"]
    with pytest.raises(ConfigError, match="MINIO_ROOT_USER is not set"):
        load_settings(environ=env, require=MINIO_VARS)
    # What a command does not need may be missing.
    assert load_settings(environ={}, require=()).minio_endpoint == ""


def test_environment_wins_over_env_files(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("BUCKET=from-dotenv\nDATA_PREFIX=from-dotenv\nSEED_LIMIT=5\n")
    (tmp_path / ".env.local").write_text("DATA_PREFIX=from-local\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEED_LIMIT", "7")
    monkeypatch.delenv("BUCKET", raising=False)
    monkeypatch.delenv("DATA_PREFIX", raising=False)
    env = read_environment()
    assert (env["BUCKET"], env["DATA_PREFIX"], env["SEED_LIMIT"]) == ("from-dotenv", "from-local", "7")


def test_missing_env_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_environment(tmp_path / "nope.env")


@pytest.mark.parametrize("prefix", ["runs", "checkpoints", "runs/mnist", "checkpoints/x/y"])
def test_a_dataset_prefix_where_the_trainer_writes_is_refused(prefix):
    with pytest.raises(
        ConfigError, match=rf"DATA_PREFIX='{prefix}' is inside .*the dataset would be writable"
    ):
        settings(DATA_PREFIX=prefix)


def test_the_admin_client_has_the_short_timeouts_of_the_others():
    """MinIO's admin API gets the same pool as the S3 clients: a hung server is an error in seconds."""
    from labcore.clients import CONNECT_TIMEOUT, READ_TIMEOUT
    from labcore.useradmin.minio import MinioUserAdmin

    admin = MinioUserAdmin(settings()).admin
    timeout = admin._http.connection_pool_kw["timeout"]
    assert (timeout.connect_timeout, timeout.read_timeout) == (CONNECT_TIMEOUT, READ_TIMEOUT)


def test_the_admin_keys_have_one_pair_of_names_and_the_old_ones_still_win_with_a_note():
    new = settings()
    assert (new.minio_access_key, new.minio_secret_key, new.notes) == ("lab", "secret-123", ())
    assert new.admin_key_vars == ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")
    # An .env.local from before, with the SDK's old names: they are what it meant, and said once.
    old = settings(MINIO_ACCESS_KEY="old-admin", MINIO_SECRET_KEY="old-secret")
    assert (old.minio_access_key, old.minio_secret_key) == ("old-admin", "old-secret")
    assert old.admin_key_vars == ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")
    assert old.notes == (
        "MINIO_ACCESS_KEY is an old name, kept for now: use MINIO_ROOT_USER",
        "MINIO_SECRET_KEY is an old name, kept for now: use MINIO_ROOT_PASSWORD",
    )
    only_old = {k: v for k, v in GOOD.items() if not k.startswith("MINIO_ROOT")}
    kept = load_settings(
        environ={**only_old, "MINIO_ACCESS_KEY": "a", "MINIO_SECRET_KEY": "b"}, require=MINIO_VARS
    )
    assert (kept.minio_access_key, kept.minio_secret_key) == ("a", "b")
