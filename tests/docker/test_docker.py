"""The Docker image and docker-compose.yml, built and run for real (`make docker-test`).

Docker Hub cannot be reached here, so the test makes what the images need:
it starts a `dockerd` of its own (no bridge, no iptables, its own data and
exec roots under .docker-test/), imports a Debian bookworm made with
`debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,
ca-certificates` as the Dockerfile's base (its FROM), builds kmcbot's wheels
on the host from requirements.lock and builds the image with `--network
none` (the Dockerfile installs them with --no-index). Stand-ins for the
`postgres` and `redis` images come from a second debootstrap with Debian's
postgresql and redis-server. Everything runs with host networking, so
nothing leaves loopback. The debootstraps and images are kept between runs
(.docker-test/); `make docker-test-clean` removes them.

Then: the image against this machine's PostgreSQL and Redis (/healthz,
/readyz, the HEALTHCHECK turning healthy on a port other than 8080, the
non-root user, a signed "Hi" answered at a Graph stand-in, a clean stop),
and docker-compose.yml brought up with those stand-ins, a signed "Hi"
answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from kmcbot.devtools.standin import GraphStandIn
from kmcbot.messages import Text
from kmcbot.whatsapp import simulate
from kmcbot.whatsapp.signature import sign

pytestmark = pytest.mark.skipif(
    not os.environ.get("KMCBOT_DOCKER_TEST"), reason="run by `make docker-test`"
)

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / ".docker-test"
MIRROR = os.environ.get("KMCBOT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
IMAGE = "kmcbot:docker-test"
STANDINS_BASE = "kmcbot-standins-base"
SECRET = "docker-test-secret"
PEPPER = "docker-test-pepper-2c9d"
PHONE_ID = "12345"
ROOTFS = {  # debootstrap --include, per image
    "base": "python3,python3-venv,python3-pip,ca-certificates",
    "standins": "postgresql,redis-server,ca-certificates",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600, **kw) -> str:
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=timeout, check=False, **kw
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.stdout


async def arun(*args: str, **kw) -> str:
    """`run` in a thread: the Graph stand-in shares this event loop."""
    return await asyncio.to_thread(run, *args, **kw)


def base_tag() -> str:
    """The Dockerfile's FROM: the debootstrap'd image is tagged as it."""
    found = re.search(r"^FROM\s+(\S+)", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    assert found, "the Dockerfile has no FROM"
    return found.group(1)


# ------------------------------------------------------------------ the engine


@pytest.fixture(scope="module")
def docker() -> Iterator[dict[str, str]]:
    """A dockerd of this test's own; the environment that talks to it."""
    for tool in ("dockerd", "docker", "docker-compose", "debootstrap"):
        assert shutil.which(tool), (
            f"{tool} is missing: apt-get install docker.io docker-compose debootstrap"
        )
    WORK.mkdir(exist_ok=True)
    sock = WORK / "docker.sock"
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    log = (WORK / "dockerd.log").open("ab")
    proc = subprocess.Popen(
        [
            "dockerd",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            f"--data-root={WORK / 'data'}",
            f"--exec-root={WORK / 'exec'}",
            f"--host=unix://{sock}",
            f"--pidfile={WORK / 'docker.pid'}",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "info"], env=env, capture_output=True).returncode != 0:
            assert proc.poll() is None, (WORK / "dockerd.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "dockerd did not come up in 60 s"
            time.sleep(0.3)
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def has_image(env: dict[str, str], tag: str) -> bool:
    return (
        subprocess.run(["docker", "image", "inspect", tag], env=env, capture_output=True).returncode
        == 0
    )


@pytest.fixture(scope="module")
def images(docker: dict[str, str]) -> dict[str, str]:
    """The base image, the stand-ins' base, postgres:16 and redis:7 stand-ins, kmcbot's image."""
    wanted = {"base": base_tag(), "standins": STANDINS_BASE}
    missing = {name: tag for name, tag in wanted.items() if not has_image(docker, tag)}
    # The debootstraps (the slow part) side by side, each once per machine.
    builds = {}
    for name in missing:
        rootfs = WORK / "cache" / f"{name}-rootfs"
        if not (rootfs / "etc" / "debian_version").exists() or not (rootfs / "usr/bin").exists():
            shutil.rmtree(rootfs, ignore_errors=True)
            rootfs.parent.mkdir(parents=True, exist_ok=True)
            builds[name] = subprocess.Popen(
                ["debootstrap", "--variant=minbase", f"--include={ROOTFS[name]}", "bookworm",
                 str(rootfs), MIRROR],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
    for name, proc in builds.items():
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"debootstrap {name}: {out[-3000:]}"
    for name, tag in missing.items():
        rootfs = WORK / "cache" / f"{name}-rootfs"
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        run("docker", "import", "-", tag, env=docker, stdin=tar.stdout)
        assert tar.wait() == 0
    for name, tag in (("postgres", "postgres:16"), ("redis", "redis:7")):
        run("docker", "build", "--network", "none", "-q", "-t", tag,
            str(REPO / "tests" / "docker" / "standins" / name), env=docker)  # fmt: skip
    built = run(
        "docker", "build", "--network", "none", "-t", IMAGE, str(build_context()), env=docker
    )
    assert "useradd warning" not in built, built  # uid 10001 is no --system account
    return {"base": wanted["base"], "image": IMAGE}


def build_context() -> Path:
    """What the Dockerfile copies, and the wheels: kmcbot's locked dependencies and
    kmcbot itself, built on the host (the image installs them with --no-index)."""
    ctx = WORK / "context"
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir(parents=True)
    for name in (
        "Dockerfile",
        ".dockerignore",
        "requirements.lock",
        "pyproject.toml",
        "setup.py",
        "README.md",
    ):
        shutil.copy2(REPO / name, ctx / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("kmcbot", "sql", "wheels"):
        shutil.copytree(REPO / name, ctx / name, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(ctx / "wheels")]
    lock = REPO / "requirements.lock"
    run(*pip, "--require-hashes", "-r", str(lock))
    # Pins whose marker is false here may be true in the image (async-timeout for
    # bookworm's Python 3.11.2): those too. The image checks every hash.
    marked = re.findall(r"^([A-Za-z0-9_.-]+==[^\s;]+)\s*;", lock.read_text(), re.MULTILINE)
    if marked:
        run(*pip, "--no-deps", *marked)
    run(*pip, "--no-deps", str(ctx))
    return ctx


# ------------------------------------------------------------------ helpers


def host_networked_compose() -> Path:
    """docker-compose.yml without its one `ports:` mapping, which Docker refuses
    with host networking (where the container's port is the host's, KMCBOT_PORT),
    and which an override file cannot remove; everything else as shipped."""
    shipped = (REPO / "docker-compose.yml").read_text()
    copy, removed = re.subn(r"^ +ports:\n(?: +- .*\n)+", "", shipped, flags=re.MULTILINE)
    assert removed == 1, "docker-compose.yml should publish exactly one port"
    path = WORK / "compose" / "docker-compose.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(copy)
    return path


async def get(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json(content_type=None)


async def until_ok(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(aiohttp.ClientError, OSError, ValueError):
            if (await get(url))[0] == 200:
                return
        assert time.monotonic() < deadline, f"{url} not 200 within {timeout} s"
        await asyncio.sleep(0.5)


async def say_hi(base: str, wa_id: str) -> int:
    raw = orjson.dumps(
        simulate.payload([simulate.message(wa_id, Text("Hi"))], phone_number_id=PHONE_ID)
    )
    headers = {
        "X-Hub-Signature-256": sign(SECRET.encode(), raw),
        "Content-Type": "application/json",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/webhook", data=raw, headers=headers) as resp,
    ):
        return resp.status


def bot_env(standin_url: str, port: int) -> dict[str, str]:
    return {
        "KMCBOT_APP_SECRET": SECRET,
        "KMCBOT_ID_PEPPER": PEPPER,
        # serve refuses to start without it outside dev mode (the staff console's cookies)
        "KMCBOT_STAFF_SECRET": "docker-test-staff-secret-0123456789abcdef",
        "KMCBOT_WA_TOKEN": "docker-test-token",
        "KMCBOT_WA_PHONE_NUMBER_ID": PHONE_ID,
        "KMCBOT_GRAPH_URL": standin_url,
        "KMCBOT_SEND_RATE": "100",
        "KMCBOT_PORT": str(port),
    }


@pytest.fixture
async def standin(aiohttp_server) -> GraphStandIn:
    fake = GraphStandIn(token="docker-test-token")
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    fake.url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return fake


# ------------------------------------------------------------------ the tests


async def test_the_image_against_this_machines_postgres_and_redis(
    docker, images, standin, pg_url, redis_url
) -> None:
    port = free_port()  # not 8080: the health check must follow KMCBOT_PORT
    name = f"kmcbot-docker-test-{os.getpid()}"
    env = {
        **bot_env(standin.url, port),
        "KMCBOT_DATABASE_URL": pg_url,
        "KMCBOT_REDIS_URL": redis_url,
    }
    args = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
    health = ["--health-interval", "1s", "--health-start-period", "60s"]
    await arun(
        "docker", "run", "-d", "--name", name, "--network", "host", *health, *args, IMAGE,
        env=docker,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        await until_ok(f"{base}/healthz")
        assert await get(f"{base}/healthz") == (200, {"status": "ok"})
        status, ready = await get(f"{base}/readyz")
        assert status == 200 and ready["ready"] is True, ready

        deadline = time.monotonic() + 30
        while (health := (await arun("docker", "inspect", "-f", "{{.State.Health.Status}}", name,
                             env=docker)).strip()) != "healthy":  # fmt: skip
            assert health == "starting" and time.monotonic() < deadline, health
            await asyncio.sleep(0.5)

        assert (
            await arun("docker", "inspect", "-f", "{{.Config.User}}", name, env=docker)
        ).strip() == "10001:10001"
        assert (await arun("docker", "exec", name, "id", "-u", env=docker)).strip() == "10001"
        # PID 1 is kmcbot itself (exec), and it runs as 10001 too.
        status_of_1 = await arun("docker", "exec", name, "cat", "/proc/1/status", env=docker)
        assert re.search(r"^Uid:\s+10001\s", status_of_1, re.MULTILINE), status_of_1
        assert "kmcbot" in await arun("docker", "exec", name, "cat", "/proc/1/cmdline", env=docker)

        assert await say_hi(base, "919800000501") == 200
        [welcome] = await standin.wait_for("919800000501", 1, timeout=15)
        assert welcome["type"] == "interactive"

        await arun("docker", "stop", "-t", "30", name, env=docker)
        assert (
            await arun("docker", "inspect", "-f", "{{.State.ExitCode}}", name, env=docker)
        ).strip() == "0"
    finally:
        logs = await asyncio.to_thread(
            subprocess.run, ["docker", "logs", name], env=docker, capture_output=True, text=True
        )
        await asyncio.to_thread(
            subprocess.run, ["docker", "rm", "-f", name], env=docker, capture_output=True
        )
        print(logs.stderr[-2000:])


async def test_docker_compose_up_answers_a_signed_hi(docker, images, standin) -> None:
    port = free_port()
    env = {
        **docker,
        **bot_env(standin.url, port),
        "KMCBOT_DB_PASSWORD": "docker-test-db-password",
        "KMCBOT_VERIFY_TOKEN": "docker-test-verify",
        "KMCBOT_ADMIN_TOKEN": "docker-test-admin",
        "KMCBOT_TEST_PG_PORT": str(free_port()),
        "KMCBOT_TEST_REDIS_PORT": str(free_port()),
        "KMCBOT_TEST_IMAGE": IMAGE,
    }
    compose = ["docker-compose", "-p", f"kmcbotdockertest{os.getpid()}",
               "-f", str(host_networked_compose()),
               "-f", str(REPO / "tests" / "docker" / "compose.host.yml")]  # fmt: skip
    try:
        await arun(*compose, "up", "-d", "--no-build", env=env, timeout=300)
        base = f"http://127.0.0.1:{port}"
        await until_ok(f"{base}/readyz", timeout=120)
        assert await say_hi(base, "919800000502") == 200
        [welcome] = await standin.wait_for("919800000502", 1, timeout=15)
        assert welcome["type"] == "interactive"
    finally:
        logs = await asyncio.to_thread(
            subprocess.run,
            [*compose, "logs", "--no-color"],
            env=env,
            capture_output=True,
            text=True,
        )
        await asyncio.to_thread(
            subprocess.run,
            [*compose, "down", "-v", "-t", "30"],
            env=env,
            capture_output=True,
            timeout=120,
        )
        print(logs.stdout[-3000:])
