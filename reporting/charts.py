"""Charts drawn on the server as SVG: no script, so they work under a CSP of 'self'.

Colours come from classes (``s0``…``s5``) styled by ``reporting/dashboard.css``; every
point carries a ``<title>`` so hovering shows its exact value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
# Above this many buckets a line chart draws no dot per point (a month by hour would
# be thousands of nodes); its table keeps every value.
MAX_DOTS = 120
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 36

Number = int | float | Decimal | None


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[Number]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def _fmt(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:,.1f}"
    return f"{text}{unit}"


def _frame(labels: Sequence[str], top: float, unit: str, title: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt(top * i / 4, unit))}</text>"
        )
    n = len(labels)
    every = max(1, -(-n // 8))
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + plot_w * (i + 0.5) / max(n, 1)
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return parts


def _point(name: str, label: str, value: float, unit: str) -> str:
    return f"{escape(name)} {escape(label)}: {escape(_fmt(value, unit))}"


def _legend(series: Sequence[Series]) -> str:
    items = "".join(
        f'<li><span class="key s{i}"></span>{escape(s.name)}</li>' for i, s in enumerate(series)
    )
    return f'<ul class="legend">{items}</ul>'


def line_chart(
    title: str, labels: Sequence[str], series: Sequence[Series], unit: str = ""
) -> SafeString:
    """Lines over buckets; a missing value (None) breaks the line."""
    values = [float(v) for s in series for v in s.values if v is not None]
    top = _nice_max(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(labels)
    parts = _frame(labels, top, unit, title)
    for k, s in enumerate(series):
        path: list[str] = []
        pen_up = True
        for i, v in enumerate(s.values):
            if v is None:
                pen_up = True
                continue
            x = LEFT + plot_w * (i + 0.5) / max(n, 1)
            y = TOP + plot_h - plot_h * float(v) / top
            path.append(f"{'M' if pen_up else 'L'}{x:.1f},{y:.1f}")
            pen_up = False
            if n > MAX_DOTS:
                continue
            parts.append(
                f'<circle class="dot s{k}" cx="{x:.1f}" cy="{y:.1f}" r="2.5">'
                f"<title>{_point(s.name, labels[i], float(v), unit)}</title>"
                "</circle>"
            )
        if path:
            d = " ".join(path)
            parts.insert(
                3, f'<path class="line s{k}" d="{d}"><title>{escape(s.name)}</title></path>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts) + _legend(series))  # noqa: S308 (every text is escaped)


def bar_chart(
    title: str, labels: Sequence[str], series: Sequence[Series], unit: str = ""
) -> SafeString:
    """Grouped bars over buckets (or over buyers)."""
    values = [float(v) for s in series for v in s.values if v is not None]
    top = _nice_max(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n, k = max(len(labels), 1), max(len(series), 1)
    slot = plot_w / n
    bar = max(1.0, slot * 0.8 / k)
    parts = _frame(labels, top, unit, title)
    for j, s in enumerate(series):
        for i, v in enumerate(s.values):
            if not v:
                continue
            h = plot_h * float(v) / top
            x = LEFT + slot * i + slot * 0.1 + bar * j
            parts.append(
                f'<rect class="bar s{j}" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}">'
                f"<title>{_point(s.name, labels[i], float(v), unit)}</title>"
                "</rect>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts) + _legend(series))  # noqa: S308 (every text is escaped)
