# syntax=docker/dockerfile:1
# The worker's container image: a static binary on distroless, non-root.
# The build command is `make static`'s (deploy/k8s/manifests_test.go checks
# that they agree).
#
#   docker build -t ghcr.io/onec-connect/connect-bridge:0.1.0 .

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd/ cmd/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags='-s -w' -o /out/worker ./cmd/worker

# ca-certificates for the API's TLS, tzdata for QUOTA_TZ, the nonroot user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /worker
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/worker"]
