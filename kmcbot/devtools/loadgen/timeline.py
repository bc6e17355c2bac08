"""A load run over time: what happened in each few seconds. Pure apart from `local_memory`.

From the instants the run noted (each webhook's send and its latency, each
reply's arrival at the stand-in, each error, the memory samples) it makes
equal buckets: messages and replies per second, webhook latency p50/p90/p99,
errors, memory. The HTML report draws them (charts.py); bench/day.py prints
them per minute.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_POINTS = 150  # buckets in a chart: fine enough to see, few enough to read


@dataclass
class Bucket:
    start: float  # seconds from the run's start
    seconds: float
    messages: int = 0
    replies: int = 0
    errors: int = 0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    memory_mb: dict[str, float] = field(default_factory=dict)  # the last sample in the bucket

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds

    @property
    def replies_per_s(self) -> float:
        return self.replies / self.seconds


def nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered) / 100))] if ordered else 0.0


_SIZES = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0)


def bucket_size(seconds: float, most: int = MAX_POINTS) -> float:
    """The smallest round size giving at most `most` buckets (half a second at least)."""
    return next((s for s in _SIZES if seconds / s <= most), seconds / most)


def buckets(
    began: float,
    seconds: float,
    sent_at: list[float],
    latencies: list[float],
    replies_at: list[float],
    errors_at: list[float],
    memory: list[tuple[float, dict[str, float]]],
    size: float | None = None,
) -> list[Bucket]:
    """Equal buckets over [began, began + seconds]; times are perf_counter instants,
    latencies in seconds (latencies[i] belongs to sent_at[i])."""
    size = size or bucket_size(seconds)
    count = max(1, math.ceil(seconds / size - 1e-9))
    # The last bucket covers only what is left of the run: its rates are per second of it.
    out = [Bucket(start=i * size, seconds=min(size, seconds - i * size)) for i in range(count)]

    def index(t: float) -> int:
        return min(count - 1, max(0, int((t - began) / size)))

    lat: list[list[float]] = [[] for _ in range(count)]
    for t, latency in zip(sent_at, latencies, strict=True):
        i = index(t)
        out[i].messages += 1
        lat[i].append(latency * 1000)
    for t in replies_at:
        out[index(t)].replies += 1
    for t in errors_at:
        out[index(t)].errors += 1
    for t, sample in memory:
        out[index(t)].memory_mb = dict(sample)
    for b, values in zip(out, lat, strict=True):
        values.sort()
        b.p50_ms, b.p90_ms, b.p99_ms = (round(nearest_rank(values, q), 2) for q in (50, 90, 99))
    return out


def tenths_p99(sent_at: list[float], latencies: list[float]) -> tuple[float, float]:
    """Webhook p99 (ms) of the first and of the last tenth of the messages, by send time:
    whether the bot slows down as its data grows over the run."""
    ordered = [latency for _, latency in sorted(zip(sent_at, latencies, strict=True))]
    tenth = max(1, len(ordered) // 10)
    first = sorted(ordered[:tenth])
    last = sorted(ordered[-tenth:])
    return round(1000 * nearest_rank(first, 99), 2), round(1000 * nearest_rank(last, 99), 2)


def as_rows(series: list[Bucket]) -> list[dict[str, Any]]:
    return [
        {
            "t": round(b.start, 3),
            "msg_per_s": round(b.messages_per_s, 1),
            "replies_per_s": round(b.replies_per_s, 1),
            "errors": b.errors,
            "p50_ms": b.p50_ms,
            "p90_ms": b.p90_ms,
            "p99_ms": b.p99_ms,
            **{f"{k}_mb": round(v, 1) for k, v in b.memory_mb.items()},
        }
        for b in series
    ]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the workers of `serve --workers`)."""
    import psutil

    total = 0
    try:
        parent = psutil.Process(pid)
        for p in [parent, *parent.children(recursive=True)]:
            status = Path(f"/proc/{p.pid}/status").read_text()
            found = re.search(r"VmRSS:\s+(\d+) kB", status)
            total += int(found.group(1)) if found else 0
    except (OSError, psutil.Error):  # it ended meanwhile
        pass
    return total / 1024


def local_memory(ports: list[int]) -> dict[str, float]:
    """The load generator's RSS, and the bot's when it listens on one of `ports` on
    this machine (best effort: another user's process cannot be seen)."""
    import os

    import psutil

    out = {"load generator": rss_mb(os.getpid())}
    try:
        listening = [
            c.pid
            for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port in ports and c.pid
        ]
    except (psutil.Error, OSError):
        return out
    pids = set(listening)
    # serve --workers: the workers share the parent's socket; count the family once.
    roots = {p for p in pids if psutil.Process(p).ppid() not in pids}
    if roots:
        out["bot"] = sum(rss_mb(p) for p in roots)
    return out
