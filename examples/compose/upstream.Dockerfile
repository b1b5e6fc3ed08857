# The example application behind the gateways (examples/upstream): a
# handler that verifies signatures itself and logs what it receives. It
# listens on 127.0.0.1:9090 unless given -addr (compose.yaml gives -addr
# :9090; as a sidecar's application it keeps the loopback default).
#
# Build context: the repository root. Build arguments as in the main
# Dockerfile: BASE_IMAGE (distroless by default, or scratch) and BINARY
# (build, or prebuilt: a static ./upstream in the context, e.g.
# CGO_ENABLED=0 go build -o upstream ./examples/upstream).
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot
ARG BINARY=build

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /rootfs/usr/bin/upstream ./examples/upstream

FROM scratch AS prebuilt
COPY upstream /rootfs/usr/bin/upstream

FROM ${BINARY} AS binary

FROM ${BASE_IMAGE}
COPY --from=binary /rootfs/usr/bin/upstream /usr/bin/upstream
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/bin/upstream"]
