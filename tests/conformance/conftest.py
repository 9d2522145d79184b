"""Each S3 server the lab runs, one container per store for the session, and the matrix it fills.

``--stores minio,seaweedfs`` (or ``LAB_STORES``) picks the stores; every test in this folder runs
once per store. Images come from the lab's build scripts (built from pinned source, once, cached);
containers listen on 127.0.0.1 only and are stopped at the end. With ``--compat-out DIR`` the
outcome of every test marked ``capability`` is written as ``DIR/compat.json`` and ``compat.md``:
pass, partial or not offered (a known gap, with what was found), or fail with the error's
first line (``make compat``).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from minio import Minio  # noqa: E402
from testcontainers.core.container import DockerContainer  # noqa: E402

from labcore.stores import STORES, Store  # noqa: E402
from tests.conftest import wait_for  # noqa: E402
from tests.integration.conftest import ROOT_PASSWORD, ROOT_USER, start_minio  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# As CI runs it: MinIO has the integration suite, and Garage takes 8-18 minutes to build (make compat).
DEFAULT_STORES = "seaweedfs,versitygw"
ADMIN_TOKEN = "lab-conformance-admin-token"


def pytest_addoption(parser):
    group = parser.getgroup("conformance")
    group.addoption(
        "--stores", default=None, help=f"stores to test (default $LAB_STORES or {DEFAULT_STORES})"
    )
    group.addoption("--compat-out", default=None, help="write the matrix as compat.json/compat.md here")
    group.addoption(
        "--samples", type=int, default=120, help="samples per split to seed and train on (default 120)"
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "capability(name): a column of the compatibility matrix")
    config.addinivalue_line("markers", "only_stores(*names): run the test on these stores only")
    config._compat = {}  # (store, capability) -> {"status", "detail"}
    config._compat_extra = {}  # store -> {"throughput": ..., "image": ...}


def chosen_stores(config) -> list[str]:
    given = config.getoption("--stores") or os.environ.get("LAB_STORES") or DEFAULT_STORES
    names = [s.strip() for s in given.split(",") if s.strip()]
    unknown = [s for s in names if s not in STORES]
    if unknown:
        raise pytest.UsageError(f"--stores: unknown {unknown}; the lab runs {', '.join(STORES)}")
    return names


def pytest_generate_tests(metafunc):
    if "store" in metafunc.fixturenames:
        names = chosen_stores(metafunc.config)
        # @pytest.mark.only_stores(...): a check about one store's own files runs on that store only.
        only = metafunc.definition.get_closest_marker("only_stores")
        if only is not None:
            names = [n for n in names if n in only.args]
        metafunc.parametrize("store", names, indirect=True, scope="session")


@dataclass
class RunningStore:
    """One store's server, reachable on loopback with its admin keys."""

    adapter: Store
    endpoint: str  # host:port
    access_key: str
    secret_key: str
    image: str
    admin_env: dict[str, str] = field(default_factory=dict)  # what its user admin API needs (Garage)

    @property
    def name(self) -> str:
        return self.adapter.name

    def client(self) -> Minio:
        return Minio(self.endpoint, self.access_key, self.secret_key, secure=False, region="us-east-1")

    def env(self, bucket: str, **extra: str) -> dict[str, str]:
        """Settings variables for the lab's tools against this store and ``bucket`` (admin keys)."""
        return {
            "STORE": self.name,
            "MINIO_ENDPOINT": self.endpoint,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_SECURE": "false",
            "AWS_ENDPOINT_URL": f"http://{self.endpoint}",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "BUCKET": bucket,
            "DATA_PREFIX": "mnist",
            **self.admin_env,
            **extra,
        }


def store_image(name: str) -> str:
    """The store's image tag, built from pinned source by the lab's script if missing (cached)."""
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-store-image.sh"), name],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot build the {name} image: {done.stderr.strip()[-500:]}", pytrace=False)
    return done.stdout.strip().splitlines()[-1]


def _answers(client: Minio) -> bool:
    try:
        client.list_buckets()
    except Exception:  # noqa: BLE001 - not up yet, whatever the reason; the deadline decides
        return False
    return True


@pytest.fixture(scope="session")
def store(request) -> Iterator[RunningStore]:
    """The parametrized store, started once for the session and stopped at its end."""
    name = request.param
    if name == "minio":
        server = start_minio()
        running = RunningStore(STORES[name], server.endpoint(), ROOT_USER, ROOT_PASSWORD, server.image)
    else:
        access, secret = ROOT_USER, ROOT_PASSWORD
        image = store_image(name)
        server = (
            DockerContainer(image)
            .with_env("STORE_ACCESS_KEY", access)
            .with_env("STORE_SECRET_KEY", secret)
            .with_env("STORE_REGION", "us-east-1")
            .with_env("STORE_ADMIN_TOKEN", ADMIN_TOKEN)
        )
        server.ports = {9000: ("127.0.0.1", None), 3903: ("127.0.0.1", None)}
        server.start()
        admin_env = {}
        if STORES[name].needs_admin_token:
            admin_url = f"http://127.0.0.1:{server.get_exposed_port(3903)}"
            admin_env = {"STORE_ADMIN_URL": admin_url, "STORE_ADMIN_TOKEN": ADMIN_TOKEN}
        running = RunningStore(
            STORES[name], f"127.0.0.1:{server.get_exposed_port(9000)}", access, secret, image, admin_env
        )
    try:
        # Ready when the admin keys can list buckets: an open port alone is not a ready S3 API.
        wait_for(lambda: _answers(running.client()), 180, f"{name} to answer S3")
        request.config._compat_extra.setdefault(name, {})["image"] = running.image
        yield running
    finally:
        server.stop()


@pytest.fixture(scope="session")
def samples(request) -> int:
    """Samples per split (``--samples``): small for CI, larger for ``make compat``'s throughput."""
    return request.config.getoption("--samples")


@pytest.fixture
def bucket(store: RunningStore) -> Iterator[str]:
    """A fresh bucket on the store, emptied and removed afterwards."""
    name = f"c-{uuid.uuid4().hex[:12]}"
    client = store.client()
    client.make_bucket(name)
    try:
        yield name
    finally:
        for obj in client.list_objects(name, recursive=True):
            client.remove_object(name, obj.object_name)
        client.remove_bucket(name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("capability")
    if marker is None or not hasattr(item, "callspec") or "store" not in item.callspec.params:
        return
    if report.when == "setup" and report.passed:
        return
    if report.when == "teardown" and not report.failed:
        return
    # "loader {loader}, ..." names one column per parameter value.
    key = (item.callspec.params["store"], marker.args[0].format(**item.callspec.params))
    if report.passed:
        status, detail = "pass", ""
    elif hasattr(report, "wasxfail"):
        # A known gap, reported with what happened: "not offered" only with the server's own answer.
        # "partial:": the store does part of it (Garage's per-bucket grants), said what is missing.
        reason = report.wasxfail
        status = next((s for s in ("not offered", "partial") if reason.startswith(f"{s}:")), "fail")
        detail = reason.removeprefix(f"{status}:").strip()
    else:
        status, detail = "fail", _first_line(call.excinfo)
    previous = item.config._compat.get(key)
    if previous is None or previous["status"] == "pass":
        item.config._compat[key] = {"status": status, "detail": detail}


def _first_line(excinfo) -> str:
    if excinfo is None:
        return "failed"
    text = str(excinfo.value).strip() or excinfo.typename
    return f"{excinfo.typename}: {text.splitlines()[0][:300]}"


def pytest_sessionfinish(session, exitstatus):
    out = session.config.getoption("--compat-out")
    if not out or not session.config._compat:
        return
    from tests.conformance.matrix import write_matrix

    write_matrix(Path(out), session.config._compat, session.config._compat_extra)
