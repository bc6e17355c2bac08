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
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from typing import Any, cast

import structlog
from aiohttp.web_runner import GracefulExit

log = structlog.get_logger()

# A serving process gets this long to stop (finish its requests, stop its
# sender and notices: app.py's stop timeouts add up to less).
STOP_S = 20
# aiohttp's wait for requests in progress at a stop (its default is 60 s).
SHUTDOWN_S = 5


class _Stop(Exception):
    """SIGTERM or SIGINT reached the parent of the workers."""


def _stop(signum: int, frame: object) -> None:
    # Later signals change nothing, and must not interrupt the stop itself.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise _Stop(signal.Signals(signum).name)


def supervise(procs: list[multiprocessing.Process]) -> bool:
    """Start the workers, wait for a signal or for one to end, then stop them all;
    False if a worker ended by itself."""
    for p in procs:
        p.start()
    # Installed only now: the workers were forked with the default handlers.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    ended = None
    try:
        ready = multiprocessing.connection.wait([p.sentinel for p in procs])
        ended = next(p for p in procs if p.sentinel in ready)
    except _Stop as why:
        log.info("stopping", signal=str(why), workers=len(procs))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for p in procs:
            p.terminate()  # SIGTERM: each worker's graceful stop (StopWatch)
        for p in procs:
            p.join(STOP_S + 5)  # it ends itself after STOP_S
            if p.is_alive():
                log.warning("worker_killed", pid=p.pid)
                p.kill()
                p.join()
    if ended is not None:
        log.error("worker_exited", pid=ended.pid, exitcode=ended.exitcode)
    return ended is None


class StopWatch:
    """The stop of one serving process: the first SIGTERM or SIGINT starts aiohttp's
    graceful shutdown, later ones change nothing (a signal to the whole process
    group reaches a worker twice, once from the parent); STOP_S later a thread
    ends the process, naming the tasks that held it up. In a worker, the thread
    also starts the stop when the parent is gone.

    Install `on_signal` with loop.add_signal_handler, run the app with aiohttp's
    own handlers off, and set `done` once it returned (then nothing is cut short).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.begun = threading.Event()
        self.done = threading.Event()
        parent = multiprocessing.parent_process()
        self.parent_pid = parent.pid if parent is not None else None
        threading.Thread(target=self._watch, name="stop-watch", daemon=True).start()

    def on_signal(self) -> None:
        if not self.begun.is_set():
            self.begun.set()
            raise GracefulExit()

    def _watch(self) -> None:
        # A log line may fail here (the log pipe can go with the parent: a broken
        # pipe); that must not end this thread before it has stopped the process.
        while not self.begun.wait(0.5):
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                os.kill(os.getpid(), signal.SIGTERM)
                with contextlib.suppress(Exception):
                    log.warning("parent_gone")
                break
        if self.done.wait(STOP_S):
            return
        try:
            pending = [f"{t.get_name()} at {_where(t)}" for t in asyncio.all_tasks(self.loop)]
            log.error("stop_timeout", seconds=STOP_S, pending=pending[:20])
        finally:
            os._exit(1)


def _where(task: asyncio.Task[object]) -> str:
    """The innermost line a task waits at."""
    where, coro = "?", cast(Any, task.get_coro())  # walked by attribute, whatever its kind
    while coro is not None:
        frame = getattr(coro, "cr_frame", None)
        if frame is not None:
            where = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
        coro = getattr(coro, "cr_await", None)
    return where
