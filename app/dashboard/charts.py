"""Server-rendered SVG charts: geometry computed here, drawn by templates/_charts.html.

No JavaScript and no CDN: each mark is an SVG element with a <title> (the browser's own
tooltip) and data- attributes holding the value it stands for, which the browser tests read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from app.i18n import N_, formatting, gettext, ngettext

# Colour-blind-safe (Okabe-Ito order, then two neutrals); "other" is always the grey.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#7F6BB0",
)
OTHER_COLOR = "#B8BEC9"
OTHER = N_("other")  # translated where shown: the template says _(name) for it
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 12, 12, 28


@dataclass(frozen=True, slots=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True, slots=True)
class Plot:
    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    color: str
    key: str  # the day (ISO) or the moment the bar stands for
    series: str
    value: float
    title: str


@dataclass(frozen=True, slots=True)
class LegendItem:
    name: str
    color: str
    total: float


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    plot: Plot
    segments: tuple[Segment, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    legend: tuple[LegendItem, ...]
    label: str

    @property
    def empty(self) -> bool:
        return not self.segments


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above `value`: round axis ends."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _y_ticks(plot: Plot, top_value: float, *, most: int = 5) -> list[Tick]:
    """Gridlines at whole, round steps (counts of calls and numbers are whole)."""
    step = max(1.0, nice_ceiling(top_value / most))
    ticks = []
    value = 0.0
    while value <= top_value + 1e-9:
        pos = plot.bottom - plot.height * value / top_value
        ticks.append(Tick(pos=round(pos, 2), label=f"{value:g}"))
        value += step
    return ticks


def _every(n: int, labels: int) -> int:
    return max(1, math.ceil(n / labels))


def top_series(series: Mapping[str, Sequence[float]], keep: int) -> dict[str, list[float]]:
    """The `keep` largest series by total, the rest summed into "other", largest first."""
    ranked = sorted(series.items(), key=lambda item: (-sum(item[1]), item[0]))
    kept = {name: list(values) for name, values in ranked[:keep]}
    rest = ranked[keep:]
    if rest:
        length = len(rest[0][1])
        kept[OTHER] = [sum(values[i] for _name, values in rest) for i in range(length)]
    return kept


def _segment_title(day: date, name: str, value: float, unit: str) -> str:
    count = formatting.number(value, 0 if float(value).is_integer() else 2)
    if unit == "calls":
        amount = ngettext("%(num)s call", "%(num)s calls", value, num=count)
    else:
        amount = f"{count} {unit}"
    shown = gettext(OTHER) if name == OTHER else name
    return f"{formatting.day(day)} · {shown}: {amount}"


def stacked_bars(
    days: Sequence[date],
    series: Mapping[str, Sequence[float]],
    *,
    label: str,
    unit: str = "calls",
    width: int = 880,
    height: int = 260,
    max_series: int = 7,
) -> BarChart:
    """Bars per day, stacked by series (the sources of the calls of each day)."""
    plot = Plot(MARGIN_LEFT, MARGIN_TOP, width - MARGIN_RIGHT, height - MARGIN_BOTTOM)
    shown = top_series(series, max_series)
    colors = {
        name: OTHER_COLOR if name == OTHER else PALETTE[i % len(PALETTE)]
        for i, name in enumerate(shown)
    }
    totals = [sum(values[i] for values in shown.values()) for i in range(len(days))]
    top = nice_ceiling(max(totals, default=0))
    slot = plot.width / max(len(days), 1)
    bar = max(1.0, slot * 0.72)
    segments: list[Segment] = []
    for i, day in enumerate(days):
        x = plot.left + slot * i + (slot - bar) / 2
        y = plot.bottom
        for name, values in shown.items():
            value = values[i]
            if value <= 0:
                continue
            h = plot.height * value / top
            y -= h
            segments.append(
                Segment(
                    x=round(x, 2),
                    y=round(y, 2),
                    width=round(bar, 2),
                    height=round(h, 2),
                    color=colors[name],
                    key=day.isoformat(),
                    series=name,
                    value=value,
                    title=_segment_title(day, name, value, unit),
                )
            )
    step = _every(len(days), 10)
    x_ticks = [
        Tick(pos=round(plot.left + slot * (i + 0.5), 2), label=formatting.day(day, width="d MMM"))
        for i, day in enumerate(days)
        if i % step == 0
    ]
    legend = [LegendItem(name, colors[name], sum(values)) for name, values in shown.items()]
    return BarChart(
        width=width,
        height=height,
        plot=plot,
        segments=tuple(segments),
        x_ticks=tuple(x_ticks),
        y_ticks=tuple(_y_ticks(plot, top)),
        legend=tuple(legend),
        label=label,
    )


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    key: str
    value: float
    title: str


@dataclass(frozen=True, slots=True)
class PoolChart:
    """Numbers in use over time against the pool's size, with the fallback share below."""

    width: int
    height: int
    plot: Plot
    points: tuple[Point, ...]
    step_path: str
    size_y: float
    size: int
    recommended_y: float
    recommended: int
    share_plot: Plot
    share_bars: tuple[Segment, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    label: str


def pool_chart(
    moments: Sequence[datetime],
    in_use: Sequence[int],
    fallback_share: Sequence[float | None],
    *,
    size: int,
    recommended: int,
    label: str,
    time_label: str = "%H:%M",
    width: int = 880,
    height: int = 250,
    share_height: int = 56,
) -> PoolChart:
    """`in_use[i]` is the peak number of occupied numbers in the bucket starting at
    `moments[i]`; `fallback_share[i]` the share of that bucket's sessions that got no number
    of the pool (None when none came)."""
    main_bottom = height - share_height - MARGIN_BOTTOM - 8
    plot = Plot(MARGIN_LEFT, MARGIN_TOP, width - MARGIN_RIGHT, main_bottom)
    share_plot = Plot(MARGIN_LEFT, main_bottom + 14, width - MARGIN_RIGHT, height - MARGIN_BOTTOM)
    top = nice_ceiling(max([*in_use, size, recommended, 1]) * 1.1)
    n = max(len(moments), 1)
    slot = plot.width / n

    def y_of(value: float) -> float:
        return round(plot.bottom - plot.height * value / top, 2)

    points = []
    path: list[str] = []
    for i, (moment, value) in enumerate(zip(moments, in_use, strict=True)):
        x0, x1 = plot.left + slot * i, plot.left + slot * (i + 1)
        y = y_of(value)
        path.append(f"{'M' if i == 0 else 'L'}{x0:.2f},{y:.2f} L{x1:.2f},{y:.2f}")
        points.append(
            Point(
                x=round((x0 + x1) / 2, 2),
                y=y,
                key=moment.isoformat(),
                value=value,
                title=gettext(
                    "%(time)s: %(value)s of %(size)s in use",
                    time=moment.strftime(time_label),
                    value=formatting.number(value),
                    size=size,
                ),
            )
        )
    bars = []
    bar = max(1.0, slot * 0.8)
    for i, (moment, share) in enumerate(zip(moments, fallback_share, strict=True)):
        if not share:
            continue
        h = share_plot.height * min(share, 1.0)
        bars.append(
            Segment(
                x=round(share_plot.left + slot * i + (slot - bar) / 2, 2),
                y=round(share_plot.bottom - h, 2),
                width=round(bar, 2),
                height=round(h, 2),
                color=PALETTE[5],
                key=moment.isoformat(),
                series="fallback share",
                value=round(share, 4),
                title=gettext(
                    "%(time)s: %(share)s of sessions got no pool number",
                    time=moment.strftime(time_label),
                    share=formatting.percent(share, 0),
                ),
            )
        )
    step = _every(n, 8)
    x_ticks = [
        Tick(pos=round(plot.left + slot * i, 2), label=moment.strftime(time_label))
        for i, moment in enumerate(moments)
        if i % step == 0
    ]
    return PoolChart(
        width=width,
        height=height,
        plot=plot,
        points=tuple(points),
        step_path=" ".join(path),
        size_y=y_of(size),
        size=size,
        recommended_y=y_of(recommended),
        recommended=recommended,
        share_plot=share_plot,
        share_bars=tuple(bars),
        x_ticks=tuple(x_ticks),
        y_ticks=tuple(_y_ticks(plot, top)),
        label=label,
    )
