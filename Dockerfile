# scgate: Caddy with the standard modules and the scgate plugin, as a small
# image that runs as a non-root user (65532) without a shell. From the
# repository root:
#
#   docker build -t scgate --build-arg SCGATE_VERSION=$(git describe --tags --always --dirty) .
#   docker run --rm -p 8080:8080 -v $PWD/Caddyfile.example:/etc/caddy/Caddyfile:ro \
#     -e SCREENSHOTCENTER_WEBHOOK_SECRET=... scgate
#
# podman build works the same; add --format docker to keep the HEALTHCHECK
# (the OCI image format has no health checks). Unused stages are skipped, as
# BuildKit (Docker's builder since Engine 23) and Buildah do.
#
# Build arguments:
#   BASE_IMAGE      the runtime base. Default gcr.io/distroless/static-debian12:nonroot;
#                   scratch works too: the image brings its own /etc/passwd,
#                   /etc/group (root, nobody and nonroot, as in distroless) and
#                   CA certificates.
#   BINARY          build (default): compile scgate in the golang stage.
#                   prebuilt: take a static binary from the build context
#                   instead (no golang image needed), laid out like this
#                   repository: ./scgate, ./container/etc/{passwd,group} and
#                   ./container/ca-certificates.crt, e.g.
#                     CGO_ENABLED=0 go build -o scgate ./cmd/scgate
#                     cp /etc/ssl/certs/ca-certificates.crt container/
#                     docker build --build-arg BINARY=prebuilt --build-arg BASE_IMAGE=scratch -t scgate .
#                   The tests in integration/containers build the image so.
#   SCGATE_VERSION  what `scgate version` names as scgate's version (the
#                   context has no .git, so the build records no revision).

ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot
ARG BINARY=build

# Every BINARY stage lays out /rootfs the same way for the final stage.
FROM golang:1.26 AS build
ARG SCGATE_VERSION=
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${SCGATE_VERSION}" \
      -o /rootfs/usr/bin/scgate ./cmd/scgate \
 && mkdir -p /rootfs/etc/ssl/certs /rootfs/data /rootfs/config \
 && cp container/etc/passwd container/etc/group /rootfs/etc/ \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/

FROM scratch AS prebuilt
# The context holds rootfs/ laid out as the build stage lays it out.
COPY rootfs/ /rootfs/

FROM ${BINARY} AS binary

FROM ${BASE_IMAGE}
COPY --from=binary /rootfs/etc/ /etc/
COPY --from=binary /rootfs/usr/bin/scgate /usr/bin/scgate
# Caddy's data (certificates, locks; a memory dedupe snapshot or the
# sender's outbox if you put them there) and config (autosave.json)
# directories, writable by the user below; mount volumes here.
COPY --from=binary --chown=65532:65532 /rootfs/data /data
COPY --from=binary --chown=65532:65532 /rootfs/config /config
ENV XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532
EXPOSE 8080
# No shell needed: scgate asks its own admin endpoint (localhost:2019, or
# $CADDY_ADMIN); add --url to ask a route of your site instead.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
  CMD ["/usr/bin/scgate", "healthcheck"]
ENTRYPOINT ["/usr/bin/scgate"]
CMD ["run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
