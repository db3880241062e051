# volley's container image: what `volley k8s` pods run (`docker build -t volley:0.1.0 .`).
# Stage 1 builds the binary from this tree with the pinned Cargo.lock; stage 2 is a slim
# Debian with the binary alone. Nothing is fetched when the container runs.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin volley \
    && install -m 0755 target/release/volley /usr/local/bin/volley

FROM debian:bookworm-slim
# rustls carries its own roots (webpki-roots), so no ca-certificates are needed.
COPY --from=build /usr/local/bin/volley /usr/local/bin/volley
# A numeric non-root user, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["volley"]
