# Seeder and trainer images: one file, two targets (`--target seeder`, `--target trainer`) that
# share the runtime stage. Build from the repository root (the build context).
#
# PYTHON_IMAGE: any Debian-family image with python3 + venv. Users get the official slim image;
# where no registry is reachable, `make base-image` makes one with debootstrap.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS runtime
# Extra CA certificates (corporate HTTPS proxy): whatever *.crt `make build EXTRA_CA_CERTS=...`
# put in certs/ joins the trust store, so pip at build time and MNIST downloads at run time work.
COPY certs/ /tmp/extra-ca/
RUN set -e; \
    if ls /tmp/extra-ca/*.crt >/dev/null 2>&1; then \
      cp /tmp/extra-ca/*.crt /usr/local/share/ca-certificates/ && update-ca-certificates >/dev/null; \
    fi; \
    rm -rf /tmp/extra-ca; \
    python3 -m venv /opt/venv; \
    mkdir -p /cache /home/lab; \
    chown 10001:10001 /cache /home/lab
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/home/lab \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MNIST_CACHE_DIR=/cache
WORKDIR /app

FROM runtime AS seeder
COPY pyproject.toml README.md /app/
COPY labcore /app/labcore
COPY seeder /app/seeder
RUN pip install -q /app
USER 10001:10001
ENTRYPOINT ["python", "-m", "seeder"]

FROM runtime AS trainer
# CPU wheels by default (a few hundred MB). Where only PyPI is reachable (CI here), pass
# TORCH_INDEX_URL=https://pypi.org/simple: PyPI's Linux wheel is the CUDA build, which runs on CPU.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.15.0
# torch first, in a layer of its own: it is the slow download, and code changes must not redo it.
RUN pip install -q --index-url "${TORCH_INDEX_URL}" --extra-index-url https://pypi.org/simple \
      "torch==${TORCH_VERSION}"
COPY pyproject.toml README.md /app/
COPY labcore /app/labcore
COPY seeder /app/seeder
COPY trainer /app/trainer
RUN pip install -q "/app[train]"
USER 10001:10001
ENTRYPOINT ["python", "-m", "trainer"]
