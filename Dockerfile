# syntax=docker/dockerfile:1
#
# Tollgate's container image: the binary is built from this checkout in the first stage and
# runs in the second, a distroless image with only the C runtime, as a non-root user.
#
#   docker build -t tollgate .
#   docker run -p 8000:8000 -v tollgate-data:/var/lib/tollgate tollgate
#
# SQLite lives in /var/lib/tollgate unless TOLLGATE_DATABASE_URL names PostgreSQL. Choose the
# operator key with TOLLGATE_BOOTSTRAP_API_KEY, or the first start prints a random one to the
# container's log. compose.yaml runs PostgreSQL and two instances. Everything Tollgate needs is compiled in (SQLite, rustls and its root
# certificates), so the runtime stage needs no packages.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tollgate \
    && install -D target/release/tollgate /out/usr/local/bin/tollgate \
    && mkdir -p /out/var/lib/tollgate/shared

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/tollgate /usr/local/bin/tollgate
COPY --from=build --chown=65532:65532 /out/var/lib/tollgate /var/lib/tollgate
USER 65532:65532
WORKDIR /var/lib/tollgate
ENV TOLLGATE_LISTEN=0.0.0.0:8000 \
    TOLLGATE_DATA_DIR=/var/lib/tollgate
EXPOSE 8000
VOLUME ["/var/lib/tollgate"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/tollgate", "health"]
ENTRYPOINT ["/usr/local/bin/tollgate"]
CMD ["serve"]
