"""A real MinIO server per test session, from testcontainers, with the image from MINIO_IMAGE;
buckets seeded on it from small IDX datasets written on the fly."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import pytest
from minio import Minio
from minio.error import S3Error

# Ryuk (testcontainers' reaper) is one more image to pull, which machines without a registry
# cannot do; these fixtures stop their containers themselves.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from testcontainers.community.minio import MinioContainer  # noqa: E402
from testcontainers.core.wait_strategies import HttpWaitStrategy  # noqa: E402

from labcore.clients import minio_client  # noqa: E402
from labcore.layout import sample_key  # noqa: E402
from labcore.manifest import ManifestSplit, parse_manifest  # noqa: E402
from labcore.settings import Settings, load_settings, read_environment  # noqa: E402
from labcore.shards import manifest_key, shards_prefix  # noqa: E402
from labcore.sources import Split, load_split  # noqa: E402
from seeder.upload import SeedReport, seed_shards  # noqa: E402
from seeder.upload import seed as seed_objects  # noqa: E402
from tests.conftest import write_dataset  # noqa: E402

ROOT_USER = "lab-test-admin"
ROOT_PASSWORD = "lab-test-password-123"


class LabMinio(MinioContainer):
    """MinioContainer with root credentials set the current way and the port on loopback only."""

    def __init__(self, image: str, host_port: int | None = None, tls_dir: Path | None = None):
        super().__init__(image=image, access_key=ROOT_USER, secret_key=ROOT_PASSWORD)
        # MINIO_ACCESS_KEY/SECRET_KEY (set by the parent) are the deprecated spelling.
        self.with_env("MINIO_ROOT_USER", ROOT_USER)
        self.with_env("MINIO_ROOT_PASSWORD", ROOT_PASSWORD)
        # As in docker-compose.yml: requests signed for another region are refused.
        self.with_env("MINIO_SITE_REGION", "us-east-1")
        # The data scanner walks every object of every bucket, cycle after cycle (usage, lifecycle,
        # healing): a session's server gathers hundreds of test buckets and no test reads what it
        # finds. 20 buckets of 1,000 objects, idle for 120 s: 7.8 s of CPU at the default speed,
        # 0.15 s at the slowest (this image, a 2-core machine). The lab's Compose MinIO keeps the default.
        self.with_env("MINIO_SCANNER_SPEED", "slowest")
        # A fixed host port survives a container restart (fault tests); None picks a free one.
        self.ports = {self.port: ("127.0.0.1", host_port)}
        if tls_dir is not None:
            # HTTPS as docker/tls/compose.yml serves it: the certificate scripts/make-tls.sh made.
            for name in ("public.crt", "private.key"):
                self.with_volume_mapping(str(tls_dir / name), f"/certs/{name}", "ro")
            self.with_command(f"server /data --address :{self.port} --certs-dir /certs")
            # Only waits for the port to answer; what the tests do over it checks the certificate.
            self.waiting_for(HttpWaitStrategy(self.port, "/minio/health/live").using_tls(insecure=True))

    def get_container_host_ip(self) -> str:
        # testcontainers guesses the Docker bridge gateway when it thinks it runs in a container;
        # the port is published on loopback, so loopback is where to reach it.
        return "127.0.0.1"

    def endpoint(self) -> str:
        return f"127.0.0.1:{self.get_exposed_port(self.port)}"


def start_minio(host_port: int | None = None, tls_dir: Path | None = None) -> LabMinio:
    """A started MinIO container from MINIO_IMAGE (the image must be local or pullable), serving
    HTTPS with the certificate in ``tls_dir`` when given."""
    image = read_environment().get("MINIO_IMAGE")
    if not image:
        pytest.fail("MINIO_IMAGE is not set: set it in .env or run `make minio-image` and export its tag")
    server = LabMinio(image, host_port, tls_dir)
    try:
        server.start()
    except docker.errors.APIError as exc:
        pytest.fail(
            f"cannot start MinIO image {image!r} ({exc.explanation or exc}); without a registry, run "
            "`make minio-image` and export MINIO_IMAGE=<the tag it prints>",
            pytrace=False,
        )
    return server


@pytest.fixture(scope="session")
def minio_server() -> Iterator[LabMinio]:
    """One MinIO container for the session."""
    server = start_minio()
    try:
        yield server
    finally:
        server.stop()


def server_env(minio_server: LabMinio, *, secure: bool = False) -> dict[str, str]:
    """Settings variables for a fresh bucket on the session's server (``secure``: one serving HTTPS)."""
    endpoint = minio_server.endpoint()
    return {
        "MINIO_ENDPOINT": endpoint,
        "MINIO_ROOT_USER": ROOT_USER,
        "MINIO_ROOT_PASSWORD": ROOT_PASSWORD,
        "MINIO_SECURE": "true" if secure else "false",
        "AWS_ENDPOINT_URL": f"{'https' if secure else 'http'}://{endpoint}",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": ROOT_USER,
        "AWS_SECRET_ACCESS_KEY": ROOT_PASSWORD,
        "BUCKET": f"t-{uuid.uuid4().hex[:12]}",
        "DATA_PREFIX": "mnist",
    }


@pytest.fixture
def lab_env(minio_server: LabMinio) -> dict[str, str]:
    """Settings variables for a fresh bucket on the session's server."""
    return server_env(minio_server)


@pytest.fixture
def lab_settings(lab_env: dict[str, str]) -> Settings:
    return load_settings(environ=lab_env)


def use_credentials(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The connector's CRT client reads credentials from the process environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", settings.aws_access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", settings.aws_secret_access_key)
    monkeypatch.setenv("AWS_REGION", settings.aws_region)


@dataclass
class SeededBucket:
    """A bucket seeded from an IDX dataset written for it, and what tests check it against."""

    env: dict[str, str]
    settings: Settings
    client: Minio
    directory: Path
    # Per split, every sample's (label, pixels) in index order, as write_dataset drew them.
    samples: dict[str, list[tuple[int, bytes]]]
    # None for the layout that was not seeded.
    report: SeedReport | None
    shard_report: SeedReport | None

    @property
    def keys(self) -> dict[str, set[str]]:
        """Per split, the key of every sample's object under DATA_PREFIX."""
        prefix = self.settings.data_prefix
        return {
            split: {sample_key(prefix, split, label, i) for i, (label, _) in enumerate(items)}
            for split, items in self.samples.items()
        }

    def splits(self) -> list[Split]:
        """The dataset's splits read back from its IDX files, to seed them again."""
        return [load_split(self.directory, name) for name in self.samples]

    def manifest(self) -> dict[str, ManifestSplit]:
        """The shard manifest in the bucket as the trainer reads it (``{}`` when there is none)."""
        key = manifest_key(shards_prefix(self.settings.data_prefix))
        try:
            body = self.client.get_object(self.settings.bucket, key).read()
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                return {}
            raise
        return parse_manifest(json.loads(body), key)

    def shard(self, split: str, number: int) -> str:
        """The key of shard ``number`` of ``split`` as the manifest lists it (names carry a digest)."""
        return self.manifest()[split].shards[number].key

    def seed_again(self, bucket: str | None = None, **options) -> SeedReport:
        """Seed the same samples again as objects, into ``bucket`` (by default this one).

        ``options`` go to :func:`seeder.upload.seed` (``limit``, ``workers``, ``prune``, ``upload``):
        how tests interrupt, resume, damage and repeat a seed.
        """
        target = bucket or self.settings.bucket
        return seed_objects(
            self.client, target, self.settings.data_prefix, self.splits(), progress=False, **options
        )


@pytest.fixture(scope="session")
def seed_bucket(
    minio_server: LabMinio, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., SeededBucket]:
    """Factory: write an IDX dataset of ``counts`` samples per split and seed it in process.

    ``seed_bucket(counts, *, learnable=False, seed=0, objects=True, shard_size=None, workers=16,
    upload="put", env=None)``: ``learnable`` and ``seed`` go to :func:`tests.conftest.write_dataset`;
    the samples go up as one PNG object each under DATA_PREFIX unless ``objects`` is false, and as
    tar shards of ``shard_size`` under ``<DATA_PREFIX>-shards`` when it is given. ``env`` names the
    server and bucket (a test's ``lab_env``, or another server's); by default a fresh bucket on the
    session's server. Session-scoped so that module-scoped fixtures can seed once per module.
    """

    def factory(
        counts: dict[str, int],
        *,
        learnable: bool = False,
        seed: int = 0,
        objects: bool = True,
        shard_size: int | None = None,
        workers: int = 16,
        upload: str = "put",
        env: dict[str, str] | None = None,
    ) -> SeededBucket:
        env = dict(env) if env is not None else server_env(minio_server)
        settings = load_settings(environ=env)
        client = minio_client(settings)
        directory = tmp_path_factory.mktemp("idx")
        samples = write_dataset(directory, counts, seed=seed, learnable=learnable)
        splits = [load_split(directory, name) for name in counts]
        bucket, prefix = settings.bucket, settings.data_prefix
        report = shard_report = None
        if objects:
            report = seed_objects(
                client, bucket, prefix, splits, workers=workers, upload=upload, progress=False
            )
        if shard_size is not None:
            shard_report = seed_shards(
                client,
                bucket,
                shards_prefix(prefix),
                splits,
                shard_size=shard_size,
                workers=workers,
                progress=False,
            )
        return SeededBucket(env, settings, client, directory, samples, report, shard_report)

    return factory
