"""The trainer's "MinIO lost write quorum" is asked of MinIO itself, and only of MinIO."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labcore.settings import load_settings
from tests.conftest import free_port
from tests.faultproxy import unavailable_server
from trainer.checkpoints import Checkpointer


@pytest.fixture
def unavailable() -> Iterator:
    with unavailable_server() as server:
        yield server


def checkpointer(endpoint: str, store: str = "minio") -> Checkpointer:
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "lab",
        "AWS_SECRET_ACCESS_KEY": "lab-secret",
        "STORE": store,
    }
    return Checkpointer(load_settings(environ=env), "q", {})


def test_a_proxys_503_is_not_minios_quorum(unavailable, monkeypatch):
    proxy = f"http://127.0.0.1:{unavailable.server_port}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    # MinIO itself is not there at all: nothing says it lost quorum (the write will say what is wrong).
    assert checkpointer(f"http://127.0.0.1:{free_port()}").quorum_lost() == ""
    assert unavailable.paths == [], "the question went through the proxy"


def test_only_minio_is_asked_about_quorum(unavailable, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    endpoint = f"http://127.0.0.1:{unavailable.server_port}"
    # A store answering 503 everywhere (no such endpoint, or busy) is not MinIO without quorum.
    assert checkpointer(endpoint, store="seaweedfs").quorum_lost() == ""
    assert unavailable.paths == []
    # MinIO answering 503 on its cluster health endpoint is.
    assert "has lost write quorum" in checkpointer(endpoint).quorum_lost()
    assert unavailable.paths == ["/minio/health/cluster"]
