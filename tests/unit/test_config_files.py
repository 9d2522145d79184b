"""The committed configuration: lab-only credentials, loopback ports, every variable documented."""

import re
from pathlib import Path

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parents[2]
ENV = dotenv_values(ROOT / ".env")
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
COMPOSE = (ROOT / "docker-compose.yml").read_text()


def test_no_default_credentials():
    assert all((value or "").lower() != "minioadmin" for value in ENV.values())
    assert "minioadmin" not in COMPOSE.lower()
    assert len(ENV["MINIO_ROOT_PASSWORD"]) >= 8
    # The trainer has a user of its own, not the admin's keys.
    assert ENV["AWS_ACCESS_KEY_ID"] != ENV["MINIO_ROOT_USER"]


def test_published_ports_are_loopback_only():
    ports = re.findall(r'^\s*-\s*"([^"]+:\d+)"\s*$', COMPOSE, flags=re.M)
    assert ports, "the MinIO ports are published"
    assert all(p.startswith("127.0.0.1:") for p in ports), ports


def test_every_variable_is_documented():
    compose_vars = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE))
    for name in set(ENV) | compose_vars:
        assert f"`{name}`" in CONFIGURATION, f"{name} is missing from docs/configuration.md's table"


def test_license_is_an_spdx_string():
    """The TOML-table form of project.license stops building after 2027-02-18 (setuptools)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    floor = next(r for r in project["build-system"]["requires"] if r.startswith("setuptools"))
    assert int(floor.split(">=")[1].split(".")[0]) >= 77, floor


def test_default_minio_image_is_built_from_patched_source():
    """Quay's frozen RELEASE.2025-09-07 predates the fix for CVE-2025-62506: opt-in only, named."""
    assert ENV["MINIO_IMAGE"].startswith("minio-torch-lab/minio:"), ENV["MINIO_IMAGE"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^up: minio-server ", makefile, flags=re.M), "make up builds MinIO when missing"
    env_text = (ROOT / ".env").read_text()
    assert "CVE-2025-62506" in env_text and "CVE-2025-62506" in CONFIGURATION


def test_default_base_image_is_pinned_by_digest():
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", ENV["PYTHON_IMAGE"]), ENV[
        "PYTHON_IMAGE"
    ]


def test_torch_has_one_pin_for_the_venv_and_the_images():
    """torch is outside the locks (two indexes): TORCH_VERSION in .env is its one pin."""
    assert re.fullmatch(r"\d+\.\d+\.\d+", ENV["TORCH_VERSION"]), ENV["TORCH_VERSION"]
    assert '"torch==$(TORCH_VERSION)"' in (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "docker" / "lab.Dockerfile").read_text()
    assert '"torch==${TORCH_VERSION}"' in dockerfile and "ARG TORCH_VERSION\n" in dockerfile
    for compose in ("docker-compose.yml", "docker-compose.cluster.yml"):
        assert "TORCH_VERSION: ${TORCH_VERSION:?" in (ROOT / compose).read_text(), compose


def test_every_locked_requirement_is_hashed_and_torch_is_left_to_its_index():
    locks = sorted((ROOT / "locks").glob("*.txt"))
    assert {p.stem for p in locks} >= {"seeder", "trainer", "workshop", "dev"}
    for lock in locks:
        if lock.name == "overrides.txt":
            continue
        # One requirement per entry: the pinned line and its continuation lines up to the next pin.
        entries = re.split(r"\n(?=[a-z0-9])", lock.read_text())
        pins = [e for e in entries if re.match(r"[a-z0-9][\w.-]*==", e)]
        assert pins, lock
        for entry in pins:
            assert "--hash=sha256:" in entry, f"{lock.name}: {entry.splitlines()[0]}"
            if entry.startswith("torch=="):
                assert "sys_platform == 'never'" in entry.splitlines()[0], entry.splitlines()[0]


def documented_defaults() -> dict[str, str]:
    """``{variable: its "default in .env" cell}`` from docs/configuration.md, pairs split."""
    table = CONFIGURATION.split(
        "| variable | default in `.env` (make: in the Makefile) | acts in | meaning |", 1
    )[1]
    defaults = {}
    for row in table.splitlines()[2:]:
        if not row.startswith("| `"):
            break
        names, default = row.strip("|").split(" | ")[:2]
        names = re.findall(r"`([A-Z0-9_]+)`", names)
        values = default.split(" / ")
        if len(values) != len(names):  # one rule for the pair ("the admin's")
            values = [default] * len(names)
        defaults.update(zip(names, (v.strip() for v in values), strict=True))
    return defaults


def agrees(documented: str, value: str | None, name: str = "") -> bool | None:
    """Whether ``value`` (None: not set) is what ``documented`` says; None if it says no value.

    "`x` (make)" is a make variable's default: ``NAME ?= x`` in the Makefile, not in .env.
    """
    if documented.endswith("` (make)"):
        makefile = (ROOT / "Makefile").read_text()
        return value is None and f"\n{name} ?= {documented[1:-8]}\n" in makefile
    if documented.startswith("`") and documented.endswith("`"):
        literal = documented.strip("`")
        if literal.endswith("…"):
            return (value or "").startswith(literal[:-1])
        return value == literal
    if documented.startswith("empty"):
        return not value
    if documented == "unset":
        return value is None
    return None  # "the admin's", "set by `make`": a rule, not a value


def test_the_documented_defaults_are_the_defaults():
    """docs/configuration.md's defaults against .env, every Compose file's ${VAR:-default}, and the
    settings object's own defaults: a default is the same wherever a user may meet it."""
    from labcore.settings import load_settings
    from labcore.synthetic import parse_size

    defaults = documented_defaults()
    checked = 0
    for name, documented in defaults.items():
        verdict = agrees(documented, ENV.get(name), name)
        assert verdict is not False, (
            f"{name}: docs/configuration.md says {documented}, .env has {ENV.get(name)!r}"
        )
        checked += verdict is not None
    assert checked >= 40, checked

    composes = [ROOT / "docker-compose.yml", ROOT / "docker-compose.cluster.yml"]
    composes += sorted((ROOT / "docker" / "stores").glob("*/*.yml"))
    for path in composes:
        for name, fallback in re.findall(r"\$\{([A-Z0-9_]+):-([^}$]*)\}", path.read_text()):
            # A secret has no fallback in a Compose file: .env's lab-only value, or nothing.
            secret = (ENV.get(name) or "").startswith("lab-only-") and not fallback
            if name in ENV and not secret:
                assert fallback == (ENV[name] or ""), (
                    f"{path.name}: ${{{name}:-{fallback}}}, .env has {ENV[name]!r}"
                )

    # The settings' own defaults, for a variable no file sets; endpoints and keys have none.
    settings = load_settings(environ={}, require=())
    fields = {
        "LAB_ALLOW_AWS_KEY_IDS": "allow_aws_key_ids",
        "LAB_ADOPT_TRAINER_ACCOUNT": "adopt_trainer_account",
    }
    compared = 0
    for name, documented in defaults.items():
        value = getattr(settings, fields.get(name, name.lower()), "")
        if value == "" or not documented.endswith("`") or "…" in documented:
            continue
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        if name in ("SHARD_BYTES", "CONNECTOR_PART_SIZE"):  # sizes, documented as sizes (64MB)
            shown = documented.strip("`") if parse_size(documented.strip("`")) == value else shown
        assert shown == documented.strip("`"), (
            f"{name}: the settings default to {value!r}, the docs say {documented}"
        )
        compared += 1
    assert compared >= 20, compared
