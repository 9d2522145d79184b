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
# Dependencies from the hashed lock (docs/contributing.md#pinned-dependencies), in a layer code
# changes keep.
COPY locks/seeder.txt /app/locks/
RUN pip install -q --require-hashes --no-deps -r /app/locks/seeder.txt
COPY pyproject.toml README.md /app/
COPY labcore /app/labcore
COPY seeder /app/seeder
RUN pip install -q --no-deps /app && pip check
USER 10001:10001
ENTRYPOINT ["python", "-m", "seeder"]

FROM runtime AS trainer
# CPU wheels by default (a few hundred MB). Where only PyPI is reachable (CI here), pass
# TORCH_INDEX_URL=https://pypi.org/simple: PyPI's Linux wheel is the CUDA build, which runs on CPU.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# One pin for the venv and the images: TORCH_VERSION in .env, passed by Compose.
ARG TORCH_VERSION
# torch first, in a layer of its own: it is the slow download, and code changes must not redo it.
# It is outside the lock (two indexes), so it is pinned by version here.
# An index URL with credentials never comes here (build args show in `docker history`): make build
# then downloads torch on the host into build/wheels/ and passes TORCH_INDEX_URL=build/wheels.
# Otherwise build/wheels/ holds only its README.
# torch goes in without Triton (scripts/torch-deps.py): PyPI's CUDA build would bring 1 GB of GPU
# compiler that the lab, training on the CPU without torch.compile, never loads.
COPY scripts/torch-deps.py /opt/lab/torch-deps.py
COPY build/wheels/ /tmp/torch-wheels/
RUN test -n "${TORCH_VERSION}" || { echo "build with --build-arg TORCH_VERSION=... (see .env)" >&2; exit 1; }; \
    if [ "${TORCH_INDEX_URL}" = build/wheels ]; then \
      set -- --no-index --find-links /tmp/torch-wheels; \
    else \
      set -- --index-url "${TORCH_INDEX_URL}" --extra-index-url https://pypi.org/simple; \
    fi; \
    pip install -q "$@" --no-deps "torch==${TORCH_VERSION}" && \
    python3 /opt/lab/torch-deps.py requirements >/tmp/torch-deps.txt && \
    pip install -q "$@" -r /tmp/torch-deps.txt && \
    rm -rf /tmp/torch-wheels /tmp/torch-deps.txt
COPY locks/trainer.txt /app/locks/
RUN pip install -q --require-hashes --no-deps -r /app/locks/trainer.txt
COPY pyproject.toml README.md /app/
COPY labcore /app/labcore
COPY seeder /app/seeder
COPY trainer /app/trainer
RUN pip install -q --no-deps /app && python3 /opt/lab/torch-deps.py check pip check
USER 10001:10001
ENTRYPOINT ["python", "-m", "trainer"]

FROM trainer AS workshop
# JupyterLab for the workshop notebooks, on top of the trainer image: the same code, torch and
# connector the trainer runs, plus what the notebooks need (locks/workshop.txt).
USER root
COPY locks/workshop.txt /app/locks/
RUN pip install -q --require-hashes --no-deps -r /app/locks/workshop.txt && \
    python3 /opt/lab/torch-deps.py check pip check
COPY docker/workshop/start.sh /usr/local/bin/workshop-start
RUN mkdir -p /home/lab/work /home/lab/notebooks && chown 10001:10001 /home/lab/work
USER 10001:10001
WORKDIR /home/lab/work
EXPOSE 8888
ENTRYPOINT ["workshop-start"]
