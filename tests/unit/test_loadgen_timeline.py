"""The load generator's arrival curve, its timeline buckets and the SVG charts: pure logic."""

from __future__ import annotations

import re

import pytest

from kmcbot.devtools.loadgen import arrivals, charts, timeline


def test_arrivals_are_n_ascending_times_within_the_window() -> None:
    times = arrivals.offsets("day", 1000, 600.0)
    assert len(times) == 1000
    assert times == sorted(times)
    assert times[0] >= 0 and times[-1] <= 600


def test_the_day_has_a_morning_and_an_evening_peak() -> None:
    times = arrivals.offsets("day", 10_000, 100.0)
    per_tenth = [sum(1 for t in times if i * 10 <= t < (i + 1) * 10) for i in range(10)]
    morning, lull, evening = per_tenth[2], per_tenth[4], per_tenth[7]
    assert morning > 2 * per_tenth[0] and morning > lull
    assert evening > lull and evening > 2 * per_tenth[9]
    assert 1.5 < arrivals.peak_ratio("day") < 2.5


def test_even_arrivals_are_evenly_spaced() -> None:
    assert arrivals.offsets("even", 4, 100.0) == pytest.approx([12.5, 37.5, 62.5, 87.5])
    assert arrivals.peak_ratio("even") == pytest.approx(1.0)


def test_an_unknown_curve_is_refused() -> None:
    with pytest.raises(ValueError, match="day, even"):
        arrivals.offsets("lunch", 10, 10.0)


def test_buckets_count_rates_and_percentiles_per_interval() -> None:
    began = 1000.0
    sent = [began + 0.1 * i for i in range(40)]  # 10 a second for 4 s
    latencies = [0.001 * (i % 10 + 1) for i in range(40)]  # 1..10 ms in every second
    out = timeline.buckets(
        began, 3.5, sent, latencies, [t + 0.01 for t in sent], [began + 2.2], [], size=1.0
    )
    assert [b.start for b in out] == [0, 1, 2, 3]
    assert [b.messages for b in out][:3] == [10, 10, 10]
    assert out[3].seconds == pytest.approx(0.5)  # the last bucket is what is left of the run
    assert out[3].messages_per_s == pytest.approx(out[3].messages / 0.5)
    assert [b.errors for b in out] == [0, 0, 1, 0]
    assert out[0].p50_ms == pytest.approx(6.0) and out[0].p99_ms == pytest.approx(10.0)


def test_tenths_compare_the_first_and_last_messages_sent() -> None:
    sent = list(range(100))
    latencies = [0.005] * 90 + [0.050] * 10  # the last tenth slower
    first, last = timeline.tenths_p99(sent, latencies)
    assert (first, last) == (5.0, 50.0)


def test_bucket_sizes_are_round_and_few() -> None:
    assert timeline.bucket_size(10) == 0.5
    assert timeline.bucket_size(720) == 5.0
    assert 3600 / timeline.bucket_size(3600) <= timeline.MAX_POINTS


def test_a_chart_draws_each_series_and_escapes_names() -> None:
    svg = charts.chart(
        "Latency <p99>", "ms", [charts.Series("a&b", [(0, 1), (5, 3)]), charts.Series("c", [])], 10
    )
    assert svg.count("<polyline") == 2
    assert "a&amp;b" in svg and "Latency &lt;p99&gt;" in svg
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    assert len(points) == 2


def test_the_page_is_self_contained() -> None:
    series = timeline.buckets(0.0, 2.0, [0.1, 1.2], [0.01, 0.02], [0.2], [], [(0.5, {"bot": 100})])
    html = charts.page("A run", series, 2.0, [("messages", "2")], "text report")
    assert html.count('<svg class="chart"') == 5
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert charts.nice_ceiling(188) == 200 and charts.nice_ceiling(0) == 1
