"""What a load test measured, and the overbooking check against PostgreSQL."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import asyncpg

from kmcbot.devtools.loadgen.timeline import Bucket

# Slots whose count disagrees with their active bookings, or exceeds capacity.
OVERBOOKING_SQL = """
SELECT count(*) AS violations, (SELECT count(*) FROM slots) AS slots
FROM slots s
LEFT JOIN (SELECT slot_id, count(*) AS n FROM bookings
           WHERE status IN ('booked', 'attended', 'missed') GROUP BY slot_id) b ON b.slot_id = s.id
WHERE s.booked <> coalesce(b.n, 0) OR s.booked > s.capacity
"""


@dataclass
class Stats:
    """Filled in while the run goes; latencies in seconds."""

    webhook: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    answered: int = 0  # webhook POSTs that got an HTTP answer (any status)
    accepted: int = 0  # ... answered 200
    started: Counter[str] = field(default_factory=Counter)
    completed: Counter[str] = field(default_factory=Counter)
    abandoned: int = 0  # conversations cut off when the run ended
    bookings: int = 0
    cancellations: int = 0
    lost_slots: int = 0
    waits_for_room: int = 0  # sends held back: the number's minute was full (re-picks)
    no_places: int = 0  # booking conversations the bot ended: no places left for the vaccine
    cancels_refused: int = 0  # the session of the booking to cancel started meanwhile
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)  # the first unexpected replies
    unrouted: int = 0  # replies to numbers no citizen is using any more
    by_url: Counter[str] = field(default_factory=Counter)  # answered POSTs per webhook URL
    posted: Counter[str] = field(default_factory=Counter)  # messages answered 200, per number
    replied: Counter[str] = field(default_factory=Counter)  # replies at the stand-in, per number
    images: int = 0  # check-in QR images at the stand-in (one after each ticket)
    # When each send (reply or QR image) reached the stand-in.
    arrivals: list[float] = field(default_factory=list)
    # For the timeline (perf_counter instants): each answered POST's send, each error.
    sent_at: list[float] = field(default_factory=list)  # sent_at[i] goes with webhook[i]
    booking: list[float] = field(default_factory=list)  # webhook latency of the Confirm taps
    errors_at: list[float] = field(default_factory=list)
    memory: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    # Bookings as the citizens were told: reference -> (centre id, slot id) picked.
    booked: dict[str, tuple[str, str]] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)  # references cancelled afterwards
    arrival_delays: list[float] = field(default_factory=list)  # open arrivals: seconds late

    def error(self, kind: str, sample: str = "") -> None:
        self.errors[kind] += 1
        self.errors_at.append(time.perf_counter())
        if sample and len(self.samples) < 5:
            self.samples.append(sample)


@dataclass
class Report:
    url: str
    mix: str
    citizens: int
    ramp_up_s: float
    offered_rate: float  # 0: as fast as replies allow
    seconds: float
    messages: int
    accepted: int
    messages_per_s: float
    webhook_ms: dict[str, float]
    reply_ms: dict[str, float]
    conversations_started: dict[str, int]
    conversations_completed: dict[str, int]
    conversations_abandoned_at_end: int
    bookings_made: int
    cancellations: int
    places_taken_by_others: int  # a centre, day or slot gone between list and pick
    waits_for_room: int  # sends held back to keep under the bot's per-number minute
    ended_with_no_places: int  # the menu instead of a list: sold out (not counted as error)
    errors: dict[str, int]
    unexpected_samples: list[str]
    replies_unrouted: int
    generator_cpu_percent: float  # of one core: near 100, the generator limits the figures
    messages_by_url: dict[str, int]  # inbound messages per bot (several with --url A --url B)
    # The bot's sends as the stand-in saw them (0 without a stand-in):
    replies_received: int
    replies_per_s: float  # sends (replies and QR images) a second, mean, first to last
    replies_max_in_1s: int  # sends in the busiest second (sliding): KMCBOT_SEND_RATE bounds it
    replies_missing: int  # messages answered 200 whose number got fewer replies than messages
    replies_doubled: int  # replies beyond one per message, per number (unprompted ones too)
    overbooking_violations: int | None = None  # None: not checked (no --database-url)
    qr_images: int = 0  # check-in QR images at the stand-in: one per ticket, not replies
    slots_checked: int | None = None
    booking_ms: dict[str, float] = field(default_factory=dict)  # webhook latency of Confirm
    cancels_refused: int = 0  # refused: the booking's session had started (not an error)
    p99_first_tenth_ms: float = 0.0  # webhook p99 of the first tenth of the messages sent
    p99_last_tenth_ms: float = 0.0  # ... and of the last tenth: slower as data grows?
    arrivals: int = 0  # open arrivals (--arrivals): citizens arriving on a curve
    arrival_curve: str = ""
    arrive_over_s: float = 0.0
    arrival_delay_p99_s: float = 0.0  # how late arrivals started, waiting for room
    # Not in the JSON: the run over time, and what it was made from (bench/day.py
    # re-buckets it per minute and checks the bookings against PostgreSQL).
    timeline: list[Bucket] = field(default_factory=list)
    began_at: float = 0.0  # perf_counter at the start: Stats' instants are relative to it
    stats: Stats | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(replace(self, timeline=[], stats=None))
        for name in ("timeline", "began_at", "stats"):
            del out[name]
        return out

    def text(self) -> str:
        w, r = self.webhook_ms, self.reply_ms
        rate = f"offered {self.offered_rate:g} msg/s" if self.offered_rate else "flat out"
        done = ", ".join(f"{k} {v}" for k, v in sorted(self.conversations_completed.items()))
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"
        who = f"{self.citizens} citizens" + (
            f" (started over {self.ramp_up_s:g} s)" if self.ramp_up_s else ""
        )
        if self.arrivals:
            rate = f"offered {self.offered_rate:g} msg/s" if self.offered_rate else "open arrivals"
            who = (
                f"{self.arrivals} citizens arriving over {self.arrive_over_s:g} s "
                f"({self.arrival_curve} curve), at most {self.citizens} at once"
            )
        lines = [
            f"kmcbot loadtest  {self.url}  mix {self.mix}  {who}  {rate}",
            f"  duration        {self.seconds:.1f} s",
            f"  inbound         {self.messages} messages ({self.accepted} answered 200), "
            f"{self.messages_per_s:.1f} msg/s",
            f"  webhook latency p50 {w['p50']:.1f} ms  p90 {w['p90']:.1f} ms  "
            f"p99 {w['p99']:.1f} ms  max {w['max']:.1f} ms",
            f"  reply latency   p50 {r['p50']:.1f} ms  p99 {r['p99']:.1f} ms"
            + ("" if r["n"] else "  (no stand-in: not measured)"),
            *(
                [
                    f"  booking (Confirm) webhook p50 {self.booking_ms['p50']:.1f} ms  "
                    f"p99 {self.booking_ms['p99']:.1f} ms  ({self.booking_ms['n']} taps)"
                ]
                if self.booking_ms.get("n")
                else []
            ),
            f"  conversations   {sum(self.conversations_completed.values())} completed"
            + (f" ({done})" if done else "")
            + f", {self.conversations_abandoned_at_end} cut off at the end",
            f"  bookings        {self.bookings_made} made, {self.cancellations} cancelled, "
            f"{self.places_taken_by_others} picks whose last places others took first, "
            f"{self.ended_with_no_places} conversations ended with no places left, "
            f"{self.cancels_refused} cancels refused (the session had started), "
            f"{self.waits_for_room} sends held back by the per-number limit",
            f"  errors          {errors}",
            f"  load generator  {self.generator_cpu_percent:.0f}% of a CPU core",
        ]
        if self.reply_ms["n"] or self.replies_received:  # a stand-in ran
            lines.insert(
                -2,
                f"  replies         {self.replies_received} at the stand-in "
                f"(and {self.qr_images} QR images); sends {self.replies_per_s:.1f}/s mean, "
                f"{self.replies_max_in_1s} in the busiest second; "
                f"{self.replies_missing} missing, {self.replies_doubled} doubled",
            )
        if len(self.messages_by_url) > 1:
            lines.insert(
                3,
                "  per bot         "
                + ", ".join(f"{url} {n}" for url, n in self.messages_by_url.items()),
            )
        lines += [f"    e.g. {s}" for s in self.unexpected_samples[:3]]
        if self.overbooking_violations is not None:
            lines.append(
                f"  overbooking     {self.overbooking_violations} violations "
                f"({self.slots_checked} slots checked: booked == active bookings <= capacity)"
            )
        else:
            lines.append(
                "  overbooking     NOT CHECKED: no database (give --database-url; against"
                " `make run` it is found by itself in ./.kmcbot)"
            )
        if self.bookings_made:
            lines.append(
                f"  left behind     the {self.bookings_made} bookings made stay in the database,"
                " with their reminders and notices; against `make run`'s demo city, start"
                " afresh with `rm -rf .kmcbot` and `make run`"
            )
        return "\n".join(lines)


def percentiles(values: list[float], *qs: int) -> dict[str, float]:
    """Nearest-rank percentiles in milliseconds, plus max and n."""
    ordered = sorted(values)
    out: dict[str, float] = {}
    for q in qs:
        out[f"p{q}"] = (
            round(1000 * ordered[min(len(ordered) - 1, q * len(ordered) // 100)], 2)
            if ordered
            else 0.0
        )
    out["max"] = round(1000 * ordered[-1], 2) if ordered else 0.0
    out["n"] = len(ordered)
    return out


def busiest(times: list[float], window: float) -> int:
    """The most of these (sorted) instants within any `window` seconds, ends included."""
    inside: deque[float] = deque()
    most = 0
    for t in times:
        inside.append(t)
        while t - inside[0] > window:
            inside.popleft()
        most = max(most, len(inside))
    return most


async def check_database(database_url: str) -> None:
    """ValueError naming --database-url if it cannot be used: found before the run,
    not after it, when it would cost the report."""
    try:
        conn = await asyncpg.connect(database_url, timeout=5)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ValueError(f"--database-url: {str(exc) or type(exc).__name__}") from None
    await conn.close()


async def overbooking(database_url: str) -> tuple[int, int]:
    """(slots violating booked == active bookings <= capacity, slots checked)."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(OVERBOOKING_SQL)
    finally:
        await conn.close()
    assert row is not None
    return int(row["violations"]), int(row["slots"])
