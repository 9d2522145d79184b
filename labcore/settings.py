"""One typed settings object, read from the environment and `.env`, validated once at start.

Both conventions of the lab live side by side: the MinIO Python SDK takes ``host:port`` plus a
``secure`` flag (``MINIO_*``), while the S3 Connector for PyTorch and every AWS tool take a URL
with a scheme (``AWS_*``). Mixing the two up is the most common mistake, so both are checked here
and every message names the variable and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values, find_dotenv

from labcore.errors import ConfigError
from labcore.stores import STORES
from labcore.synthetic import parse_size, parse_synthetic

MINIO_VARS = ("MINIO_ENDPOINT", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")
# The admin keys have one pair of names, the server's own. The SDK's earlier names for them still
# win when set, with a note, until an issue removes them.
OLD_ADMIN_NAMES = {"MINIO_ROOT_USER": "MINIO_ACCESS_KEY", "MINIO_ROOT_PASSWORD": "MINIO_SECRET_KEY"}
LOADERS = ("s3iter", "s3prefix", "map", "manual", "shards")
SEED_FORMATS = ("objects", "shards", "both")
SEED_UPLOADS = ("put", "snowball")
# The connector's readers (S3ReaderConstructor): sequential streams an object from its start;
# range asks for byte ranges as they are read.
CONNECTOR_READERS = ("sequential", "range")
S3_VARS = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_HOST_PORT_RE = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+)(:(\d{1,5}))?$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def default_cache_dir() -> str:
    """Where downloaded MNIST files are kept when ``MNIST_CACHE_DIR`` is not set."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "minio-torch-lab" / "mnist")


@dataclass(frozen=True)
class Settings:
    """Every knob of the lab. Field names are the lower-cased environment variables."""

    # The S3 server (labcore.stores): minio, seaweedfs, versitygw or garage.
    store: str = "minio"
    bucket: str = "lab-data"
    data_prefix: str = "mnist"
    minio_endpoint: str = ""
    # The admin keys (MINIO_ROOT_USER / MINIO_ROOT_PASSWORD), and the two names they came from.
    minio_access_key: str = ""
    minio_secret_key: str = field(default="", repr=False)
    admin_key_vars: tuple[str, str] = ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")
    minio_secure: bool = False
    aws_endpoint_url: str = ""
    aws_region: str = "us-east-1"
    aws_access_key_id: str = ""
    aws_secret_access_key: str = field(default="", repr=False)
    # Garage's admin API (its keys and grants), where the seeder makes the trainer's key; the URL
    # defaults to port 3903 on MINIO_ENDPOINT's host.
    store_admin_url: str = ""
    store_admin_token: str = field(default="", repr=False)
    seed_source: str = "mnist"
    seed_limit: int | None = None
    seed_workers: int = 16
    mnist_cache_dir: str = field(default_factory=default_cache_dir)
    mnist_mirrors: tuple[str, ...] = ()
    seed_format: str = "objects"
    # How one-PNG-per-object seeding uploads: one PUT per object, or MinIO snowball tars that the
    # server extracts into the same objects (MinIO only).
    seed_upload: str = "put"
    shard_size: int = 1000
    # A shard closes at SHARD_SIZE samples or this many bytes, whichever comes first: 1 MB objects
    # make 64 MB shards, not 1 GB ones.
    shard_bytes: int = 64 << 20
    loader: str = "s3iter"
    num_workers: int = 2
    batch_size: int = 64
    epochs: int = 2
    shuffle_buffer: int = 8192
    # GETs in flight per DataLoader worker for s3iter and manual (1: one at a time, as the connector).
    read_ahead: int = 8
    # The S3 connector's reader (sequential or range) and its client's part size: the size of the
    # ranged GETs it splits a large object into.
    connector_reader: str = "sequential"
    connector_part_size: int = 8 << 20
    seed: int = 0
    checkpoint_every: int = 500
    resume: bool = False
    lr: float = 1e-3
    run_id: str | None = None
    # Lets a key id shaped like AWS's (AKIA..., ASIA...) become the lab's trainer user.
    allow_aws_key_ids: bool = False
    # Lets the seeder make an existing account that is not the lab's (other policies, groups) the
    # trainer's: its secret is reset and everything the lab did not give it is taken away.
    adopt_trainer_account: bool = False
    # Seconds a rank waits in a collective before giving up on a lost peer (gloo's default is 30 min).
    dist_timeout: int = 60
    # Seconds the trainer waits for the next batch before it stops.
    data_timeout: int = 30
    # Seconds each checkpoint PUT or GET, and each of the run's final outputs, may take (at least
    # DATA_TIMEOUT): writes wait for quorum after a node is lost (trainer.deadlines).
    checkpoint_timeout: int = 90
    # One line each for an old variable name that was read (labcore.cli prints them).
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def minio_url(self) -> str:
        """The MinIO endpoint as a URL, for messages."""
        return f"{'https' if self.minio_secure else 'http'}://{self.minio_endpoint}"


def read_environment(env_file: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Merge ``.env`` (or ``env_file``) under the process environment; the environment wins.

    ``.env`` holds the lab's defaults and the process environment is how a user overrides them
    without editing a tracked file (``SEED_LIMIT=100 make up``).
    """
    if env_file is not None:
        path = Path(env_file)
        if not path.is_file():
            raise ConfigError(f"env file {path} does not exist: pass an existing file to --env-file")
    else:
        found = find_dotenv(usecwd=True)
        path = Path(found) if found else None
    values: dict[str, str] = {}
    if path is not None:
        # .env.local (untracked) beside .env holds a user's own values without editing .env.
        for candidate in (path, path.with_name(path.name + ".local")):
            if candidate.is_file():
                values.update({k: v for k, v in dotenv_values(candidate).items() if v is not None})
    values.update(os.environ)
    return values


def load_settings(
    env_file: str | os.PathLike[str] | None = None,
    *,
    require: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Build and validate :class:`Settings`.

    ``require`` names the variables this command cannot run without (see ``MINIO_VARS`` and
    ``S3_VARS``); every variable that is set is checked for form whether required or not.
    ``environ`` replaces the environment and ``.env`` entirely (tests). ``overrides`` maps
    variable names to command-line values (``None``: not given); they win over everything and go
    through the same checks, so ``--epochs 0`` and ``EPOCHS=0`` fail with the same message.
    """
    env = dict(environ) if environ is not None else read_environment(env_file)
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        env[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)

    # An old name that is set stands in for the new one, everywhere it is read.
    named = {new: old for new, old in OLD_ADMIN_NAMES.items() if (env.get(old) or "").strip()}

    def get(name: str) -> str | None:
        value = env.get(named.get(name, name))
        return value.strip() if value is not None else None

    for name in require:
        if not get(name):
            raise ConfigError(f"{name} is not set: add it to .env or export it (docs/configuration.md)")
    kwargs = {
        **_store_settings(get, lambda name: named.get(name, name)),
        **_seed_settings(get),
        **_train_settings(get),
        **_connector_settings(get),
    }
    users = tuple(named.get(name, name) for name in OLD_ADMIN_NAMES)
    notes = tuple(f"{old} is an old name, kept for now: use {new}" for new, old in named.items())
    return Settings(**kwargs, admin_key_vars=users, notes=notes)  # type: ignore[arg-type]


Getter = Callable[[str], "str | None"]


def _store_settings(get: Getter, read_as: Callable[[str], str]) -> dict[str, object]:
    """Bucket, prefix, and both endpoint conventions with their credentials.

    ``read_as`` gives the variable a name was read from (an old admin name, when that was set),
    so a message names what the user typed.
    """
    defaults = Settings()
    kwargs: dict[str, object] = {}

    bucket = get("BUCKET") or defaults.bucket
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise ConfigError(
            f"BUCKET={bucket!r} is not a valid bucket name: use 3-63 lowercase letters, digits, "
            "'-' or '.', e.g. BUCKET=lab-data"
        )
    kwargs["bucket"] = bucket

    prefix = (get("DATA_PREFIX") or defaults.data_prefix).strip("/")
    if not _PREFIX_RE.match(prefix):
        raise ConfigError(
            f"DATA_PREFIX={prefix!r} is not a plain key prefix: use letters, digits, '.', '_', '-' "
            "and '/', e.g. DATA_PREFIX=mnist"
        )
    if prefix.split("/")[0] in ("checkpoints", "runs"):
        raise ConfigError(
            f"DATA_PREFIX={prefix!r} is inside {prefix.split('/')[0]}/, where the trainer writes: the "
            "dataset would be writable; choose another, e.g. DATA_PREFIX=mnist"
        )
    kwargs["data_prefix"] = prefix
    for name, key in (
        ("LAB_ALLOW_AWS_KEY_IDS", "allow_aws_key_ids"),
        ("LAB_ADOPT_TRAINER_ACCOUNT", "adopt_trainer_account"),
    ):
        flag = get(name)
        if flag is not None:
            kwargs[key] = _parse_bool(name, flag)

    endpoint = get("MINIO_ENDPOINT")
    if endpoint:
        kwargs["minio_endpoint"] = _check_host_port(endpoint)
    secure = get("MINIO_SECURE")
    if secure is not None:
        kwargs["minio_secure"] = _parse_bool("MINIO_SECURE", secure)

    url = get("AWS_ENDPOINT_URL")
    if url:
        kwargs["aws_endpoint_url"] = _check_url(url)
    region = get("AWS_REGION")
    if region:
        if not re.match(r"^[a-z0-9-]+$", region):
            raise ConfigError(f"AWS_REGION={region!r} is not a region name: set AWS_REGION=us-east-1")
        kwargs["aws_region"] = region

    for name, key in (
        ("MINIO_ROOT_USER", "minio_access_key"),
        ("MINIO_ROOT_PASSWORD", "minio_secret_key"),
        ("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
        ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
    ):
        value = get(name)
        if value:
            kwargs[key] = value
    admin_url = get("STORE_ADMIN_URL")
    if admin_url:
        kwargs["store_admin_url"] = _check_url(admin_url, name="STORE_ADMIN_URL")
    token = get("STORE_ADMIN_TOKEN")
    if token:
        kwargs["store_admin_token"] = token
    kwargs.update(_store_choice(get, kwargs, read_as))
    return kwargs


def _store_choice(get: Getter, keys: dict[str, object], read_as: Callable[[str], str]) -> dict[str, object]:
    """STORE, its key-id rule, and the trainer's keys where the store gives it no user of its own."""
    name = get("STORE") or "minio"
    if name not in STORES:
        raise ConfigError(f"STORE={name!r} is not a store the lab runs: use one of {', '.join(STORES)}")
    store = STORES[name]
    chosen: dict[str, object] = {"store": name}
    if store.key_id_binds_admin:  # elsewhere the store's backend checks the trainer's key id alone
        for var, key in (("MINIO_ROOT_USER", "minio_access_key"), ("AWS_ACCESS_KEY_ID", "aws_access_key_id")):
            value = keys.get(key)
            if value and not store.takes_key_id(str(value)):
                raise ConfigError(
                    f"{read_as(var)}={value!r} is not a {store.title} key id: use {store.key_id_hint}"
                )
    if (
        not store.confines(str(keys.get("store_admin_token", "")))
        and keys.get("minio_access_key")
        and keys.get("minio_secret_key")
    ):
        # No trainer user can be made there: the trainer gets the admin keys (the seeder says so).
        chosen["aws_access_key_id"] = keys["minio_access_key"]
        chosen["aws_secret_access_key"] = keys["minio_secret_key"]
    return chosen


def _seed_settings(get: Getter) -> dict[str, object]:
    """What the seeder reads: source, limit, parallelism, format, upload mode."""
    kwargs: dict[str, object] = {}
    source = get("SEED_SOURCE")
    if source:
        parse_synthetic(source)  # a malformed synthetic:... spec is one line here, before any work
        kwargs["seed_source"] = source
    kwargs["seed_limit"] = _parse_int("SEED_LIMIT", get("SEED_LIMIT"), minimum=1, optional=True)
    for name in ("SEED_WORKERS", "SHARD_SIZE"):
        number = _parse_int(name, get(name), minimum=1)
        if number is not None:
            kwargs[name.lower()] = number
    shard_bytes = _parse_size("SHARD_BYTES", get("SHARD_BYTES"), minimum=1, example="64MB")
    if shard_bytes is not None:
        kwargs["shard_bytes"] = shard_bytes
    cache = get("MNIST_CACHE_DIR")
    if cache:
        kwargs["mnist_cache_dir"] = cache
    mirrors = get("MNIST_MIRRORS")
    if mirrors:
        kwargs["mnist_mirrors"] = tuple(_check_url(m, name="MNIST_MIRRORS") for m in mirrors.split(","))

    seed_format = get("SEED_FORMAT")
    if seed_format:
        if seed_format not in SEED_FORMATS:
            raise ConfigError(
                f"SEED_FORMAT={seed_format!r} is not one of {', '.join(SEED_FORMATS)}: e.g. SEED_FORMAT=both"
            )
        kwargs["seed_format"] = seed_format

    seed_upload = get("SEED_UPLOAD")
    if seed_upload:
        if seed_upload not in SEED_UPLOADS:
            raise ConfigError(
                f"SEED_UPLOAD={seed_upload!r} is not one of {', '.join(SEED_UPLOADS)}: "
                "e.g. SEED_UPLOAD=put (snowball needs MinIO)"
            )
        kwargs["seed_upload"] = seed_upload
    return kwargs


def _train_settings(get: Getter) -> dict[str, object]:
    """What the trainer reads: loader, batches, epochs, order, checkpoints, ranks."""
    kwargs: dict[str, object] = {}
    resume = get("RESUME")
    if resume is not None:
        kwargs["resume"] = _parse_bool("RESUME", resume)
    run_id = get("RUN_ID")
    if run_id:
        if not _RUN_ID_RE.match(run_id) or ".." in run_id:
            raise ConfigError(
                f"RUN_ID={run_id!r} is not a run name: use up to 64 letters, digits, '.', '_' or '-' "
                "(no '/', no '..'), e.g. RUN_ID=mnist-1"
            )
        kwargs["run_id"] = run_id
    loader = get("LOADER")
    if loader:
        if loader not in LOADERS:
            raise ConfigError(f"LOADER={loader!r} is not one of {', '.join(LOADERS)}: e.g. LOADER=s3iter")
        kwargs["loader"] = loader
    for name, minimum in (
        ("NUM_WORKERS", 0),
        ("BATCH_SIZE", 1),
        ("EPOCHS", 1),
        ("SHUFFLE_BUFFER", 0),
        ("READ_AHEAD", 1),
        ("SEED", 0),
        ("CHECKPOINT_EVERY", 0),
        ("DIST_TIMEOUT", 1),
        ("DATA_TIMEOUT", 1),
        ("CHECKPOINT_TIMEOUT", 1),
    ):
        number = _parse_int(name, get(name), minimum=minimum)
        if number is not None:
            kwargs[name.lower()] = number
    lr = get("LR")
    if lr:
        try:
            kwargs["lr"] = float(lr)
        except ValueError:
            raise ConfigError(f"LR={lr!r} is not a number: e.g. LR=0.001") from None
        if not 0 < kwargs["lr"] < 10:  # type: ignore[operator]
            raise ConfigError(f"LR={lr} is out of range: use a learning rate above 0, e.g. LR=0.001")
    return kwargs


def _connector_settings(get: Getter) -> dict[str, object]:
    """How the S3 connector reads objects: its reader and its client's part size."""
    kwargs: dict[str, object] = {}
    reader = get("CONNECTOR_READER")
    if reader:
        if reader not in CONNECTOR_READERS:
            raise ConfigError(
                f"CONNECTOR_READER={reader!r} is not one of {', '.join(CONNECTOR_READERS)}: e.g. "
                "CONNECTOR_READER=sequential"
            )
        kwargs["connector_reader"] = reader
    # The connector's own bounds: S3's 5 MiB minimum part, its 5 GiB maximum.
    part_size = _parse_size("CONNECTOR_PART_SIZE", get("CONNECTOR_PART_SIZE"), minimum=5 << 20, example="8MB")
    if part_size is not None:
        if part_size > 5 << 30:
            raise ConfigError(f"CONNECTOR_PART_SIZE={part_size} is too large: at most 5 GiB (5120MB)")
        kwargs["connector_part_size"] = part_size
    return kwargs


def _parse_size(name: str, value: str | None, *, minimum: int, example: str) -> int | None:
    """Bytes of a size setting (``64MB``), ``None`` when unset; one line for anything else."""
    if not value:
        return None
    try:
        size = parse_size(value)
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r}: {exc}, e.g. {name}={example}") from None
    if size < minimum:
        raise ConfigError(f"{name}={value!r} is too small: it must be at least {minimum} bytes")
    return size


def _check_host_port(value: str) -> str:
    if "://" in value:
        bare = value.split("://", 1)[1].rstrip("/")
        raise ConfigError(
            f"MINIO_ENDPOINT={value!r} must be host:port without a scheme (the MinIO SDK takes "
            f"http/https from MINIO_SECURE): set MINIO_ENDPOINT={bare}"
        )
    match = _HOST_PORT_RE.match(value)
    if not match or (match.group(3) and not 0 < int(match.group(3)) < 65536):
        raise ConfigError(
            f"MINIO_ENDPOINT={value!r} is not host:port (no path, no spaces): "
            "e.g. MINIO_ENDPOINT=127.0.0.1:9000"
        )
    return value


def _check_url(value: str, name: str = "AWS_ENDPOINT_URL") -> str:
    value = value.strip()
    if not re.match(r"^https?://", value):
        raise ConfigError(
            f"{name}={value!r} needs a scheme (the S3 connector takes a URL): "
            f"set {name}=http://{value.split('://')[-1]}"
        )
    if not re.match(r"^https?://[^/\s:]+(:\d{1,5})?(/\S*)?$", value):
        raise ConfigError(f"{name}={value!r} is not a URL: e.g. {name}=http://127.0.0.1:9000")
    return value.rstrip("/") if name == "AWS_ENDPOINT_URL" else value


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not true or false: set {name}=false (or true)")


def _parse_int(name: str, value: str | None, *, minimum: int, optional: bool = False) -> int | None:
    if value is None or value == "":
        return None
    if optional and value.lower() in {"all", "none"}:
        return None
    try:
        number = int(value)
    except ValueError:
        hint = " or leave it empty for no limit" if optional else ""
        raise ConfigError(
            f"{name}={value!r} is not a whole number: e.g. {name}={max(minimum, 100)}{hint}"
        ) from None
    if number < minimum:
        raise ConfigError(f"{name}={number} is too small: it must be at least {minimum}")
    return number
