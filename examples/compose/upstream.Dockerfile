# The example application behind the gateways (examples/upstream): a
# handler that verifies signatures itself and logs what it receives. It
# listens on 127.0.0.1:9090 unless given -addr (compose.yaml gives -addr
# :9090; as a sidecar's application it keeps the loopback default).
#
# Build context: the repository root. As in the main Dockerfile, BASE_IMAGE
# is distroless by default (scratch works too), and --target prebuilt takes
# a static ./upstream from the context instead of compiling it
# (CGO_ENABLED=0 go build -o upstream ./examples/upstream).
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/upstream ./examples/upstream

FROM ${BASE_IMAGE} AS runtime
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/bin/upstream"]

FROM runtime AS prebuilt
COPY upstream /usr/bin/upstream

# The default target, built from source.
FROM runtime
COPY --from=build /out/upstream /usr/bin/upstream
