# tallinnd image: built with the same scripts/install-deps and Makefile that
# CI runs, so what CI proves is what the image runs.
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps
COPY . .
RUN make build

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libgrpc29 libprotobuf-c1 libsodium23 libsqlite3-0 libjansson4 libinih1 \
      libmicrohttpd12 libcurl4 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/tallinn --create-home --shell /usr/sbin/nologin tallinn
COPY --from=build /src/build/bin/tallinnd /src/build/bin/tallinnctl /src/build/bin/tallinn-audit /usr/local/bin/
USER tallinn
VOLUME /var/lib/tallinn
EXPOSE 50051
# TLS is the default: mount /etc/tallinn/ with tls.crt and tls.key (a
# certificate valid for "localhost" too, for the health check) and ca.crt
# (the CA that signed it). Initialise the volume once:
#   docker run --rm -v tallinn:/var/lib/tallinn IMAGE init --data-dir /var/lib/tallinn/data
HEALTHCHECK --interval=30s --timeout=5s CMD ["tallinnctl", "--addr", "localhost:50051", "--ca", "/etc/tallinn/ca.crt", "health"]
ENTRYPOINT ["tallinnd"]
CMD ["--data-dir", "/var/lib/tallinn/data", "--listen", "0.0.0.0:50051", "--tls-cert", "/etc/tallinn/tls.crt", "--tls-key", "/etc/tallinn/tls.key"]
