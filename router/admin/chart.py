"""The overview's small throughput chart: per-hour series as SVG polyline coordinates, drawn by the template.

Only numbers leave this module, so the inline SVG needs no script and nothing in it comes from a customer.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.store.insight import HourCounts

WIDTH = 480
HEIGHT = 120
SERIES = (("received", "Received"), ("routed", "Routed"), ("delivered", "Delivered"), ("dead", "Dead"))


@dataclass(frozen=True)
class Line:
    name: str
    label: str
    points: str  # "x,y x,y ..." in the chart's coordinates
    total: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    peak: int
    lines: tuple[Line, ...]
    hours: int


def chart(hours: list[HourCounts]) -> Chart:
    """Lines for every series over ``hours`` (oldest first), scaled to the highest hourly count."""
    peak = max((getattr(h, name) for h in hours for name, _ in SERIES), default=0) or 1
    step = WIDTH / max(len(hours) - 1, 1)

    def points(name: str) -> str:
        return " ".join(
            f"{i * step:.1f},{HEIGHT - getattr(h, name) / peak * (HEIGHT - 4) - 2:.1f}" for i, h in enumerate(hours)
        )

    lines = tuple(Line(name, label, points(name), sum(getattr(h, name) for h in hours)) for name, label in SERIES)
    return Chart(WIDTH, HEIGHT, peak, lines, len(hours))
