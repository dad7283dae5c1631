# Builds the operator image with a container engine. The release image is built without
# one by `make release` (hack/release); this Dockerfile builds the same layout: a static
# manager at /manager, /etc/passwd and /etc/group naming user 65532, an empty /tmp, no
# shell, no base image (CA roots are inside the binary). hack/release's tests check that
# it says the same as the release builder.

# Build a static manager binary.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev

WORKDIR /workspace
# Copy the Go module manifests first, so that dependencies are cached in their own layer.
COPY go.mod go.sum ./
RUN go mod download

# Copy only the operator's sources (.dockerignore keeps tests and tooling out).
COPY main.go ./
COPY api/ api/
COPY internal/ internal/

# The release build's flags: no paths, no VCS stamp, no build ID (reproducible).
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} GOFLAGS= GOAMD64=v1 GOARM64=v8.0 \
    go build -trimpath -buildvcs=false -ldflags "-s -w -buildid= -X main.version=${VERSION}" -o manager .

# The image's files, as hack/release writes them.
RUN mkdir -p rootfs/etc rootfs/tmp && chmod 1777 rootfs/tmp && \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > rootfs/etc/passwd && \
    printf 'root:x:0:\nnonroot:x:65532:\n' > rootfs/etc/group && \
    cp manager rootfs/manager

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
COPY --from=builder /workspace/rootfs/ /
LABEL org.opencontainers.image.title=vpnuser-operator \
      org.opencontainers.image.description="Manages the users of Huawei Cloud P2C VPN servers as VpnUser objects" \
      org.opencontainers.image.licenses=Apache-2.0 \
      org.opencontainers.image.source=https://github.com/vpnuser-operator/vpnuser-operator \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.revision=${REVISION} \
      org.opencontainers.image.created=${CREATED}
WORKDIR /
USER 65532:65532

ENTRYPOINT ["/manager"]
