"""The SVG charts' geometry: bars stack to their day's total, the scale is round, small series
fold into "other", the pool chart draws one point per bucket."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.dashboard import charts
from app.dashboard.templating import environment


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (23, 25), (0.4, 0.5)]
)
def test_nice_ceiling(value: float, ceiling: float) -> None:
    assert charts.nice_ceiling(value) == ceiling


def test_bars_stack_to_the_days_total() -> None:
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(3)]
    chart = charts.stacked_bars(
        days, {"yandex": [2, 0, 1], "google": [1, 3, 0]}, label="calls", height=220
    )
    assert [(s.key, s.series, s.value) for s in chart.segments] == [
        ("2026-11-01", "google", 1),  # the biggest series first, at the bottom
        ("2026-11-01", "yandex", 2),
        ("2026-11-02", "google", 3),
        ("2026-11-03", "yandex", 1),
    ]
    # The axis ends at 5 (3 rounded up): 3 calls are 3/5 of the plot's height.
    plot = chart.plot
    day2 = [s for s in chart.segments if s.key == "2026-11-02"]
    assert sum(s.height for s in day2) == pytest.approx(plot.height * 3 / 5, abs=0.02)
    first_day = [s for s in chart.segments if s.key == "2026-11-01"]
    assert first_day[0].y + first_day[0].height == pytest.approx(plot.bottom)
    assert first_day[1].y + first_day[1].height == pytest.approx(first_day[0].y)
    assert [t.label for t in chart.y_ticks] == ["0", "1", "2", "3", "4", "5"]
    assert [(i.name, i.total) for i in chart.legend] == [("google", 4), ("yandex", 3)]


def test_small_series_fold_into_other() -> None:
    series = {f"s{i}": [float(10 - i)] for i in range(10)}
    shown = charts.top_series(series, keep=3)
    assert list(shown) == ["s0", "s1", "s2", "other"]
    assert shown["other"] == [sum(range(1, 8))]


def test_an_empty_period_draws_no_bars() -> None:
    chart = charts.stacked_bars([date(2026, 11, 1)], {}, label="calls")
    assert chart.empty
    html = (
        environment()
        .from_string('{% import "_charts.html" as c %}{{ c.bar_chart(chart) }}')
        .render(chart=chart)
    )
    assert "No calls in this period." in html


def test_the_pool_chart_has_a_point_per_bucket_and_its_size_line() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    moments = [start + timedelta(minutes=30 * i) for i in range(4)]
    chart = charts.pool_chart(
        moments, [0, 2, 5, 1], [None, 0.0, 0.5, None], size=4, recommended=6, label="pool"
    )
    assert [p.value for p in chart.points] == [0, 2, 5, 1]
    assert chart.points[2].y < chart.size_y < chart.points[1].y  # 5 above the size, 2 below
    assert [(b.key, b.value) for b in chart.share_bars] == [(moments[2].isoformat(), 0.5)]
    html = (
        environment()
        .from_string('{% import "_charts.html" as c %}{{ c.pool_chart(chart) }}')
        .render(chart=chart)
    )
    assert html.count('class="pt"') == 4
    assert 'data-size="4"' in html
    assert 'data-recommended="6"' in html


def test_labels_in_charts_are_escaped() -> None:
    chart = charts.stacked_bars(
        [date(2026, 11, 1)], {"<script>alert(1)</script>": [1]}, label="calls"
    )
    html = (
        environment()
        .from_string('{% import "_charts.html" as c %}{{ c.bar_chart(chart) }}')
        .render(chart=chart)
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
