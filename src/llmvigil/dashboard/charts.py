"""Trend charts as inline SVG, rendered in Python.

Why SVG from Python and not a JavaScript chart library: the pages then need no script at all, so
their Content-Security-Policy forbids every script (a logged prompt that slipped through escaping
could still not run), nothing has to be vendored or kept up to date, the charts show in any browser
and in a screenshot, and tests can count the drawn points in the DOM. Tooltips are SVG `<title>`
elements (the browser shows them on hover, no script needed). Colours live in the shared stylesheet.

A year of hourly runs is 8,760 points: above MAX_POINTS the line keeps each bucket's lowest and
highest value (spikes stay visible), and every firing run keeps its marker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from llmvigil.dashboard.html import INTEGER_METRICS, esc, fmt

MAX_POINTS = 1200
DOTS_UP_TO = 90  # draw a dot for every run up to this many runs; above it only firing runs get one
BANDS_UP_TO = 400
MAX_FIRING_DOTS = 400


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float | None
    threshold: float | None = None
    bound: str | None = None  # "max" | "min"
    firing: bool = False
    note: str = ""  # extra tooltip text, e.g. which segments fired
    segment_only: bool = False  # the rule fired in a segment only (drawn as a ring, not a dot)


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks if span > 0 else 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _y_range(points: list[Point], extra: list[float], integer: bool = False) -> tuple[float, float, list[float]]:
    vals = [p.value for p in points if p.value is not None]
    vals += [p.threshold for p in points if p.threshold is not None] + extra
    lo = min([0.0, *vals])
    hi = max([*vals, lo])
    if hi - lo <= 0:
        hi = lo + (1.0 if lo == 0 else abs(lo))
    hi = lo + (hi - lo) * 1.08
    step = _nice_step(hi - lo)
    if integer:
        step = max(1.0, round(step))
    lo = math.floor(lo / step) * step
    n = max(1, math.ceil((hi - lo) / step - 1e-9))
    ticks = [lo + i * step for i in range(n + 1)]
    return lo, ticks[-1], ticks


def _downsample(points: list[Point], limit: int = MAX_POINTS) -> list[Point]:
    if len(points) <= limit:
        return points
    buckets = limit // 2
    size = len(points) / buckets
    out: list[Point] = []
    for b in range(buckets):
        chunk = points[int(b * size):int((b + 1) * size)]
        known = [p for p in chunk if p.value is not None]
        if not known:
            out.append(chunk[0])
            continue
        lo = min(known, key=lambda p: p.value)
        hi = max(known, key=lambda p: p.value)
        out.extend(sorted({id(lo): lo, id(hi): hi}.values(), key=lambda p: p.at))
    return out


def _fmt_tick(metric: str, v: float) -> str:
    return fmt(metric, v, short=True)


def _time_labels(ts: list[datetime]) -> str:
    span = (ts[-1] - ts[0]).total_seconds() if len(ts) > 1 else 0
    if span >= 300 * 86400:
        return "%b %Y"
    if span >= 2 * 86400:
        return "%b %d"
    return "%H:%M"


def _tooltip(metric: str, p: Point) -> str:
    parts = [p.at.strftime("%Y-%m-%d %H:%M"), fmt(metric, p.value)]
    if p.threshold is not None:
        parts.append(f"{p.bound or 'limit'} {fmt(metric, p.threshold)}")
    if p.firing:
        parts.append(("FIRING in a segment" if p.segment_only else "FIRING") + (f" ({p.note})" if p.note else ""))
    return " · ".join(parts)


def line_chart(points: list[Point], metric: str, *, title: str, width: int = 560, height: int = 190,
               reference_line: float | None = None, reference_label: str = "") -> str:
    """An SVG line chart of one metric over runs, with its threshold, the zone beyond it shaded, and
    a red marker on every run where the metric's rule fired."""
    left, right, top, bottom = 52, 62, 10, 24
    pw, ph = width - left - right, height - top - bottom
    head = (f'<svg class="chart-svg" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{esc(title)} over {len(points)} runs">')
    known = [p for p in points if p.value is not None]
    if not known:
        return (head + f'<text class="empty" x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle">'
                "no data yet</text></svg>")
    extra = [reference_line] if reference_line is not None else []
    lo, hi, ticks = _y_range(points, extra, integer=metric in INTEGER_METRICS)

    def y(v: float) -> float:
        return top + ph - (v - lo) / (hi - lo) * ph

    t0, t1 = points[0].at, points[-1].at
    span = (t1 - t0).total_seconds()

    def x(t: datetime) -> float:
        if span <= 0:
            return left + pw / 2
        return left + 6 + (t - t0).total_seconds() / span * (pw - 12)

    out = [head]
    # grid and y labels
    for v in ticks:
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        out.append(f'<text class="tick" x="{left - 6}" y="{y(v) + 3.5:.1f}" text-anchor="end">'
                   f"{esc(_fmt_tick(metric, v))}</text>")
    # threshold zone (latest threshold), bands for firing runs
    last_thr = next((p for p in reversed(points) if p.threshold is not None), None)
    if last_thr is not None:
        ty = min(max(y(last_thr.threshold), top), top + ph)
        if last_thr.bound == "min":
            out.append(f'<rect class="zone" x="{left}" y="{ty:.1f}" width="{pw}" height="{top + ph - ty:.1f}"/>')
        else:
            out.append(f'<rect class="zone" x="{left}" y="{top}" width="{pw}" height="{ty - top:.1f}"/>')
    if len(points) <= BANDS_UP_TO:
        gap = (pw - 12) / max(len(points) - 1, 1)
        bw = max(3.0, min(gap * 0.7, 28.0))
        for p in points:
            if p.firing:
                x0, x1 = max(left, x(p.at) - bw / 2), min(left + pw, x(p.at) + bw / 2)
                out.append(f'<rect class="band{" seg" if p.segment_only else ""}" x="{x0:.1f}" y="{top}" '
                           f'width="{x1 - x0:.1f}" height="{ph}"/>')
    # x labels
    fmt_x = _time_labels([p.at for p in points])
    k = min(6, len(points))
    idx = sorted({round(i * (len(points) - 1) / max(k - 1, 1)) for i in range(k)})
    for i in idx:
        px = x(points[i].at)
        anchor = "middle"
        out.append(f'<text class="tick" x="{px:.1f}" y="{height - 6}" text-anchor="{anchor}">'
                   f"{esc(points[i].at.strftime(fmt_x))}</text>")
    # threshold line (a step line when the threshold changed over time) and its label
    thr_pts = [p for p in points if p.threshold is not None]
    if thr_pts:
        if len({p.threshold for p in thr_pts}) == 1:
            ty = y(thr_pts[0].threshold)
            d = f"M{left},{ty:.1f}H{left + pw}"
        else:
            d = f"M{x(thr_pts[0].at):.1f},{y(thr_pts[0].threshold):.1f}"
            for a, b in zip(thr_pts, thr_pts[1:]):
                d += f"H{x(b.at):.1f}V{y(b.threshold):.1f}"
        out.append(f'<path class="threshold" d="{d}"/>')
        out.append(f'<text class="thr-label" x="{left + pw + 4}" y="{y(last_thr.threshold) + 3.5:.1f}">'
                   f"{esc(last_thr.bound or '')} {esc(_fmt_tick(metric, last_thr.threshold))}</text>")
    if reference_line is not None:
        ry = y(reference_line)
        out.append(f'<path class="refline" d="M{left},{ry:.1f}H{left + pw}"/>')
        out.append(f'<text class="thr-label ref" x="{left + pw + 4}" y="{ry + 3.5:.1f}">{esc(reference_label)}</text>')
    # the line, broken where a run had no value, with a light area under it
    drawn = _downsample(points)
    segments: list[list[Point]] = [[]]
    for p in drawn:
        if p.value is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append(p)
    base = y(max(lo, 0.0)) if lo < 0 < hi else y(lo)
    for seg in (s for s in segments if s):
        coords = " ".join(f"{x(p.at):.1f},{y(p.value):.1f}" for p in seg)
        out.append(f'<path class="area" d="M{x(seg[0].at):.1f},{base:.1f}L{coords}L{x(seg[-1].at):.1f},{base:.1f}Z"/>')
        out.append(f'<path class="line" d="M{coords}"/>')
    # dots: every run when there are few, firing runs (those on the drawn line when there are very
    # many), the latest run always
    few = len(points) <= DOTS_UP_TO
    on_line = {id(p) for p in drawn} if sum(p.firing for p in points) > MAX_FIRING_DOTS else None
    for i, p in enumerate(points):
        last = i == len(points) - 1
        if p.value is None or not (few or p.firing or last) or (on_line is not None and not last
                                                                 and id(p) not in on_line):
            continue
        cls = ("pt" + (" fire" if p.firing else "") + (" seg" if p.firing and p.segment_only else "")
               + (" last" if last else ""))
        r = 4.6 if p.firing else (3.4 if last else 2.4)
        out.append(f'<circle class="{cls}" cx="{x(p.at):.1f}" cy="{y(p.value):.1f}" r="{r}">'
                   f"<title>{esc(_tooltip(metric, p))}</title></circle>")
    out.append("</svg>")
    return "".join(out)


def sparkline(points: list[Point], metric: str, *, width: int = 168, height: int = 40) -> str:
    """A small line without axes: threshold dashed, the latest run as a dot (red when firing)."""
    known = [p for p in points if p.value is not None]
    head = f'<svg class="spark" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(metric)} trend">'
    if not known:
        return head + "</svg>"
    lo, hi, _ = _y_range(points, [])
    pad = 4

    def y(v: float) -> float:
        return pad + (height - 2 * pad) - (v - lo) / (hi - lo) * (height - 2 * pad)

    n = len(points)

    def x(i: int) -> float:
        return pad + (i / (n - 1) if n > 1 else 0.5) * (width - 2 * pad)

    out = [head]
    last_thr = next((p for p in reversed(points) if p.threshold is not None), None)
    if last_thr is not None:
        out.append(f'<path class="threshold" d="M{pad},{y(last_thr.threshold):.1f}H{width - pad}"/>')
    coords = [f"{x(i):.1f},{y(p.value):.1f}" for i, p in enumerate(points) if p.value is not None]
    out.append(f'<path class="line" d="M{" L".join(coords)}"/>')
    for i, p in enumerate(points):
        if p.value is None:
            continue
        if p.firing or i == n - 1:
            cls = ("pt" + (" fire" if p.firing else "") + (" seg" if p.firing and p.segment_only else "")
                   + (" last" if i == n - 1 else ""))
            out.append(f'<circle class="{cls}" cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="{3.2 if p.firing else 2.6}">'
                       f"<title>{esc(_tooltip(metric, p))}</title></circle>")
    out.append("</svg>")
    return "".join(out)
