"""Processes of `kmcbot serve`: the parent of --workers N, and the stop of each worker.

The parent forwards SIGTERM/SIGINT to its workers and waits for them; a worker
that ends by itself ends the service (exit 1), so that the supervisor above
(Docker, systemd, Kubernetes) restarts it whole rather than it running
short-handed. Each worker stops within STOP_S of being told to, and stops by
itself if its parent is gone: a worker serving on unsupervised keeps its
outbox lease and sends replies nobody can stop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time

import structlog

log = structlog.get_logger()

# A worker gets this long to finish its requests and stop its sender.
STOP_S = 20


class _Stop(Exception):
    """SIGTERM or SIGINT reached the parent of the workers."""


def _stop(signum: int, frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def supervise(procs: list[multiprocessing.Process]) -> bool:
    """Start the workers, wait for a signal or for one to end, then stop them all;
    False if a worker ended by itself."""
    for p in procs:
        p.start()
    # Installed only now: the workers were forked with the default handlers.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        multiprocessing.connection.wait([p.sentinel for p in procs])
        ended = next(p for p in procs if not p.is_alive())
        log.error("worker_exited", pid=ended.pid, exitcode=ended.exitcode)
        return False
    except _Stop as why:
        log.info("stopping", signal=str(why), workers=len(procs))
        return True
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for p in procs:
            p.terminate()  # SIGTERM: aiohttp's graceful shutdown in each worker
        for p in procs:
            p.join(STOP_S + 5)  # it exits by itself after STOP_S (watch_the_stop)
            if p.is_alive():
                log.warning("worker_killed", pid=p.pid)
                p.kill()
                p.join()


def watch_the_stop(loop: asyncio.AbstractEventLoop) -> threading.Event:
    """In a serving process: a thread that ends it STOP_S after the returned event
    is set (the app's shutdown sets it), naming the tasks that held it up; in a
    worker, it also starts the stop when the parent is gone."""
    stopping = threading.Event()
    parent = multiprocessing.parent_process()
    parent_pid = parent.pid if parent is not None else None

    def watch() -> None:
        while not stopping.wait(0.5):
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("parent_gone")
                os.kill(os.getpid(), signal.SIGTERM)  # the graceful stop first
                break
        time.sleep(STOP_S)
        pending = [f"{t.get_name()} at {_where(t)}" for t in asyncio.all_tasks(loop)]
        log.error("stop_timeout", seconds=STOP_S, pending=pending[:20])
        os._exit(1)

    threading.Thread(target=watch, name="stop-watch", daemon=True).start()
    return stopping


def _where(task: asyncio.Task[object]) -> str:
    """The innermost line a task waits at."""
    where, coro = "?", task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None)
        if frame is not None:
            where = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
        coro = getattr(coro, "cr_await", None)
    return where
