"""Embedded PostgreSQL (pgserver): started, shared and stopped as the package docstring says."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import re
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kmcbot.devtools.embedded import (
    STOP_TIMEOUT,
    Embedded,
    Entry,
    prepare,
    process_alive,
    prune_dead_pids,
    refs_lock,
    stop_once,
)

DATABASE = "kmcbot"


_pg: dict[Path, Entry] = {}


def start_postgres(base_dir: Path) -> Embedded:
    """Start (or join) the embedded PostgreSQL in `base_dir/pg`; the URL names database kmcbot.

    Synchronous; call it before the event loop starts (it also works inside a
    running loop: the database check runs on a thread of its own).
    """
    pgdata = prepare(base_dir) / "pg"
    with refs_lock:
        entry = _pg.get(pgdata)
        if entry is None:
            entry = Entry(_open_postgres(pgdata))
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

    return Embedded(url=url, stop=stop_once(release))


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
            prune_dead_pids(pgdata / ".handle_pids.json")
        _wait_for_zombie_postmaster(pgdata / "postmaster.pid")
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        _ensure_database(_postgres_url(server, "postgres"), DATABASE)
    except BaseException:
        with contextlib.suppress(Exception):  # keep the original error
            _close_postgres(server)
        raise
    return server


def _wait_for_zombie_postmaster(pidfile: Path, timeout: float = STOP_TIMEOUT) -> None:
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
    if info is not None and info.is_running() and process_alive(info.pid):
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
    if not socket_dir or not process_alive(pid):
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
