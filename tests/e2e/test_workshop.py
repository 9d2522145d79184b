"""`make workshop` as an instructor runs it: JupyterLab behind a token, seen in a real browser.

The browser is Debian's headless Chromium driven through Debian's chromium-driver by Selenium,
given the driver's path so that Selenium never tries to download one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO

NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
# Where Chromium or Chrome and a matching chromedriver usually are: Debian and Ubuntu, Fedora,
# Homebrew and macOS's applications. LAB_BROWSER and LAB_CHROMEDRIVER name others.
BROWSERS = (
    "chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)  # fmt: skip


def browser_and_driver() -> tuple[str, str]:
    """The browser and chromedriver to drive it with, or the test fails with one line on how."""
    browser = os.environ.get("LAB_BROWSER") or next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = os.environ.get("LAB_CHROMEDRIVER") or shutil.which("chromedriver")
    if not (browser and driver):
        pytest.fail(
            "no headless browser: install Chromium or Chrome and chromedriver (Debian: apt-get install "
            "chromium chromium-driver, as .ci/run does; macOS: brew install --cask chromium chromedriver), "
            "or set LAB_BROWSER and LAB_CHROMEDRIVER"
        )
    return browser, driver


@pytest.fixture(scope="module")
def workshop(lab):
    result = lab.make("workshop", timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    base = f"http://127.0.0.1:{lab.env['JUPYTER_PORT']}"
    url = f"{base}/lab?token={lab.env['JUPYTER_TOKEN']}"
    assert f"JupyterLab: {url}" in result.stdout, result.stdout[-2000:]
    return base, url


def get(url: str) -> tuple[int, bytes]:
    # Straight to loopback, whatever proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_api_wants_the_token(lab, workshop):
    base, _ = workshop
    status, _ = get(f"{base}/api/contents")
    assert status == 403
    status, body = get(f"{base}/api/contents?token={lab.env['JUPYTER_TOKEN']}")
    assert status == 200
    assert (
        sorted(item["name"] for item in json.loads(body)["content"] if item["type"] == "notebook")
        == NOTEBOOKS
    )


def test_a_browser_with_the_url_sees_every_notebook(workshop, monkeypatch):
    browser, chromedriver = browser_and_driver()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # Selenium talks to chromedriver over HTTP on loopback: never through a proxy.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--no-proxy-server"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get(workshop[1])

        def listed(d):
            names = {e.text.strip() for e in d.find_elements(By.CSS_SELECTOR, ".jp-DirListing-itemText")}
            return names if set(NOTEBOOKS) <= names else False

        names = WebDriverWait(driver, 90, poll_frequency=0.25).until(
            listed, message=f"the file browser never listed {NOTEBOOKS}"
        )
    finally:
        driver.quit()
    assert set(NOTEBOOKS) <= names


def test_a_notebook_runs_inside_the_jupyter_container(lab, workshop):
    """The container's own settings and the trainer's keys are enough for a notebook."""
    result = lab.compose(
        "--profile", "workshop", "exec", "-T", "jupyter",
        "jupyter", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=600",
        "--output", "/tmp/01-executed.ipynb", "/home/lab/work/01-look-at-the-data.ipynb",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_token_reaches_the_container_at_run_time_only(lab, workshop):
    image = lab_image("workshop")
    inspect = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, text=True, check=True
    )
    history = subprocess.run(
        ["docker", "history", "--no-trunc", image], capture_output=True, text=True, check=True
    )
    assert lab.env["JUPYTER_TOKEN"] not in inspect.stdout + history.stdout
    assert json.loads(inspect.stdout)[0]["Config"]["User"] == "10001:10001"


LAB_IMAGES = ("seeder", "trainer", "workshop")


def lab_image(name: str, tag: str = "local") -> str:
    """One of the lab's images (``LAB_IMAGES``) under LAB_TAG ``tag``, named as Compose and
    scripts/bundle.sh name it."""
    return f"minio-torch-lab/{name}:{tag}"


# Any output of a build: Compose's, the classic builder's or BuildKit's.
BUILD_MARKS = ("Building", "Step 1/", "naming to", "Successfully built")


def test_an_offline_bundle_runs_the_lab_with_nothing_pulled_or_built(lab, workshop, tmp_path):
    """make bundle; remove the images; make load; make up, train and workshop build nothing.

    The images go into the bundle under names of this test's own (the same images, tagged
    LAB_TAG=bundle-...), so that removing them leaves the lab's own names to tests on other
    workers (the cluster's trainers, the stack's builds) while this one runs.
    """
    source = lab.env["SOURCE_DIR"]
    tag = f"bundle-{uuid.uuid4().hex[:8]}"
    own_minio = f"mtl-bundle-test/minio:{tag}"
    own = {own_minio: lab.env["MINIO_IMAGE"]}
    own.update({lab_image(name, tag): lab_image(name) for name in LAB_IMAGES})
    for name, image in own.items():
        subprocess.run(["docker", "tag", image, name], check=True)
    try:
        started = time.monotonic()
        made = lab.make(
            "bundle",
            BUNDLE_DIR=str(tmp_path / "dist"),
            SOURCE_DIR=source,
            MINIO_IMAGE=own_minio,
            LAB_TAG=tag,
            timeout=1800,
        )
        assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
        bundles = list((tmp_path / "dist").glob("minio-torch-lab-bundle-*.tar"))
        assert len(bundles) == 1, made.stdout[-2000:]
        print(f"bundle: {bundles[0].stat().st_size / 1e9:.2f} GB, made in {time.monotonic() - started:.0f} s")

        assert lab.make("clean").returncode == 0
        # The bundle holds each image under its name, with the very layers of the local one.
        assert saved_images(bundles[0]) == {name: image_id(name) for name in own}
        # Every name the laptop runs goes, so the bundle must bring all of them back.
        subprocess.run(["docker", "rmi", *own], capture_output=True, text=True, check=True)
        run_offline(lab, bundles[0], tmp_path, own_minio, tag)
    finally:
        subprocess.run(["docker", "rmi", *own], capture_output=True)


def image_id(image: str) -> str:
    inspect = ["docker", "image", "inspect", "--format", "{{.Id}}", image]
    return subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip()


def saved_images(bundle: Path) -> dict[str, str]:
    """``{name: image id}`` from the manifest of the ``docker save`` archive inside a bundle."""
    member = f"{bundle.stem}/images.tar"
    outer = subprocess.Popen(["tar", "-xOf", str(bundle), member], stdout=subprocess.PIPE)
    inner = subprocess.run(
        ["tar", "-xO", "manifest.json"], stdin=outer.stdout, capture_output=True, check=True
    )
    outer.stdout.close()
    outer.wait()
    names = {}
    for entry in json.loads(inner.stdout):
        # The config blob's digest is the image's ID ("blobs/sha256/<hex>"; "<hex>.json" before Docker 25).
        digest = entry["Config"].removeprefix("blobs/sha256/").removesuffix(".json")
        names.update(dict.fromkeys(entry.get("RepoTags") or [], f"sha256:{digest}"))
    return names


def run_offline(lab, bundle: Path, tmp_path: Path, minio: str, tag: str) -> None:
    """The laptop: make load, then up, train and workshop with nothing pulled or built."""
    # The laptop: its own untracked settings, and any build or pull would fail.
    offline = {
        **lab.env,
        "MINIO_IMAGE": minio,
        "LOCAL_ENV": str(tmp_path / ".env.local"),
        "PYTHON_IMAGE": "registry.invalid/no-builds-here:0",
    }
    offline.pop("SOURCE_DIR", None)
    laptop = type(lab)(offline)
    started = time.monotonic()
    loaded = laptop.make("load", BUNDLE=str(bundle), SOURCE_DIR=str(tmp_path / "data"))
    assert loaded.returncode == 0, loaded.stdout[-3000:] + loaded.stderr[-3000:]
    assert "members verified" in loaded.stdout
    settings = (tmp_path / ".env.local").read_text()
    assert "LAB_PREBUILT=1" in settings and f"SOURCE_DIR={tmp_path / 'data'}" in settings
    assert f"LAB_TAG={tag}" in settings.splitlines()
    for image in (minio, *(lab_image(name, tag) for name in LAB_IMAGES)):
        subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=True)

    outputs = {}
    for target, variables in (("up", {}), ("train", {"EPOCHS": "1"}), ("workshop", {})):
        result = laptop.make(target, timeout=900, **variables)
        outputs[target] = out = result.stdout + result.stderr
        print(f"offline: make load then make {target}: {time.monotonic() - started:.0f} s")
        assert result.returncode == 0, (target, out[-3000:])
        assert not [mark for mark in BUILD_MARKS if mark in out], (target, out[-3000:])
    limit = lab.env["SEED_LIMIT"]
    assert f"(train {limit}, test {limit}): uploaded {2 * int(limit)}" in outputs["up"], outputs["up"][-2000:]
    assert f"train: {limit} of {limit} objects, 0 duplicates" in outputs["train"], outputs["train"][-2000:]
    assert "JupyterLab: http://127.0.0.1:" in outputs["workshop"]
