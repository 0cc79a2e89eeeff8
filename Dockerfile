# Milvus Edge container images: the static milvus-edge binary on distroless
# (the default target), and Envoy with the edge's calls filter module
# (target envoy: Envoy loads it from /usr/local/lib/milvus-edge, the path the
# compose config gives edge.calls_module). Every base image is pinned by
# exact tag; bump them deliberately.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOOS=linux GOFLAGS="-trimpath -buildvcs=false"
# Dependencies first, so source edits do not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -ldflags="-s -w" -o /out/milvus-edge ./cmd/milvus-edge
RUN scripts/build-calls-module.sh /out/libmilvus_edge_calls.so

FROM envoyproxy/envoy:v1.40.0 AS envoy
COPY --from=build /out/libmilvus_edge_calls.so /usr/local/lib/milvus-edge/libmilvus_edge_calls.so

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/milvus-edge /milvus-edge
USER nonroot:nonroot
# 18000 xDS (ADS), 18001 ext_authz/ext_proc, 18002 admin API.
EXPOSE 18000 18001 18002
ENTRYPOINT ["/milvus-edge"]
CMD ["serve", "--config", "/etc/milvus-edge/config.yaml"]
