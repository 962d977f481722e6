# syntax=docker/dockerfile:1
# Chorus server image: the builder runs scripts/install exactly as CI does on a bare Debian
# bookworm machine (tests/deploy/check_install.sh); the runtime stage holds only the installed
# prefix and its shared libraries, and runs as the non-root user `chorus`.
#
#   docker build -t chorus-server .
#   docker run -p 8080:8080 -v chorus-data:/var/lib/chorus chorus-server
#
# See docs/self-hosting.md for every setting (CHORUS_DATABASE_URL, CHORUS_MASTER_KEY, TLS, ...).

# Node.js >= 20.19 for the editor's build (Debian bookworm ships 18).
FROM node:22-bookworm-slim AS node

FROM debian:bookworm AS builder
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
WORKDIR /src
COPY . .
RUN scripts/install --prefix /opt/chorus --build-dir /tmp/chorus-build --jobs "$(nproc)"

FROM debian:bookworm-slim AS runtime
COPY scripts/install /tmp/chorus-install
RUN /tmp/chorus-install --runtime-deps \
 && rm -rf /var/lib/apt/lists/* /tmp/chorus-install \
 && groupadd --system chorus \
 && useradd --system --gid chorus --home-dir /var/lib/chorus --shell /usr/sbin/nologin chorus \
 && mkdir -p /var/lib/chorus \
 && chown chorus:chorus /var/lib/chorus
COPY --from=builder /opt/chorus /opt/chorus
COPY deploy/healthcheck.sh /opt/chorus/bin/chorus-healthcheck

# Defaults: listen on every interface of the container, SQLite in the data volume (its master key
# file is created beside it on first start). Set CHORUS_DATABASE_URL=postgres://... and
# CHORUS_MASTER_KEY for PostgreSQL (docker-compose.yml).
ENV PATH=/opt/chorus/bin:$PATH \
    CHORUS_HOST=0.0.0.0 \
    CHORUS_PORT=8080 \
    CHORUS_DATABASE_URL=/var/lib/chorus/chorus.db
VOLUME /var/lib/chorus
WORKDIR /var/lib/chorus
USER chorus
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["chorus-healthcheck"]
ENTRYPOINT ["chorus-server"]
