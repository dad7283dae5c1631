# Builds the operator image. No container engine runs on the project's development
# machines: images are built elsewhere (a CI runner or a workstation with Docker/Podman).

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

RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o manager .

# A minimal base with no shell and no package manager; runs as a non-root user.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
