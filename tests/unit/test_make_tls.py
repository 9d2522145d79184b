"""scripts/make-tls.sh: the lab's CA and MinIO's certificate for TLS=1 (docs/configuration.md#https)."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make-tls.sh"
FILES = ("ca.crt", "ca.key", "public.crt", "private.key", "ca-bundle.crt")


def make_tls(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(path)], capture_output=True, text=True, timeout=60)


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def test_it_makes_a_ca_and_a_certificate_for_minio_s_names(tmp_path):
    result = make_tls(tmp_path)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in tmp_path.iterdir()} == set(FILES)
    assert "OK" in openssl("verify", "-CAfile", str(tmp_path / "ca.crt"), str(tmp_path / "public.crt"))
    text = openssl("x509", "-in", str(tmp_path / "public.crt"), "-noout", "-text")
    assert (
        "DNS:localhost, DNS:minio, IP Address:127.0.0.1" in text and "TLS Web Server Authentication" in text
    )
    assert "CA:TRUE" in openssl("x509", "-in", str(tmp_path / "ca.crt"), "-noout", "-text")
    # Keys for their owner only; the bundle starts with the lab's CA, then the machine's.
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.glob("*.key")} == {
        "ca.key": 0o600,
        "private.key": 0o600,
    }
    bundle = (tmp_path / "ca-bundle.crt").read_text()
    assert bundle.startswith((tmp_path / "ca.crt").read_text())


def test_a_second_run_keeps_what_is_valid_and_a_new_ca_gets_a_new_certificate(tmp_path):
    assert make_tls(tmp_path).returncode == 0
    before = {name: (tmp_path / name).read_bytes() for name in FILES}
    again = make_tls(tmp_path)
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr
    assert {name: (tmp_path / name).read_bytes() for name in FILES} == before
    # A CA made again (its files removed) signs a new certificate: the old one would not verify.
    (tmp_path / "ca.crt").unlink()
    renewed = make_tls(tmp_path)
    assert (
        renewed.returncode == 0 and "a new CA" in renewed.stdout and "MinIO's certificate" in renewed.stdout
    )
    assert (tmp_path / "public.crt").read_bytes() != before["public.crt"]
    assert "OK" in openssl("verify", "-CAfile", str(tmp_path / "ca.crt"), str(tmp_path / "public.crt"))
