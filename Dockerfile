# kube-thermostat: the shell-operator image with our hook binary in its hooks dir, and nothing else.
#   docker build -t <registry>/kube-thermostat:<version> .
# `make static` checks the pieces without a container runtime: the same cargo build (musl, static, --locked), the
# .dockerignore context, and `--config` run from the path this file copies the binary to.

# Stage 1: a static binary. The musl target links statically by default; ring (TLS) compiles C, so it needs a C
# compiler (gcc ships in this image) and the musl headers.
FROM rust:1.95.0-alpine AS build
# musl-dev comes from the Alpine release the pinned rust image is built on; its version moves with that image.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin kube-thermostat \
 && cp target/x86_64-unknown-linux-musl/release/kube-thermostat /kube-thermostat

# Stage 2: shell-operator v1.20.3 (Alpine; tini -> /shell-operator start; SHELL_OPERATOR_HOOKS_DIR=/hooks and
# LOG_TYPE=json are set by it). Its digest is not recorded here because it could not be looked up where this file
# was written: pin it at release, `FROM ghcr.io/flant/shell-operator:v1.20.3@sha256:<digest>`
# (`docker buildx imagetools inspect ghcr.io/flant/shell-operator:v1.20.3`). tests/it/manifests.rs checks the tag is
# an exact release, never `latest`.
FROM ghcr.io/flant/shell-operator:v1.20.3
# shell-operator runs every executable under /hooks; the binary is the only one (hooks/README.md). Its hook name, the
# `hook` label on its metrics, is the path relative to /hooks: `kube-thermostat`.
COPY --from=build /kube-thermostat /hooks/kube-thermostat
# The debug socket defaults to /var/run/shell-operator, which a non-root user cannot create; /tmp is writable (an
# emptyDir in the Deployment, where the root filesystem is read-only) and already holds shell-operator's tmp dir.
ENV DEBUG_UNIX_SOCKET=/tmp/shell-operator-debug/debug.socket
# Numeric, so the kubelet can enforce runAsNonRoot without reading /etc/passwd.
USER 65532:65532
