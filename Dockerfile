# Milvus Edge container image: the static milvus-edge binary on distroless,
# with the calls module Envoy loads (/usr/local/lib/milvus-edge: docker
# compose shares that folder with the envoy container through a volume).
# Both base images are pinned by exact tag; bump them deliberately.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOOS=linux GOFLAGS="-trimpath -buildvcs=false"
# Dependencies first, so source edits do not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -ldflags="-s -w" -o /out/milvus-edge ./cmd/milvus-edge
RUN scripts/build-calls-module.sh /out/libmilvus_edge_calls.so

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/milvus-edge /milvus-edge
COPY --from=build /out/libmilvus_edge_calls.so /usr/local/lib/milvus-edge/libmilvus_edge_calls.so
USER nonroot:nonroot
# 18000 xDS (ADS), 18001 ext_authz/ext_proc, 18002 admin API.
EXPOSE 18000 18001 18002
ENTRYPOINT ["/milvus-edge"]
CMD ["serve", "--config", "/etc/milvus-edge/config.yaml"]
