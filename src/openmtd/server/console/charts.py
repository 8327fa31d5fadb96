"""Geometry of the dashboard's inline SVG bar charts (the template only draws what is here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 480
ROW = 34
BAR = 20
LABEL_WIDTH = 120
COUNT_WIDTH = 56


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    css: str  # colour class, e.g. "risk-high"
    href: str
    y: int  # top of the row
    width: float  # bar length in SVG units (at least a sliver when the value is not 0)
    percent: int  # share of the total, for the accessible title

    @property
    def bar_y(self) -> int:
        return self.y + (ROW - BAR) // 2

    @property
    def text_y(self) -> int:
        return self.y + ROW // 2 + 5

    @property
    def row(self) -> int:
        return ROW

    @property
    def bar(self) -> int:
        return BAR


@dataclass(frozen=True, slots=True)
class BarChart:
    bars: tuple[Bar, ...]
    total: int
    width: int = WIDTH
    label_width: int = LABEL_WIDTH

    @property
    def height(self) -> int:
        return ROW * len(self.bars)

    @property
    def track(self) -> int:
        return self.width - LABEL_WIDTH - COUNT_WIDTH


def bar_chart(rows: Sequence[tuple[str, int, str, str]]) -> BarChart:
    """Horizontal bars scaled to the largest value; rows are (label, value, css class, link)."""
    track = WIDTH - LABEL_WIDTH - COUNT_WIDTH
    largest = max((value for _, value, _, _ in rows), default=0)
    total = sum(value for _, value, _, _ in rows)
    bars = []
    for i, (text, value, css, href) in enumerate(rows):
        width = 0.0 if largest == 0 else max(track * value / largest, 3.0 if value else 0.0)
        percent = round(100 * value / total) if total else 0
        bars.append(Bar(text, value, css, href, i * ROW, round(width, 1), percent))
    return BarChart(tuple(bars), total)


def meter(value: int, largest: int, *, width: int = 120) -> float:
    """Length of a small inline bar (table rows), in SVG units."""
    if largest <= 0 or value <= 0:
        return 0.0
    return round(max(width * value / largest, 2.0), 1)
