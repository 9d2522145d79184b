"""`make workshop` as an instructor runs it: JupyterLab behind a token, seen in a real browser.

The browser is Debian's headless Chromium driven through Debian's chromium-driver by Selenium,
given the driver's path so that Selenium never tries to download one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO

NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


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
    if not (Path(CHROMIUM).exists() and shutil.which(DRIVER)):
        pytest.fail("no headless browser: apt-get install chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # Selenium talks to chromedriver over HTTP on loopback: never through a proxy.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--no-proxy-server"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
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
    image = "minio-torch-lab/workshop:local"
    inspect = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, text=True, check=True
    )
    history = subprocess.run(
        ["docker", "history", "--no-trunc", image], capture_output=True, text=True, check=True
    )
    assert lab.env["JUPYTER_TOKEN"] not in inspect.stdout + history.stdout
    assert json.loads(inspect.stdout)[0]["Config"]["User"] == "10001:10001"
