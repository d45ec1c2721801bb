# tallinnd image: built with the same scripts/install-deps and Makefile that
# CI runs, so what CI proves is what the image runs; installed with
# `make install` like any host. docs/operations.md: running it, first start,
# stopping, upgrades. No Docker engine runs on the development machines:
# tests/integration/docker_test.py checks what can be checked without one
# (.dockerignore, the runtime packages against ldd, the entrypoint, this file's
# flags).
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps
COPY . .
RUN make build && make install PREFIX=/usr/local DESTDIR=/staging

FROM debian:bookworm-slim
# Every shared library the three binaries link (ldd), by Debian package; the
# -dev packages in scripts/install-deps bring the same ones to the build.
# (libmicrohttpd12: tallinnd's --metrics-listen and the witness; libjansson4:
# JSON, including tallinnd's --log-format json.)
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libgrpc29 libprotobuf-c1 libsodium23 libsqlite3-0 libjansson4 libinih1 libsystemd0 \
      libmicrohttpd12 libcurl4 libpq5 libxml2 libicu72 libmagic1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tallinn \
 && useradd --system --uid 10001 --gid tallinn --home-dir /var/lib/tallinn --create-home \
      --shell /usr/sbin/nologin tallinn
COPY --from=build /staging/usr/local/ /usr/local/
USER tallinn
WORKDIR /var/lib/tallinn
VOLUME /var/lib/tallinn
EXPOSE 50051
# TLS is the default: mount /etc/tallinn/ with tls.crt and tls.key (readable
# by uid 10001; a certificate valid for "localhost" too, for the health check)
# and ca.crt (the CA that signed it).
# First start: the entrypoint initialises /var/lib/tallinn/data when it is
# absent or empty (never an existing one), printing the audit log's verifier
# key; the ADMIN token is then in /var/lib/tallinn/data/admin.token. Set
# TALLINN_ORIGIN (e.g. tallinn.example.org/tallinn) for the log's origin,
# which never changes afterwards: the default is the container's host name.
# Stopping: SIGTERM drains calls for --grace-ms (8 s here) within docker
# stop's default 10 s; give --grace-ms more only with docker stop -t /
# docker run --stop-timeout / compose stop_grace_period above it.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s CMD ["tallinnctl", "--addr", "localhost:50051", "--ca", "/etc/tallinn/ca.crt", "health"]
ENTRYPOINT ["/usr/local/libexec/tallinn/docker-entrypoint"]
CMD ["--data-dir", "/var/lib/tallinn/data", "--listen", "[::]:50051", "--tls-cert", "/etc/tallinn/tls.crt", "--tls-key", "/etc/tallinn/tls.key", "--grace-ms", "8000"]
