"""When citizens arrive: a day's curve, compressed into a few minutes. Pure.

`day`: a vaccination day from 08:00 to 20:00 squeezed into `seconds`: a quiet
start, a morning peak around 11:00, a lull after lunch and a smaller evening
peak around 16:30 (people after work), as the centres' booking lines looked.
`even`: the same number spread evenly, for comparison.

The times are the curve's quantiles, (i + 0.5) / n, so a run is the same
every time and its busiest minute is known beforehand: `peak_ratio`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable

CURVES = ("day", "even")
_GRID = 2000  # points of the numerically integrated curve


def _day(x: float) -> float:
    """Relative arrival rate at x in [0, 1] of the day (08:00 .. 20:00)."""
    morning = math.exp(-(((x - 0.25) / 0.09) ** 2) / 2)  # ~11:00
    evening = 0.8 * math.exp(-(((x - 0.71) / 0.10) ** 2) / 2)  # ~16:30
    return 0.3 + morning + evening


def _even(x: float) -> float:
    return 1.0


_DENSITIES: dict[str, Callable[[float], float]] = {"day": _day, "even": _even}


def _cdf(curve: str) -> list[float]:
    density = _DENSITIES[curve]
    steps = [density((i + 0.5) / _GRID) for i in range(_GRID)]
    total, out = 0.0, [0.0]
    for step in steps:
        total += step
        out.append(total)
    return [v / total for v in out]


def offsets(curve: str, n: int, seconds: float) -> list[float]:
    """The n arrival times, in seconds from the start, ascending."""
    if curve not in _DENSITIES:
        raise ValueError(f"arrival curve must be one of {', '.join(CURVES)}")
    if n < 0 or seconds < 0:
        raise ValueError("citizens and seconds must not be negative")
    cdf = _cdf(curve)
    times = []
    for i in range(n):
        q = (i + 0.5) / n
        k = max(1, bisect_left(cdf, q))  # cdf[k-1] < q <= cdf[k]
        low, high = cdf[k - 1], cdf[k]
        x = (k - 1 + (q - low) / (high - low)) / _GRID
        times.append(x * seconds)
    return times


def peak_ratio(curve: str) -> float:
    """The busiest moment's arrival rate over the mean rate."""
    density = _DENSITIES[curve]
    values = [density((i + 0.5) / _GRID) for i in range(_GRID)]
    return max(values) / (sum(values) / _GRID)
