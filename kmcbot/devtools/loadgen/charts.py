"""A load run as one self-contained HTML page: charts over time, drawn here as SVG.

No JavaScript and nothing fetched: the page opens offline, from a file, in any
browser, and can be mailed or attached to an issue. Pure: data in, text out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from kmcbot.devtools.loadgen.report import Report
from kmcbot.devtools.loadgen.timeline import Bucket

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 36
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]  # (seconds from start, value)


def nice_ceiling(value: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, at least `value` (and above 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def chart(title: str, unit: str, series: Sequence[Series], seconds: float) -> str:
    """One SVG line chart; x is time from the run's start."""
    top = nice_ceiling(max((v for s in series for _, v in s.points), default=0.0))
    seconds = max(seconds, 1e-9)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + inner_w * min(max(t / seconds, 0.0), 1.0)

    def y(v: float) -> float:
        return TOP + inner_h * (1 - v / top)

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="18" class="title">{escape(title)} ({escape(unit)})</text>',
    ]
    mantissa = top / 10 ** math.floor(math.log10(top))
    divisions = 4 if round(mantissa) == 2 and mantissa < 2.2 else 5  # round steps: 0.5, 1, 2
    for i in range(divisions + 1):  # horizontal grid and y labels
        v = top * i / divisions
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            'class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" class="ylabel">{_label(v)}</text>'
        )
    in_minutes = seconds > 180
    step = _time_step(seconds)
    t = 0.0
    while t <= seconds + 1e-9:
        label = f"{t / 60:g} min" if in_minutes else f"{t:g} s"
        parts.append(
            f'<text x="{x(t):.1f}" y="{HEIGHT - 12}" class="xlabel">{label}</text>'
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP + inner_h}" '
            f'y2="{TOP + inner_h + 4}" class="axis"/>'
        )
        t += step
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in s.points)
        parts.append(
            f'<polyline class="line" data-series="{escape(s.name)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.6" points="{coords}"/>'
        )
        lx = LEFT + 10 + 150 * i
        parts.append(
            f'<rect x="{lx}" y="{TOP + 4}" width="12" height="4" fill="{colour}"/>'
            f'<text x="{lx + 16}" y="{TOP + 10}" class="legend">{escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _time_step(seconds: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if seconds / step <= 10:
            return float(step)
    return seconds / 10


def charts(buckets: Sequence[Bucket], seconds: float) -> list[str]:
    """Throughput, replies, latency percentiles, errors and memory, over time."""

    def line(name: str, value) -> Series:  # type: ignore[no-untyped-def]
        return Series(name, [(b.start + b.seconds / 2, value(b)) for b in buckets])

    names = sorted({k for b in buckets for k in b.memory_mb})
    memory = [
        Series(
            name,
            [(b.start + b.seconds / 2, b.memory_mb[name]) for b in buckets if name in b.memory_mb],
        )
        for name in names
    ]
    return [
        chart(
            "Inbound messages",
            "per second",
            [line("messages/s", lambda b: b.messages_per_s)],
            seconds,
        ),
        chart(
            "Webhook latency",
            "ms",
            [
                line("p50", lambda b: b.p50_ms),
                line("p90", lambda b: b.p90_ms),
                line("p99", lambda b: b.p99_ms),
            ],
            seconds,
        ),
        chart(
            "Replies at the Graph stand-in",
            "per second",
            [line("replies/s", lambda b: b.replies_per_s)],
            seconds,
        ),
        chart("Errors", "per bucket", [line("errors", lambda b: float(b.errors))], seconds),
        chart("Memory", "MB", memory, seconds),
    ]


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1000px; }
h1 { font-size: 20px; } table { border-collapse: collapse; margin: 12px 0; }
td, th { border-bottom: 1px solid #ddd; padding: 3px 12px 3px 0; text-align: left; }
pre { background: #f6f6f6; padding: 8px; white-space: pre-wrap; font-size: 12px; }
svg.chart { display: block; margin: 8px 0 18px; }
svg .title { font-weight: 600; font-size: 14px; }
svg .grid { stroke: #e4e4e4; } svg .axis { stroke: #888; }
svg .ylabel { text-anchor: end; font-size: 11px; fill: #555; }
svg .xlabel { text-anchor: middle; font-size: 11px; fill: #555; }
svg .legend { font-size: 12px; }
"""


def page(
    title: str,
    buckets: Sequence[Bucket],
    seconds: float,
    summary: Sequence[tuple[str, str]],
    text: str,
) -> str:
    """The whole HTML page: a summary table, the charts, the plain-text report."""
    size = buckets[0].seconds if buckets else 0
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in summary)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><table>{rows}</table>"
        f"<p>Each point is {size:g} s of the run.</p>"
        + "".join(charts(buckets, seconds))
        + f"<pre>{escape(text)}</pre></body></html>\n"
    )


def report_page(report: Report, title: str, extra: Sequence[tuple[str, str]] = ()) -> str:
    """The page of a `kmcbot loadtest` run (and of bench/day.py, with its own figures)."""
    w = report.webhook_ms
    summary = [
        ("bot", report.url),
        ("messages", f"{report.messages:,} in {report.seconds:,.1f} s"),
        ("throughput", f"{report.messages_per_s:,.1f} msg/s"),
        ("webhook latency", f"p50 {w['p50']:.1f} ms, p90 {w['p90']:.1f} ms, p99 {w['p99']:.1f} ms"),
        ("bookings", f"{report.bookings_made:,} made, {report.cancellations:,} cancelled"),
        (
            "replies",
            f"{report.replies_received:,}: {report.replies_missing} missing, "
            f"{report.replies_doubled} doubled",
        ),
        ("errors", ", ".join(f"{k}: {v}" for k, v in report.errors.items()) or "none"),
        *extra,
    ]
    return page(title, report.timeline, report.seconds, summary, report.text())
