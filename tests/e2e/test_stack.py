"""`make up` brings MinIO up healthy and seeds it; a second `make up` uploads nothing."""

from __future__ import annotations

import http.client
import json
import re
import ssl
import subprocess

import pytest
from minio import Minio

from labcore.settings import read_environment
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e

LIMIT = 150


def test_make_up_seeds_and_is_idempotent(lab):
    first = lab.make("up", SEED_LIMIT=str(LIMIT))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert re.search(
        rf"seeded s3://lab-data/mnist/ \(train {LIMIT}, test {LIMIT}\): uploaded {2 * LIMIT}, skipped 0",
        first.stdout,
    ), first.stdout[-2000:]
    # Which MinIO build runs, in one line: the lab's patched one, with the advisories it closes.
    built = [line for line in first.stdout.splitlines() if line.startswith("MinIO: ")]
    assert len(built) == 1 and "the lab's build" in built[0], first.stdout[-2000:]
    assert re.search(r"closes 5 advisories \(CVE-2026-41145,.*CVE-2026-42600\)", built[0]), built[0]

    status = lab.compose("ps", "--format", "json", "minio")
    assert status.returncode == 0, status.stderr
    rows = [json.loads(line) for line in status.stdout.splitlines() if line.strip()]
    assert rows and rows[0]["Health"] == "healthy", rows

    second = lab.make("up", SEED_LIMIT=str(LIMIT))
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"uploaded 0, skipped {2 * LIMIT} already there" in second.stdout


def test_make_train_streams_every_object_once(lab, tmp_path):
    # Idempotent: seeds only if the test above did not run first.
    assert lab.make("up", SEED_LIMIT=str(LIMIT)).returncode == 0
    result = lab.make("train", EPOCHS="1", NUM_WORKERS="2", ARGS="--run-id e2e --no-progress")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (
        f"train: {LIMIT} of {LIMIT} objects, 0 duplicates; test: {LIMIT} of {LIMIT} objects, 0 duplicates"
        in (result.stdout)
    )
    assert "samples per worker {0: 75, 1: 75}" in result.stdout

    env = read_environment()
    client = Minio(
        f"127.0.0.1:{lab.env['MINIO_API_PORT']}",
        access_key=env["MINIO_ROOT_USER"],
        secret_key=env["MINIO_ROOT_PASSWORD"],
        secure=False,
    )
    metrics = json.loads(client.get_object("lab-data", "runs/e2e/metrics.json").read())
    assert metrics["train_objects"] == LIMIT and metrics["per_epoch"][0]["samples"] == LIMIT

    # make report copies the run's two files with the trainer's image: no host venv, no torch.
    out = tmp_path / "results"
    report = lab.make("report", RUN_ID="e2e", REPORT_DIR=str(out))
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-2000:]
    assert f"report: {out / 'e2e-report.png'} and {out / 'e2e-metrics.json'}" in report.stdout
    assert (out / "e2e-report.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((out / "e2e-metrics.json").read_text()) == metrics


def test_make_train_with_two_ranks(lab):
    """`make train NPROC=2`: torchrun in the trainer container, 2 ranks x 2 workers, exactly once."""
    assert lab.make("up", SEED_LIMIT=str(LIMIT)).returncode == 0
    result = lab.make(
        "train", NPROC="2", EPOCHS="1", NUM_WORKERS="2", ARGS="--run-id e2e-ranks --no-progress"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "loader s3iter, 2 ranks x 2 workers" in result.stdout
    assert f"train: {LIMIT} of {LIMIT} objects, 0 duplicates" in result.stdout
    assert "samples per rank {0: 75, 1: 75}" in result.stdout
    assert "weights identical on 2 ranks" in result.stdout


def test_make_bench_smoke(lab, tmp_path):
    # A smoke test on the e2e subset: the target runs end to end; no timing is asserted.
    out = tmp_path / "results"
    result = lab.make(
        "bench",
        SEED_LIMIT=str(LIMIT),
        BENCH_ARGS=f"--repeats 1 --workers 0,2 --out {out} --ceiling-seconds 1 --train s3iter --seeds 1",
        SEED_BENCH_ARGS=f"--limit 100 --out {out}",
        SWEEP_ARGS=f"--sizes 4KB --bytes-per-point 64KB --min-objects 16 --workers 0 --loaders s3iter,shards "
        f"--ceiling-seconds 0 --imagenet 0 --out {out}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(next(out.glob("bench-2*.json")).read_text())
    assert {r["loader"] for r in report["rows"]} == {
        "manual",
        "manual@8",
        "s3iter",
        "s3iter@8",
        "s3prefix",
        "map",
        "shards",
        "local",
    }
    assert all(r["samples"] == LIMIT for r in report["rows"])
    assert "target per-object >= 3.0x manual" in result.stdout
    assert "target shards / s3iter (reported)" in result.stdout
    assert "target make train at defaults (s3iter) waits for data" in result.stdout
    assert report["ceiling"]["best_requests_per_s"] > 0
    # Then the seeder against mc mirror, on the host's copy of the IDX files.
    seeding = json.loads(next(out.glob("seed-bench-*.json")).read_text())
    assert "target seeder put >= 2x mc mirror" in result.stdout, result.stdout[-2000:]
    assert {m["method"]: m["objects"] for m in seeding["methods"]} == {
        "seeder put": 100,
        "seeder snowball": 100,
        "mc mirror": 100,
    }, seeding
    # Then the object-size sweep: one size, every key once with all its bytes.
    sweep = json.loads(next(out.glob("bench-sizes-*.json")).read_text())
    assert [(p["label"], p["count"], p["wrong"]) for p in sweep["points"]] == [("4 KB", 16, [])]
    assert [r["object_bytes"] for r in sweep["points"][0]["rows"]] == [16 * 4096] * 2


def test_every_published_port_is_loopback(lab):
    """Read from Compose's own resolved model, whatever syntax the file uses for its ports."""
    config = lab.compose("--profile", "workshop", "config", "--format", "json")
    assert config.returncode == 0, config.stderr
    published = [
        (name, port)
        for name, service in json.loads(config.stdout)["services"].items()
        for port in service.get("ports", [])
        if port.get("published")
    ]
    assert {name for name, _ in published} == {"minio", "jupyter"}, published
    assert all(port.get("host_ip") == "127.0.0.1" for _, port in published), published


# Compose labels the images it builds with its project and service, and a container inherits its
# image's labels: one started outside Compose from a lab image would count as, say, the cluster's
# trainer-head (tests/e2e/test_cluster.py runs beside these tests), whose `compose logs -f` then
# follows it and fails when it is removed. An empty project label makes it nobody's.
OUTSIDE_COMPOSE = ("--label", "com.docker.compose.project=")


def test_a_container_started_outside_compose_from_a_lab_image_is_no_project_s(lab):
    assert lab.make("build").returncode == 0
    image = "minio-torch-lab/trainer:local"
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", image))
    project = labels["com.docker.compose.project"]
    created = docker("create", *OUTSIDE_COMPOSE, image).strip()
    try:
        members = docker("ps", "-aq", "--no-trunc", "--filter", f"label=com.docker.compose.project={project}")
        assert created not in members.split(), (project, created)
    finally:
        docker("rm", created)


def scan_image(image: str, secrets: set[str]) -> list[str]:
    """Files of ``image``'s filesystem that contain any of ``secrets`` (read as a stream, in chunks)."""
    import tarfile

    created = docker("create", *OUTSIDE_COMPOSE, image).strip()
    found = []
    try:
        export = subprocess.Popen(["docker", "export", created], stdout=subprocess.PIPE)
        needles = [s.encode() for s in secrets if s]
        overlap = max(len(n) for n in needles)
        with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.isfile() else None
                tail = b""
                while handle is not None and (chunk := handle.read(1 << 22)):
                    window = tail + chunk
                    if any(n in window for n in needles):
                        found.append(member.name)
                        break
                    tail = window[-overlap:]
        export.wait()
    finally:
        docker("rm", created)
    return found


def test_images_carry_no_credentials(lab):
    # Credentials reach containers at run time only: no layer, label or ENV of an image holds them.
    secrets = {
        read_environment()[name]
        for name in ("MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY", "STORE_ADMIN_TOKEN")
    }
    built = lab.make("build")
    assert built.returncode == 0, built.stderr[-3000:]
    for image in ("minio-torch-lab/seeder:local", "minio-torch-lab/trainer:local"):
        config = docker("image", "inspect", image)
        history = docker("history", "--no-trunc", image)
        for secret in secrets:
            assert secret not in config and secret not in history, image
        assert "SECRET" not in config
        # Not in any file of the image either (a copied .env, a baked-in config).
        assert scan_image(image, secrets) == [], image
        # And the processes run as the lab's unprivileged user.
        assert json.loads(config)[0]["Config"]["User"] == "10001:10001", image
        uid = subprocess.run(
            ["docker", "run", "--rm", *OUTSIDE_COMPOSE, "--entrypoint", "id", image, "-u"],
            capture_output=True,
            text=True,
        )
        assert uid.stdout.strip() == "10001", (image, uid.stdout, uid.stderr)


# Lists the image's Triton distributions, then proves torch computes (and backpropagates) without.
TRITON_PROBE = """
import re, torch
from importlib import metadata
names = sorted({d.metadata["Name"].lower() for d in metadata.distributions()})
print(*[n for n in names if re.match(r"(triton|pytorch-triton)", n)] or ["none"])
loss = torch.nn.Linear(4, 2)(torch.ones(3, 4)).sum()
loss.backward()
print(float(loss.detach()) == float(loss.detach()), torch.cuda.is_available())
"""


def test_the_trainer_image_carries_torch_without_triton(lab):
    # PyPI's torch would bring Triton, torch.compile's GPU compiler (1 GB installed); the lab trains
    # on the CPU and installs torch without it (scripts/torch-deps.py, docker/lab.Dockerfile).
    built = lab.make("build")
    assert built.returncode == 0, built.stderr[-3000:]
    probe = [
        "docker",
        "run",
        "--rm",
        *OUTSIDE_COMPOSE,
        "--entrypoint",
        "python",
        "minio-torch-lab/trainer:local",
        "-c",
    ]
    result = subprocess.run([*probe, TRITON_PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["none", "True False"], result.stdout


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def test_make_ps_seed_and_down(lab):
    assert lab.make("up").returncode == 0
    ps = lab.make("ps")
    assert ps.returncode == 0 and "minio" in ps.stdout and "healthy" in ps.stdout, ps.stdout
    seeded = lab.make("seed", ARGS="--limit 10 --no-progress")
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    assert "(train 10, test 10): uploaded 0, skipped 20 already there" in seeded.stdout
    assert f"{2 * (LIMIT - 10)} other objects under the split prefixes" in seeded.stdout
    down = lab.make("down")
    assert down.returncode == 0, down.stderr[-2000:]
    assert lab.compose("ps", "-q").stdout.strip() == ""


def test_make_up_and_train_over_https_with_the_lab_s_ca(lab):
    # TLS=1: MinIO comes back on the same volume serving HTTPS with a certificate from the lab's CA
    # (build/tls/); the seeder and trainer trust it through SSL_CERT_FILE. Plain HTTP again after.
    port = int(lab.env["MINIO_API_PORT"])
    try:
        up = lab.make("up", TLS="1")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert f"seeded s3://lab-data/mnist/ (train {LIMIT}, test {LIMIT})" in up.stdout, up.stdout[-2000:]
        trained = lab.make("train", TLS="1", EPOCHS="1", ARGS="--run-id e2e-tls --no-progress")
        assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
        assert "at https://minio:9000" in trained.stdout
        assert f"train: {LIMIT} of {LIMIT} objects, 0 duplicates" in trained.stdout
        # The server speaks TLS only, with the certificate the lab's CA signed for 127.0.0.1.
        trusted = ssl.create_default_context(cafile=str(REPO / "build" / "tls" / "ca.crt"))
        secure = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=trusted)
        secure.request("GET", "/minio/health/live")
        assert secure.getresponse().status == 200
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        plain.request("GET", "/minio/health/live")
        assert plain.getresponse().status == 400  # Go's answer to HTTP on a TLS port
    finally:
        restored = lab.make("up")
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-3000:]
