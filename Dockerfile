# scgate: Caddy with the standard modules and the screenshotcenter_webhook
# handler. Build from the repository root:
#
#   docker build -t scgate .
#   docker run --rm -p 8080:8080 -v $PWD/Caddyfile.example:/etc/caddy/Caddyfile:ro \
#     -e SCREENSHOTCENTER_WEBHOOK_SECRET=... scgate

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -buildvcs=false -trimpath -ldflags="-s -w" -o /out/scgate ./cmd/scgate \
 && mkdir -p /out/data /out/config

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/scgate /usr/bin/scgate
# Caddy's data (and a memory dedupe snapshot, if you put one there) and
# config directories, writable by the nonroot user; mount volumes here.
COPY --from=build --chown=nonroot:nonroot /out/data /data
COPY --from=build --chown=nonroot:nonroot /out/config /config
ENV XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/bin/scgate"]
CMD ["run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
