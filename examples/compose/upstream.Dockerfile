# The example application behind the gateways (examples/upstream).
# Build context: the repository root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -buildvcs=false -trimpath -o /out/upstream ./examples/upstream

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/upstream /usr/bin/upstream
EXPOSE 9090
ENTRYPOINT ["/usr/bin/upstream", "-addr", ":9090"]
