# minio-torch-lab. `make help` lists the targets. Any setting from .env can be given on the
# command line and reaches Compose and the Python tools: make up SEED_LIMIT=1000
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV ?= .venv
PYTHON ?= python3
# Untracked overrides: values in .env.local win over .env (the environment wins over both).
# LOCAL_ENV names another file (tests keep theirs out of your checkout).
LOCAL_ENV ?= .env.local
ENV_FILES := .env $(wildcard $(LOCAL_ENV))
# make reads a few settings itself, as Compose and python-dotenv read them (export, quotes, inline
# comments); a line the three would read differently stops every target here, in one line.
ENV_PROBLEM := $(shell bash scripts/env-value.sh --check $(ENV_FILES))
ifneq ($(ENV_PROBLEM),)
$(error $(ENV_PROBLEM))
endif
env-value = $(shell bash scripts/env-value.sh $(1) $(ENV_FILES))
# The S3 server (docs/other-s3-servers.md): minio, or seaweedfs, versitygw or garage in its place,
# from an image built from pinned source like MinIO's: make up STORE=versitygw
STORE ?= $(or $(call env-value,STORE),minio)
export STORE
ifneq ($(STORE),minio)
ifeq ($(wildcard docker/stores/$(STORE)/compose.yml),)
$(error STORE=$(STORE) is not a store the lab runs: use minio, seaweedfs, versitygw or garage)
endif
STORE_FILES := -f docker-compose.yml -f docker/stores/$(STORE)/compose.yml
endif
# Garage without its admin token: no trainer key can be made, so trainer and JupyterLab get the
# admin keys (docker/stores/garage/admin-keys.yml); the environment wins over the env files.
STORE_ADMIN_TOKEN ?= $(call env-value,STORE_ADMIN_TOKEN)
ifeq ($(STORE)$(strip $(STORE_ADMIN_TOKEN)),garage)
STORE_FILES += -f docker/stores/garage/admin-keys.yml
endif
# TLS=1: the lab's MinIO over HTTPS with a certificate from the lab's own CA (build/tls/, made by
# scripts/make-tls.sh); the containers and the host's commands (bench, bench-sizes) use https://
# and trust that CA through SSL_CERT_FILE, which the MinIO SDK and the connector both read.
TLS ?= $(or $(call env-value,TLS),0)
ifeq ($(TLS),1)
ifneq ($(STORE),minio)
$(error TLS=1 serves the lab's MinIO over HTTPS; STORE=$(STORE) has no TLS set-up here: drop TLS=1)
endif
STORE_FILES := -f docker-compose.yml -f docker/tls/compose.yml
TLS_CERTS := tls-certs
MINIO_ENDPOINT ?= $(call env-value,MINIO_ENDPOINT)
export MINIO_SECURE := true
export AWS_ENDPOINT_URL := https://$(MINIO_ENDPOINT)
export SSL_CERT_FILE := $(CURDIR)/build/tls/ca-bundle.crt
else ifneq ($(TLS),0)
$(error TLS=$(TLS): use TLS=1 (MinIO over HTTPS) or TLS=0)
endif
COMPOSE := docker compose $(STORE_FILES) $(foreach f,$(ENV_FILES),--env-file $(f))
PYTEST_ARGS ?=
# CPU torch for the host venv and the trainer image; https://pypi.org/simple where only PyPI is
# reachable (its CUDA build runs on the CPU).
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu
export TORCH_INDEX_URL
# What the image builds get as TORCH_INDEX_URL (Compose reads this): the same URL, unless it
# carries credentials (https://user:token@host/simple). A build arg shows in `docker history`, so
# then torch is downloaded on the host into build/wheels/ (scripts/fetch-torch-wheels.sh) and the
# builds get the word build/wheels.
TORCH_INDEX_AUTHORITY := $(firstword $(subst /, ,$(word 2,$(subst ://, ,$(TORCH_INDEX_URL)))))
TORCH_BUILD_INDEX_URL := $(if $(findstring @,$(TORCH_INDEX_AUTHORITY)),build/wheels,$(TORCH_INDEX_URL))
export TORCH_BUILD_INDEX_URL
# torch's version, one pin for the venv and the images (.env; docs/contributing.md#pinned-dependencies).
TORCH_VERSION ?= $(call env-value,TORCH_VERSION)
export TORCH_VERSION

# Seed from a local directory of MNIST-style IDX files, the one name for it wherever it is typed:
# make up SOURCE_DIR=/usr/share/datasets/fashion-mnist, or SOURCE_DIR in .env.local (make load
# writes it there). Compose mounts it at /source in the seeder.
SOURCE_DIR ?= $(call env-value,SOURCE_DIR)
# Its old name, until an issue removes it (an .env.local from an earlier make load holds it).
ifeq ($(strip $(SOURCE_DIR)),)
SEED_SOURCE_DIR ?= $(call env-value,SEED_SOURCE_DIR)
ifneq ($(strip $(SEED_SOURCE_DIR)),)
$(warning SEED_SOURCE_DIR is an old name, kept for now: use SOURCE_DIR=$(SEED_SOURCE_DIR))
override SOURCE_DIR := $(SEED_SOURCE_DIR)
endif
endif
ifneq ($(strip $(SOURCE_DIR)),)
export SEED_SOURCE := /source
# override: a SOURCE_DIR from the command line is made absolute too (Compose mounts it).
override SOURCE_DIR := $(abspath $(SOURCE_DIR))
export SOURCE_DIR
endif

.PHONY: tls-certs bench-seed bench-sizes compat bundle load workshop-image workshop workshop-start workshop-down lock lock-check report cluster-up cluster-build cluster-train cluster-ps cluster-down minio-server help up train bench seed down clean logs ps build test lint unit integration e2e venv minio-image base-image

# make help's groups: title=target,... (scripts/help.awk)
HELP_GROUPS := lab=up,train,seed,report,down,clean,logs,ps,build \
  workshop=workshop,workshop-down,bundle,load \
  cluster=cluster-up,cluster-build,cluster-train,cluster-ps,cluster-down \
  stores=compat,minio-image,base-image,tls-certs bench=bench,bench-seed,bench-sizes \
  development=venv,lock,lock-check,lint,unit,integration,e2e,test,help
help: ## the targets, by group
	@awk -v spec="$(HELP_GROUPS)" -f scripts/help.awk $(MAKEFILE_LIST)

up: minio-server build ## start MinIO and seed the bucket (a re-run uploads only what is missing)
	$(COMPOSE) up -d --wait minio
	@$(DESCRIBE_MINIO)
	$(COMPOSE) run --rm seeder

# One line on which MinIO build runs and which advisories it closes (MinIO only: other stores
# run in the same service).
DESCRIBE_MINIO = $(if $(filter minio,$(STORE)),bash scripts/describe-minio.sh "$$($(COMPOSE) ps -q minio)",true)

# The MinIO image: built from pinned source unless MINIO_IMAGE names another (docs/security.md).
MINIO_IMAGE ?= $(call env-value,MINIO_IMAGE)
export MINIO_IMAGE

# Ranks for `make train`: 1 runs `python -m trainer`; more run it under torchrun in the container.
# Read from .env/.env.local like Compose's settings; the command line or environment wins.
NPROC ?= $(or $(call env-value,NPROC),1)

train: minio-server build ## train on the seeded bucket (make train EPOCHS=2 NUM_WORKERS=4 LOADER=map; NPROC=2: torchrun)
	$(COMPOSE) up -d --wait minio
ifeq ($(NPROC),1)
	$(COMPOSE) run --rm --no-deps trainer $(ARGS)
else
	$(COMPOSE) run --rm --no-deps --entrypoint torchrun trainer --standalone --nproc-per-node $(NPROC) -m trainer $(ARGS)
endif

bench: venv minio-server build ## loaders, the server's ceiling, training per loader, the seeder vs mc mirror, then the object-size sweep (docs/performance.md)
	$(COMPOSE) up -d --wait minio
	$(COMPOSE) run --rm seeder --format both --no-progress
	$(VENV)/bin/python -m trainer.bench $(BENCH_ARGS)
	$(VENV)/bin/python -m seeder.bench $(SEED_BENCH_SOURCE) $(SEED_BENCH_ARGS)
	$(VENV)/bin/python -m trainer.bench.sweep $(SWEEP_ARGS)

bench-sizes: venv minio-server ## every loader at 1 KB to 1 MB objects against the server's ceiling, then ImageNet-like JPEGs decoded (SWEEP_ARGS="--sizes 16KB,1MB --imagenet 0")
	$(COMPOSE) up -d --wait minio
	$(VENV)/bin/python -m trainer.bench.sweep $(SWEEP_ARGS)

# The host reads the IDX files itself: SOURCE_DIR's host path, not the container's /source.
SEED_BENCH_SOURCE = $(if $(SOURCE_DIR),--source $(SOURCE_DIR))

bench-seed: venv minio-server ## the seeder (put, snowball) vs mc mirror on the same PNGs (SEED_BENCH_ARGS="--limit 10000")
	$(COMPOSE) up -d --wait minio
	$(VENV)/bin/python -m seeder.bench $(SEED_BENCH_SOURCE) $(SEED_BENCH_ARGS)

# Run in the trainer's image (make train built it) as your own user, into the same path as on the
# host: copying two files needs no torch install on the host.
REPORT_DIR ?= results
report: ## copy the latest run's report.png and metrics.json to results/ (RUN_ID=...; REPORT_DIR=dir)
	@mkdir -p "$(abspath $(REPORT_DIR))"
	$(COMPOSE) run --rm --user "$$(id -u):$$(id -g)" -e HOME=/tmp -e MPLCONFIGDIR=/tmp \
	  -v "$(abspath $(REPORT_DIR)):$(abspath $(REPORT_DIR))" --entrypoint python trainer \
	  -m trainer.run_report $(if $(RUN_ID),--run-id $(RUN_ID)) --out "$(abspath $(REPORT_DIR))"

# The workshop (docs/workshop.md): MinIO seeded with objects and shards, and JupyterLab.
JUPYTER_PORT ?= $(or $(call env-value,JUPYTER_PORT),8888)
JUPYTER_TOKEN ?= $(call env-value,JUPYTER_TOKEN)

workshop: ## MinIO with the workshop's subset (objects and tar shards) and JupyterLab; prints its URL
	@bash scripts/workshop-token.sh $(LOCAL_ENV)
	@$(MAKE) --no-print-directory workshop-start

# The workshop's own subset under a prefix of its own (docs/workshop.md): sized so that every
# notebook cell finishes within a minute on a 2-core laptop, and apart from make up's full dataset.
WORKSHOP_PREFIX ?= $(call env-value,WORKSHOP_PREFIX)
WORKSHOP_LIMIT ?= $(call env-value,WORKSHOP_LIMIT)
WORKSHOP_DATA := DATA_PREFIX=$(or $(WORKSHOP_PREFIX),workshop) SEED_LIMIT=$(WORKSHOP_LIMIT)

# A make of its own, so that a .env.local written just now is read.
workshop-start: minio-server workshop-image
	$(COMPOSE) up -d --wait minio
	@$(DESCRIBE_MINIO)
	$(WORKSHOP_DATA) $(COMPOSE) run --rm seeder --format both
	$(WORKSHOP_DATA) $(COMPOSE) --profile workshop up -d --wait jupyter
	@echo "JupyterLab: http://127.0.0.1:$(JUPYTER_PORT)/lab?token=$(JUPYTER_TOKEN)"

workshop-down: ## stop JupyterLab (MinIO keeps running; make clean also resets the notebooks' copies)
	$(COMPOSE) --profile workshop stop jupyter

seed: ## run the seeder again against the running MinIO (flags: make seed ARGS="--limit 100")
	$(COMPOSE) run --rm seeder $(ARGS)

down: ## stop the lab, keep the bucket's data
	$(COMPOSE) --profile workshop down --remove-orphans

clean: ## stop the lab and delete its volumes (bucket data, download cache, workshop copies)
	$(COMPOSE) --profile workshop down --volumes --remove-orphans

logs: ## follow the logs of every service
	$(COMPOSE) logs -f

ps: ## show the lab's containers and their health
	$(COMPOSE) --profile workshop ps -a

# Images come from an offline bundle after `make load` (LAB_PREBUILT=1 in .env.local): never built.
# The base image, read only when torch is fetched on the host (scripts/fetch-torch-wheels.sh).
PYTHON_IMAGE ?= $(call env-value,PYTHON_IMAGE)
LAB_PREBUILT ?= $(call env-value,LAB_PREBUILT)
# The tag of the lab's own images (.env); Compose reads it from the same files.
LAB_TAG ?= $(or $(call env-value,LAB_TAG),local)

build: ## build the seeder and trainer images (EXTRA_CA_CERTS=file-or-dir adds CA certificates)
ifeq ($(LAB_PREBUILT),1)
	@bash scripts/bundle.sh check minio-torch-lab/seeder:$(LAB_TAG) minio-torch-lab/trainer:$(LAB_TAG)
else
	@bash scripts/copy-ca-certs.sh "$(EXTRA_CA_CERTS)"
	@bash scripts/fetch-torch-wheels.sh "$(PYTHON_IMAGE)"
	$(COMPOSE) build seeder trainer
endif

workshop-image: build
ifeq ($(LAB_PREBUILT),1)
	@bash scripts/bundle.sh check minio-torch-lab/workshop:$(LAB_TAG)
else
	$(COMPOSE) --profile workshop build jupyter
endif

BUNDLE_DIR ?= dist
bundle: minio-server workshop-image ## one archive of every image + the dataset for offline laptops (SOURCE_DIR=IDX dir; else MNIST)
	@LAB_TAG="$(LAB_TAG)" bash scripts/bundle.sh create "$(BUNDLE_DIR)" "$(SOURCE_DIR)"

# make load puts the bundle's dataset in SOURCE_DIR (default data/); DATA_DIR is its old name.
load: ## on an offline laptop: verify and load a bundle (make load BUNDLE=dist/minio-torch-lab-bundle-....tar)
	$(if $(DATA_DIR),$(warning DATA_DIR is an old name, kept for now: use SOURCE_DIR=$(DATA_DIR)))
	@bash scripts/bundle.sh load "$(BUNDLE)" "$(or $(DATA_DIR),$(SOURCE_DIR),$(CURDIR)/data)" "$(LOCAL_ENV)"

# The 4-node cluster (docker-compose.cluster.yml), a Compose project of its own.
CLUSTER := docker compose -f docker-compose.cluster.yml $(foreach f,$(ENV_FILES),--env-file $(f))
TRAINERS ?= 2

cluster-up: minio-server ## 4-node MinIO (2 drives each, EC:4) + load balancer on 127.0.0.1:9100, seeded
	@bash scripts/copy-ca-certs.sh "$(EXTRA_CA_CERTS)"
	$(CLUSTER) --profile seed build lb seeder
	$(CLUSTER) up -d --wait minio1 minio2 minio3 minio4 lb
	$(CLUSTER) --profile seed run --rm seeder $(ARGS)

cluster-build: ## build the cluster's trainer image (make cluster-train does it first)
	@bash scripts/fetch-torch-wheels.sh "$(PYTHON_IMAGE)"
	$(CLUSTER) --profile train build trainer-head

cluster-train: cluster-build ## TRAINERS containers x NPROC ranks rendezvous with torchrun and train on the cluster
	TRAINERS=$(TRAINERS) NPROC=$(NPROC) bash scripts/cluster-train.sh $(CLUSTER)

cluster-ps: ## the cluster's containers and their health
	$(CLUSTER) --profile seed --profile train ps -a

cluster-down: ## stop the cluster and delete its volumes (its drives)
	$(CLUSTER) --profile seed --profile train down --volumes --remove-orphans

minio-image: ## build the MinIO server image from pinned source (host Go, else a Go image; prints its tag)
	@bash scripts/build-minio-image.sh

# The server's image: the lab's own MinIO image, built once when MINIO_IMAGE names it (skipped for
# any other image), or with STORE another server's, built once from its pinned source.
minio-server: $(TLS_CERTS)
ifeq ($(LAB_PREBUILT),1)
	@bash scripts/bundle.sh check "$(MINIO_IMAGE)"
else ifneq ($(STORE),minio)
	@bash scripts/build-store-image.sh $(STORE) >/dev/null
else
	@case "$(MINIO_IMAGE)" in minio-torch-lab/minio:*) \
	  MINIO_LOCAL_IMAGE="$(MINIO_IMAGE)" bash scripts/build-minio-image.sh >/dev/null ;; esac
endif

# The compatibility matrix (docs/other-s3-servers.md): the conformance suite on every store.
COMPAT_STORES ?= minio,seaweedfs,versitygw,garage
compat: venv ## the conformance suite on each store (COMPAT_STORES=...); the matrix in results/compat.md and .json
	@case "$(MINIO_IMAGE)" in minio-torch-lab/minio:*) \
	  MINIO_LOCAL_IMAGE="$(MINIO_IMAGE)" bash scripts/build-minio-image.sh >/dev/null ;; esac
	$(VENV)/bin/pytest tests/conformance --stores $(COMPAT_STORES) --compat-out results --samples 1000 -p no:cacheprovider $(PYTEST_ARGS)

base-image: ## build a local Python base image with debootstrap (no registry needed)
	@bash scripts/build-base-image.sh $(or $(BASE_TAG),lab-python:bookworm)

venv: $(VENV)/.installed ## create .venv with the project, torch and the test tools

# torch first, by version from its index (outside the lock) and without Triton
# (scripts/torch-deps.py: the lab runs on the CPU), then everything else from the hashed lock
# without resolving again, then the project itself; the check proves they fit. uv (pinned,
# scripts/uv.sh) installs them: from its cache a re-install links files in seconds. uv writes no
# bytecode unless asked, and where PYTHONDONTWRITEBYTECODE is set (as on the CI machine) Python
# writes none either: every process would compile torch's sources again (10 s of CPU in a trainer
# run's 33). So the venv gets its bytecode once, here (about 40 s of CPU).
$(VENV)/.installed: pyproject.toml locks/dev.txt .env scripts/torch-deps.py
	$(PYTHON) -m venv $(VENV)
	@uv=$$(bash scripts/uv.sh) && py=$(VENV)/bin/python && \
	index=(--index-url "$$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple) && set -x && \
	$$uv pip install -q --compile-bytecode --python $$py "$${index[@]}" --no-deps "torch==$(TORCH_VERSION)" && \
	$$py scripts/torch-deps.py requirements >$(VENV)/torch-deps.txt && \
	$$uv pip install -q --compile-bytecode --python $$py "$${index[@]}" -r $(VENV)/torch-deps.txt && \
	$$uv pip install -q --compile-bytecode --python $$py --require-hashes --no-deps -r locks/dev.txt && \
	$$uv pip install -q --python $$py --no-deps -e . && \
	$$py scripts/torch-deps.py check $$uv pip check --python $$py
	@touch $@

tls-certs: ## the lab's CA and MinIO's certificate in build/tls/, for TLS=1 (kept while valid)
	@bash scripts/make-tls.sh

lock: ## rewrite the hashed dependency locks in locks/ from pyproject.toml (UPGRADE=1: newest versions)
	@bash scripts/lock.sh

lock-check: ## fail if a lock in locks/ does not match pyproject.toml
	@bash scripts/lock.sh --check

lint: venv ## ruff: lint and formatting
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: venv ## unit tests (no server)
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

integration: venv minio-server ## integration tests against a real MinIO (built from source the first time)
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

e2e: venv minio-server ## end-to-end tests: build the images and run the Compose stack
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

# The whole suite on TEST_WORKERS pytest-xdist workers (TEST_WORKERS=0: one process). Most tests
# wait on servers and containers, so a worker per core and one more keep 2 cores busy; a test
# module (the Compose tests together) stays on one worker, in the order tests/conftest.py gives.
TEST_WORKERS ?= 3
test: lint lock-check minio-server ## everything CI runs: lint, unit, integration and end-to-end tests (TEST_WORKERS=3)
	$(VENV)/bin/pytest tests $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder) $(PYTEST_ARGS)
