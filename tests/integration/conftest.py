"""A real MinIO server per test session, from testcontainers, with the image from MINIO_IMAGE."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import docker.errors
import pytest

# Ryuk (testcontainers' reaper) is one more image to pull, which machines without a registry
# cannot do; these fixtures stop their containers themselves.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from testcontainers.community.minio import MinioContainer  # noqa: E402

from labcore.settings import Settings, load_settings, read_environment  # noqa: E402

ROOT_USER = "lab-test-admin"
ROOT_PASSWORD = "lab-test-password-123"


class LabMinio(MinioContainer):
    """MinioContainer with root credentials set the current way and the port on loopback only."""

    def __init__(self, image: str, host_port: int | None = None):
        super().__init__(image=image, access_key=ROOT_USER, secret_key=ROOT_PASSWORD)
        # MINIO_ACCESS_KEY/SECRET_KEY (set by the parent) are the deprecated spelling.
        self.with_env("MINIO_ROOT_USER", ROOT_USER)
        self.with_env("MINIO_ROOT_PASSWORD", ROOT_PASSWORD)
        # As in docker-compose.yml: requests signed for another region are refused.
        self.with_env("MINIO_SITE_REGION", "us-east-1")
        # A fixed host port survives a container restart (fault tests); None picks a free one.
        self.ports = {self.port: ("127.0.0.1", host_port)}

    def get_container_host_ip(self) -> str:
        # testcontainers guesses the Docker bridge gateway when it thinks it runs in a container;
        # the port is published on loopback, so loopback is where to reach it.
        return "127.0.0.1"

    def endpoint(self) -> str:
        return f"127.0.0.1:{self.get_exposed_port(self.port)}"


def start_minio(host_port: int | None = None) -> LabMinio:
    """A started MinIO container from MINIO_IMAGE (the image must be local or pullable)."""
    image = read_environment().get("MINIO_IMAGE")
    if not image:
        pytest.fail("MINIO_IMAGE is not set: set it in .env or run `make minio-image` and export its tag")
    server = LabMinio(image, host_port)
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


def server_env(minio_server: LabMinio) -> dict[str, str]:
    """Settings variables for a fresh bucket on the session's server."""
    endpoint = minio_server.endpoint()
    return {
        "MINIO_ENDPOINT": endpoint,
        "MINIO_ACCESS_KEY": ROOT_USER,
        "MINIO_SECRET_KEY": ROOT_PASSWORD,
        "MINIO_SECURE": "false",
        "AWS_ENDPOINT_URL": f"http://{endpoint}",
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
