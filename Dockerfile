# scgate: Caddy with the standard modules and the scgate plugin, as a small
# image that runs as a non-root user (65532) without a shell. From the
# repository root:
#
#   docker build -t scgate --build-arg SCGATE_VERSION=$(git describe --tags --always --dirty) .
#   docker run --rm -p 8080:8080 -v $PWD/Caddyfile.example:/etc/caddy/Caddyfile:ro \
#     -e SCREENSHOTCENTER_WEBHOOK_SECRET=... scgate
#
# podman build works the same; add --format docker to keep the HEALTHCHECK
# (the OCI image format has no health checks).
#
# Build arguments:
#   BASE_IMAGE      the runtime base. Default gcr.io/distroless/static-debian12:nonroot;
#                   scratch works too: the image brings its own /etc/passwd,
#                   /etc/group (root, nobody and nonroot, as in distroless) and
#                   CA certificates.
#   SCGATE_VERSION  what `scgate version` names as scgate's version (the
#                   context has no .git, so the build records no revision).
#
# --target prebuilt takes a static binary from the build context instead of
# compiling it (no golang image needed). The context then holds rootfs/ as
# the build stage lays it out: rootfs/usr/bin/scgate (CGO_ENABLED=0 go build),
# rootfs/etc/{passwd,group} (from container/etc), rootfs/etc/ssl/certs/
# ca-certificates.crt and empty rootfs/data and rootfs/config. The tests in
# integration/containers build the image so, with BASE_IMAGE=scratch:
#
#   podman build --target prebuilt --build-arg BASE_IMAGE=scratch -f Dockerfile <context>

ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

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

# What every scgate image is, whichever way its files come in.
FROM ${BASE_IMAGE} AS runtime
# Caddy's data (certificates, locks; a memory dedupe snapshot or the
# sender's outbox if you put them there) and config (autosave.json)
# directories, writable by the user below; mount volumes there.
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

FROM runtime AS prebuilt
COPY rootfs/etc/ /etc/
COPY rootfs/usr/bin/scgate /usr/bin/scgate
COPY --chown=65532:65532 rootfs/data /data
COPY --chown=65532:65532 rootfs/config /config

# The default target: the same files, built from source.
FROM runtime
COPY --from=build /rootfs/etc/ /etc/
COPY --from=build /rootfs/usr/bin/scgate /usr/bin/scgate
COPY --from=build --chown=65532:65532 /rootfs/data /data
COPY --from=build --chown=65532:65532 /rootfs/config /config
