"""docs/configuration.md's table against what Compose really passes (`docker compose config`).

Every variable gets a value of its own; the rendered configuration then shows which containers
each one reaches. A setting documented for the trainer that Compose never hands it (RUN_ID once)
fails here, and so does one that reaches a container the table does not name.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e

SERVICES = ("minio", "seeder", "trainer", "jupyter")
# The cluster's services, by the role docs/configuration.md names: nodes are MinIO servers, both trainers trainers.
ROLES = {"minio1": "minio", "minio2": "minio", "minio3": "minio", "minio4": "minio",
         "trainer-head": "trainer", "trainer-peer": "trainer"}  # fmt: skip
TLS_FILES = ["-f", "docker-compose.yml", "-f", "docker/tls/compose.yml"]
CONFIGURATIONS = {
    "make up": ["-f", "docker-compose.yml"],
    "make up TLS=1": TLS_FILES,
    "make cluster-up": ["-f", "docker-compose.cluster.yml"],
}


def documented() -> dict[str, set[str]]:
    """``{variable: the places its "acts in" cell names}`` from docs/configuration.md's table."""
    text = (REPO / "docs" / "configuration.md").read_text()
    table = text.split("| variable | default in `.env` (make: in the Makefile) | acts in | meaning |", 1)[1]
    places = {}
    for row in table.splitlines()[2:]:
        if not row.startswith("| `"):
            break
        names_cell, _default, acts_in, *_ = row.strip("|").split(" | ")
        where = set(re.findall(r"`([a-z]+)`", acts_in.split("(")[0].split(";")[0]))
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", names_cell):
            places[name] = where
    return places


def probe(name: str) -> str:
    """The value that marks ``name`` in the rendered configuration (a port stays a number, a
    directory a path)."""
    if name.endswith("_PORT"):
        return str(40000 + sum(map(ord, name)) % 20000)
    return f"{'./' if name.endswith('_DIR') else ''}probe-{name.lower()}"


def config(files: list[str], variables: dict[str, str]) -> dict:
    """What ``docker compose config`` renders, every profile enabled, as JSON."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **variables}
    result = subprocess.run(
        ["docker", "compose", *files, "--profile", "*", "config", "--format", "json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def rendered(files: list[str], variables: dict[str, str]) -> dict[str, set[str]]:
    """``{role: the environment values Compose gives it}`` with every profile enabled."""
    values: dict[str, set[str]] = {}
    for service, spec in config(files, variables)["services"].items():
        role = ROLES.get(service, service)
        values.setdefault(role, set()).update(str(v) for v in (spec.get("environment") or {}).values())
    return values


@pytest.fixture(scope="module")
def table() -> dict[str, set[str]]:
    places = documented()
    assert {"RUN_ID", "RESUME", "BUCKET", "NPROC"} <= set(places), sorted(places)
    return places


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_every_setting_reaches_exactly_the_containers_readme_names(table, configuration):
    reached = rendered(CONFIGURATIONS[configuration], {name: probe(name) for name in table})
    wrong = []
    for name, where in sorted(table.items()):
        for role in SERVICES:
            if role not in reached:
                continue
            gets = probe(name) in reached[role]
            if gets != (role in where):
                wrong.append(
                    f"{name}: docs/configuration.md says {'' if role in where else 'not '}{role}, Compose disagrees"
                )
    assert not wrong, f"{configuration}:\n" + "\n".join(wrong)


def test_compose_and_make_settings_are_used_where_readme_says(table):
    compose_text = "".join(
        (REPO / f).read_text() for f in ("docker-compose.yml", "docker-compose.cluster.yml")
    )
    make_text = (REPO / "Makefile").read_text() + "".join(
        p.read_text() for p in (REPO / "scripts").glob("*.sh")
    )
    for name, where in table.items():
        if "compose" in where:
            assert "${" + name in compose_text, (
                f"{name}: docs/configuration.md says Compose reads it; no ${{{name}}} there"
            )
        if "make" in where:
            assert re.search(rf"\b{name}\b", make_text), (
                f"{name}: docs/configuration.md says make reads it; it does not"
            )


def test_tls_serves_minio_over_https_and_every_client_trusts_the_lab_s_ca(table):
    services = config(TLS_FILES, {name: probe(name) for name in table})["services"]
    assert services["minio"]["command"][-2:] == ["--certs-dir", "/certs"]
    mounts = {v["target"]: v["source"] for v in services["minio"]["volumes"] if v["type"] == "bind"}
    assert {t: Path(s).relative_to(REPO).as_posix() for t, s in mounts.items() if t.startswith("/certs")} == {
        "/certs/public.crt": "build/tls/public.crt",
        "/certs/private.key": "build/tls/private.key",
    }
    for name in ("seeder", "trainer", "jupyter"):
        env = services[name]["environment"]
        assert env["AWS_ENDPOINT_URL"] == "https://minio:9000", name
        assert env["SSL_CERT_FILE"] == "/tls/ca-bundle.crt", name
        trusted = {v["target"]: v["source"] for v in services[name]["volumes"] if v["type"] == "bind"}
        assert Path(trusted["/tls/ca-bundle.crt"]).relative_to(REPO).as_posix() == "build/tls/ca-bundle.crt"
    assert services["seeder"]["environment"]["MINIO_SECURE"] == "true"
    # The CA's own key never leaves build/tls/.
    assert "ca.key" not in json.dumps(services)
