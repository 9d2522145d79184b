# MinIO server (+ mc for the healthcheck) built from pinned source and the lab's patches inside
# Docker, for machines that can pull a Go image but have no Go: `make minio-image` uses it when
# `go` is not on the host. (Where nothing can be pulled, scripts/build-minio-image.sh builds the
# same binaries with the host's Go and wraps them with docker/minio/Dockerfile.) Both paths prepare
# the source with scripts/minio-source.sh. The build context is the repository, so the extra CA
# certificates in certs/ reach the Go module download (corporate proxies).
ARG GO_IMAGE=golang:1.24-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${GO_IMAGE} AS build
ARG MINIO_MODULE_VERSION
ARG MC_MODULE_VERSION
ARG MINIO_PATCHES=/src/patches
ARG LDFLAGS
COPY certs/ /tmp/extra-ca/
RUN find /tmp/extra-ca -name '*.crt' -exec cp {} /usr/local/share/ca-certificates/ \; \
    && update-ca-certificates >/dev/null
COPY docker/minio/patches/ /src/patches/
COPY scripts/minio-source.sh /src/
ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOBIN=/out
RUN bash /src/minio-source.sh "${MINIO_MODULE_VERSION}" /src/minio "${MINIO_PATCHES}" \
    && cd /src/minio && go build -ldflags "${LDFLAGS}" -o /out/minio . \
    && go install -ldflags "-s -w" "github.com/minio/mc@${MC_MODULE_VERSION}"

FROM ${BASE_IMAGE}
COPY --from=build /out/minio /out/mc /usr/local/bin/
# MinIO's own images run `minio` as the entrypoint; testcontainers' MinioContainer relies on it.
ENV MINIO_VOLUMES=/data
EXPOSE 9000 9001
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/minio"]
CMD ["server", "/data", "--console-address", ":9001"]
