"""The llmvigil pages: the index of profiles, a profile's dashboard, a run's overview and its checks.

Renderers are pure functions from typed data to HTML text. Every string goes through `esc`; every
link through `href`/`link` (strict parts only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from llmvigil import pii
from llmvigil.dashboard.charts import Point, line_chart, sparkline
from llmvigil.dashboard.data import Example, RunExtras, RunRecord, SegmentTable
from llmvigil.dashboard.html import esc, fmt, fmt_delta, fmt_time, href, label, link, page, safe_part
from llmvigil.kpis import KPI_SQL, RULES
from llmvigil.profile import Profile
from llmvigil.results import SEVERITY_ORDER, ChecksSummary, RunSummary

# Trend charts every profile page shows, in this order; rules with a threshold follow.
CORE_TRENDS: list[tuple[str, str, str]] = [
    ("volume", "Volume", "interactions in the run's window"),
    ("refusal_rate", "Refusal rate", "share of answers that refuse"),
    ("retry_rate", "Retry rate", "share of calls that repeat an earlier one"),
    ("error_rate", "Error rate", "share of calls with status error or timeout"),
    ("p95_latency_ms", "p95 latency", "95th percentile latency"),
    ("cost_usd", "Cost", "cost of the run's window (USD)"),
    ("drift_share", "Drift share", "share of drift columns that drifted"),
    ("checks_passed", "Checks passed", "output expectations that passed"),
]
SPARK_METRICS = ["volume", "refusal_rate", "error_rate", "p95_latency_ms"]
SEGMENT_KPIS = ["volume", "error_rate", "refusal_rate", "retry_rate", "p95_latency_ms", "lang_mismatch_rate",
                "cost_per_1k_usd"]
RUN_TABLE_ROWS = 200
RUN_FILES = {"drift": "drift.html", "checks": "checks.html", "summary": "summary.json"}


def _rule_of(metric: str) -> str:
    return "checks_failed" if metric == "checks_passed" else metric


def trend_metrics(profile: Profile | None, history: list[RunRecord]) -> list[tuple[str, str, str]]:
    """The core trends, then every other rule that has a threshold (in the profile or in any run)."""
    out = list(CORE_TRENDS)
    seen = {m for m, _, _ in out} | {"checks_failed"}
    rules = list(profile.thresholds) if profile else []
    for r in history:
        rules += [str(f.get("rule")) for f in r.findings]
    for rule in rules:
        if rule not in seen and rule in RULES:
            seen.add(rule)
            out.append((rule, label(rule), RULES[rule]))
    return out


def points(history: list[RunRecord], metric: str) -> list[Point]:
    rule = _rule_of(metric)
    out = []
    for r in history:
        thr, bound = (None, None) if metric == "checks_passed" else r.threshold(rule)
        segs = r.firing_segments(rule)
        firing = bool(segs) or (metric == "checks_passed" and r.checks.get("success") is False)
        note = ", ".join("whole window" if s is None else str(s) for s in segs[:4]) + (" …" if len(segs) > 4 else "")
        if metric == "checks_passed" and r.checks.get("failed"):
            note = "failed: " + ", ".join(str(x) for x in r.checks["failed"][:4])
        out.append(Point(at=r.at, value=r.metric(metric), threshold=thr, bound=bound, firing=firing, note=note,
                         segment_only=bool(segs) and None not in segs))
    return out


# ---- small pieces ---------------------------------------------------------------------------------
def _status_of(findings: list[dict[str, Any]], volume: Any = None) -> str:
    if any(f.get("status") == "firing" for f in findings):
        return "firing"
    if findings and all(f.get("status") == "no_data" for f in findings):
        return "no_data"
    if not findings and not volume:
        return "no_data"
    return "ok"


def _pill(status: str, text: str | None = None) -> str:
    words = {"firing": "FIRING", "ok": "OK", "no_data": "NO DATA", "silenced": "SILENCED"}
    return f'<span class="pill {esc(status)}">{esc(text or words.get(status, status))}</span>'


def _sev(sev: Any) -> str:
    return f'<span class="sev {esc(sev)}">{esc(sev)}</span>'


def _cmp(f: dict[str, Any]) -> str:
    bound = f.get("bound")
    return ">" if bound == "max" else "<" if bound == "min" else ""


def _finding_sentence(f: dict[str, Any], extra: str = "") -> str:
    rule = str(f.get("rule"))
    seg = f' <span class="seg">{esc(f.get("segment"))}</span>' if f.get("segment") else ""
    ref = (f' <span class="muted">reference {esc(fmt(rule, f.get("reference")))}</span>'
           if f.get("reference") is not None else "")
    return (f'<li class="finding {esc(f.get("severity"))}">{_sev(f.get("severity"))} <b>{esc(label(rule))}</b>{seg}: '
            f'<span class="obs">{esc(fmt(rule, f.get("observed")))}</span> {esc(_cmp(f))} '
            f'{esc(fmt(rule, f.get("threshold")))}{ref}{extra}</li>')


def streaks(history: list[RunRecord]) -> dict[str, int]:
    """For each rule firing in the latest run: in how many consecutive runs, up to the latest, it fired."""
    out: dict[str, int] = {}
    for rule in history[-1].firing_rules if history else []:
        n = 0
        for r in reversed(history):
            if not r.firing_segments(rule):
                break
            n += 1
        out[rule] = n
    return out


def _streak(rule: str, streak: dict[str, int] | None) -> str:
    n = (streak or {}).get(rule)
    if not n:
        return ""
    if n == 1:
        return ' <span class="pill new">NEW</span>'
    return f' <span class="muted small">· firing for {esc(n)} runs</span>'


def _firing_list(findings: list[dict[str, Any]], limit: int = 12, streak: dict[str, int] | None = None) -> str:
    """Firing findings, one line per rule: the whole window's finding, with the segments that fire too;
    a rule that fires only in segments lists them (the regression's model, say). With `streak`, a rule
    that fired in the latest run only is marked NEW, others say for how many runs they have fired."""
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if f.get("status") == "firing":
            by_rule.setdefault(str(f.get("rule")), []).append(f)
    if not by_rule:
        return ""

    def rank(item: tuple[str, list[dict[str, Any]]]) -> tuple:
        return (min(SEVERITY_ORDER.get(str(f.get("severity")), 9) for f in item[1]),
                all(f.get("segment") for f in item[1]), item[0])

    items = []
    for rule, fs in sorted(by_rule.items(), key=rank):
        whole = next((f for f in fs if f.get("segment") is None), None)
        segs = sorted((f for f in fs if f.get("segment")), key=lambda f: str(f.get("segment")))
        if whole is not None:
            extra = ""
            if segs:
                names = "".join(f' <span class="seg">{esc(f.get("segment"))}</span>' for f in segs[:3])
                more = f" +{len(segs) - 3}" if len(segs) > 3 else ""
                extra = f' <span class="muted small">· in{names}{more}</span>'
            items.append(_finding_sentence(whole, extra + _streak(rule, streak)))
        else:
            items += [_finding_sentence(f, _streak(rule, streak) if i == 0 else "") for i, f in enumerate(segs[:3])]
            if len(segs) > 3:
                items.append(f'<li class="muted small">{esc(label(rule))}: {len(segs) - 3} more segments</li>')
    more = f'<li class="muted">and {len(items) - limit} more</li>' if len(items) > limit else ""
    return '<ul class="findings">' + "".join(items[:limit]) + more + "</ul>"


def _run_links(run_id: str, present: dict[str, bool], *, up: tuple[str, ...] = (), overview: bool = True) -> str:
    """Links to a run's pages that exist; `up` leads from the current page to the profile folder."""
    if not safe_part(run_id):
        return '<span class="muted">(unsafe run id)</span>'
    items = []
    if overview and present.get("run"):
        items.append(link("overview", *up, run_id, "index.html"))
    for key, text in (("drift", "drift"), ("checks", "checks"), ("summary", "summary.json")):
        if present.get(key):
            items.append(link(text, *up, run_id, RUN_FILES[key]))
    return '<span class="links">' + " · ".join(items) + "</span>" if items else '<span class="muted">pruned</span>'


# ---- checks page --------------------------------------------------------------------------------
def _expectation_name(e: str) -> str:
    return e.removeprefix("expect_").removeprefix("column_").replace("_", " ")


def _kwargs(kwargs: dict[str, Any]) -> str:
    parts = []
    for k, v in kwargs.items():
        if k in ("column", "result_format", "catch_exceptions"):
            continue
        if k == "mostly" and isinstance(v, (int, float)):
            parts.append(f"<span>mostly {esc(f'{100 * v:g}%')}</span>")
        else:
            parts.append(f"<span>{esc(k.replace('_', ' '))} <code>{esc(v)}</code></span>")
    return " ".join(parts)


def checks_page(profile: str, run_id: str, at: datetime, window: list[str | None], checks: ChecksSummary) -> str:
    up = ("..", "..")
    crumbs = [(profile, href("..", "index.html")), (fmt_time(at), href("index.html")), ("checks", None)]
    head = (f'<h1>Output checks <span class="muted">· {esc(profile)}</span></h1>'
            f'<p class="meta">Run {esc(fmt_time(at))} · current window {esc(fmt_time(window[0]))} → '
            f'{esc(fmt_time(window[1]))} · <a href="{href("index.html")}">run overview</a></p>')
    if checks.skipped or checks.success is None:
        body = head + f'<div class="banner no_data">{_pill("no_data", "NOT RUN")} {esc(checks.skipped or "")}</div>'
        return page(f"checks · {profile} · {run_id}", body, depth=len(up), crumbs=crumbs)
    passed = sum(r.success for r in checks.results)
    status = "ok" if checks.success else "firing"
    banner = (f'<div class="banner {status}">{_pill(status, "ALL PASSED" if checks.success else "FAILED")} '
              f'<b>{passed} of {checks.evaluated}</b> expectations passed'
              + ("" if checks.success else " · failed: " + esc(", ".join(checks.failed))) + "</div>")
    rows = []
    for r in sorted(checks.results, key=lambda r: r.success):
        examples = "".join('<li><span class="muted">null</span></li>' if e is None else f"<li><code>{esc(_masked(e))}</code></li>"
                           for e in r.unexpected_examples[:5])
        examples = f'<ul class="examples">{examples}</ul>' if examples else ""
        rows.append(
            f'<tr class="{"pass" if r.success else "fail"}"><td>{_pill("ok" if r.success else "firing", "pass" if r.success else "FAIL")}</td>'
            f'<td><b>{esc(_expectation_name(r.expectation))}</b><div class="muted small"><code>{esc(r.expectation)}</code></div></td>'
            f"<td><code>{esc(r.column)}</code></td><td class=\"params\">{_kwargs(r.kwargs)}</td>"
            f"<td>{esc(_observed(r.observed))}</td><td class=\"num\">{esc(r.unexpected_count)}</td><td>{examples}</td></tr>"
        )
    table = ('<table class="data checks"><thead><tr><th>status</th><th>expectation</th><th>column</th>'
             "<th>parameters</th><th>observed</th><th>unexpected rows</th><th>failing examples (PII masked)</th>"
             "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    body = head + banner + table
    return page(f"checks · {profile} · {run_id}", body, depth=len(up), crumbs=crumbs)


def _masked(v: Any) -> Any:
    return pii.mask(v) if isinstance(v, str) else v


def _observed(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}"
    return "" if v is None else str(_masked(v) if isinstance(v, str) else v)


# ---- run page -----------------------------------------------------------------------------------
def _segment_table(t: SegmentTable, findings: list[dict[str, Any]], profile: Profile | None) -> str:
    title = f'<h3>{esc(t.heading)}</h3>'
    if not t.rows:
        return title + f'<p class="muted">No <code>{esc(t.column)}</code> in the logs of these windows.</p>'
    firing = {(f.get("rule"), f.get("segment")) for f in findings if f.get("status") == "firing"}
    min_samples = profile.alerts.min_samples if profile else 0
    head = "".join(f'<th class="num">{esc(label(k))}</th>' for k in SEGMENT_KPIS)
    rows = []
    for value, w in t.rows.items():
        cur, ref = w.get("current") or {}, w.get("reference") or {}
        few = (cur.get("volume") or 0) < min_samples
        cells = []
        for k in SEGMENT_KPIS:
            c, r = cur.get(k), ref.get(k)
            cls = ["num"]
            if (k, f"{t.column}={value}") in firing:
                cls.append("breach")
            elif profile and k != "volume" and not few and c is not None and k in profile.thresholds:
                thr = profile.thresholds[k]
                if (thr.max is not None and c > thr.max) or (thr.min is not None and c < thr.min):
                    cls.append("breach")
            delta = fmt_delta(k, c, r)
            cells.append(f'<td class="{" ".join(cls)}"><span class="cur">{esc(fmt(k, c))}</span>'
                         f'<span class="ref">{esc(fmt(k, r))}{" · " + esc(delta) if delta else ""}</span></td>')
        name_cls = "segval few" if few else "segval"
        rows.append(f'<tr><th class="{name_cls}" scope="row">{esc(value)}</th>{"".join(cells)}</tr>')
    more = f'<p class="muted small">{t.hidden} smaller values not shown.</p>' if t.hidden else ""
    return (title + f'<table class="data seg"><thead><tr><th>{esc(t.column)}</th>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>" + more)


def segments_section(extras: RunExtras | None, findings: list[dict[str, Any]], profile: Profile | None) -> str:
    if extras is None or not extras.segments:
        return ""
    return ('<section class="segments"><h2>Segments <span class="muted small">current window, '
            "reference below each value (with the change); red: beyond the profile's threshold</span></h2>"
            + "".join(_segment_table(t, findings, profile) for t in extras.segments) + "</section>")


def _example(e: Example) -> str:
    meta = " · ".join(esc(x) for x in (
        e.ts.strftime("%Y-%m-%d %H:%M:%S"), e.model, e.status if e.status != "ok" else None, e.error_type,
        f"finish {e.finish_reason}" if e.finish_reason else None,
        f"{e.prompt_lang or '?'} → {e.response_lang or '?'}" if (e.prompt_lang or e.response_lang) else None,
    ) if x)
    resp = (f'<div class="txt"><span class="who">answer</span>{esc(e.response)}</div>' if e.response is not None
            else '<div class="txt muted"><span class="who">answer</span>(none)</div>')
    return (f'<article class="example"><div class="meta small">{meta}</div>'
            f'<div class="txt"><span class="who">prompt</span>{esc(e.prompt)}</div>{resp}</article>')


def examples_section(extras: RunExtras | None) -> str:
    if extras is None:
        return ""
    if not extras.examples:
        return '<section><h2>Examples</h2><p class="muted">No errors, refusals, PII or language mismatches in the current window.</p></section>'
    groups: dict[str, list[Example]] = {}
    for e in extras.examples:
        groups.setdefault(e.kind, []).append(e)
    body = "".join(f'<h3>{esc(kind)}</h3><div class="examples-grid">{"".join(_example(e) for e in items)}</div>'
                   for kind, items in groups.items())
    return ('<section class="examples"><h2>Examples <span class="muted small">from the current window, '
            "PII masked, shortened</span></h2>" + body + "</section>")


def run_page(summary: RunSummary, extras: RunExtras | None, profile: Profile | None,
             present: dict[str, bool]) -> str:
    s = summary.to_json()
    findings = s["findings"]
    status = _status_of(findings, s["kpis"].get("current", {}).get("volume"))
    crumbs = [(summary.profile, href("..", "index.html")), (fmt_time(summary.at), None)]
    w = s["window"]
    parts = [
        f'<h1>Run {esc(fmt_time(summary.at))} <span class="muted">· {esc(summary.profile)}</span></h1>',
        f'<p class="meta">Current window {esc(fmt_time(w["current"][0]))} → {esc(fmt_time(w["current"][1]))} · '
        f'reference {esc(fmt_time(w["reference"][0]))} → {esc(fmt_time(w["reference"][1]))} · '
        f'run id <code>{esc(summary.run_id)}</code></p>',
        f'<p class="pages">{_run_links(summary.run_id, present, up=("..",), overview=False)}</p>',
        _banner(status, findings, s["kpis"].get("current", {}).get("volume"), s["ingest"]),
        _findings_table(findings),
        _kpi_table(s["kpis"]),
        segments_section(extras, findings, profile),
        _drift_table(summary),
        examples_section(extras),
        _ingest_note(s),
    ]
    return page(f"{summary.profile} · run {fmt_time(summary.at)}", "".join(parts), depth=2, crumbs=crumbs)


def _banner(status: str, findings: list[dict[str, Any]], volume: Any, ingest: dict[str, Any],
            streak: dict[str, int] | None = None) -> str:
    firing = [f for f in findings if f.get("status") == "firing"]
    if status == "firing":
        rules = sorted({str(f.get("rule")) for f in firing})
        text = (f"<b>{len(rules)} rule{'s' if len(rules) != 1 else ''} firing</b>: "
                + esc(", ".join(label(r) for r in rules)))
    elif status == "no_data":
        text = "Too few interactions to judge: every rule is NO DATA."
    else:
        text = "Every threshold holds."
    err = (f'<div class="banner firing">{_pill("firing", "SOURCE ERROR")} {esc(ingest.get("error"))}</div>'
           if ingest.get("error") else "")
    return err + f'<div class="banner {status}">{_pill(status)} {text}{_firing_list(findings, streak=streak)}</div>'


def _findings_table(findings: list[dict[str, Any]]) -> str:
    """Firing findings and the whole window's; the other segments' findings fold away (no script:
    a <details> element)."""
    if not findings:
        return ""
    main = [f for f in findings if f.get("status") == "firing" or f.get("segment") is None]
    rest = [f for f in findings if f not in main]
    out = '<section><h2>Findings</h2>' + _findings_rows(main)
    if rest:
        counts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(
            {st: sum(1 for f in rest if f.get("status") == st) for st in {str(f.get("status")) for f in rest}}.items()))
        out += (f'<details><summary>{len(rest)} more findings of segments ({esc(counts)})</summary>'
                + _findings_rows(rest) + "</details>")
    return out + "</section>"


def _findings_rows(findings: list[dict[str, Any]]) -> str:
    rows = []
    for f in findings:
        rule = str(f.get("rule"))
        rows.append(
            f'<tr class="{esc(f.get("status"))}"><td>{_pill(str(f.get("status")))}</td><td>{esc(label(rule))}'
            f'<div class="muted small"><code>{esc(rule)}</code></div></td><td>{esc(f.get("segment") or "whole window")}</td>'
            f'<td class="num">{esc(fmt(rule, f.get("observed")))}</td>'
            f'<td class="num">{esc(f.get("bound") or "")} {esc(fmt(rule, f.get("threshold")))}</td>'
            f'<td class="num">{esc(fmt(rule, f.get("reference")))}</td><td>{_sev(f.get("severity"))}</td>'
            f'<td class="num">{esc(f.get("samples"))}</td></tr>')
    return ('<table class="data findings"><thead><tr><th>status</th><th>rule</th><th>segment</th>'
            '<th class="num">observed</th><th class="num">threshold</th><th class="num">reference</th>'
            '<th>severity</th><th class="num">samples</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _kpi_table(k: dict[str, Any]) -> str:
    cur, ref = k.get("current") or {}, k.get("reference") or {}
    rows = []
    for name, (_, desc) in KPI_SQL.items():
        if cur.get(name) is None and ref.get(name) is None:
            continue
        rows.append(f'<tr><td>{esc(label(name))}<div class="muted small">{esc(desc)}</div></td>'
                    f'<td class="num">{esc(fmt(name, cur.get(name)))}</td><td class="num">{esc(fmt(name, ref.get(name)))}</td>'
                    f'<td class="num">{esc(fmt_delta(name, cur.get(name), ref.get(name)))}</td></tr>')
    return ('<section><h2>KPIs</h2><table class="data kpis"><thead><tr><th>KPI</th><th class="num">current</th>'
            '<th class="num">reference</th><th class="num">change</th></tr></thead><tbody>' + "".join(rows)
            + "</tbody></table></section>")


def _drift_table(summary: RunSummary) -> str:
    d = summary.drift
    if d.skipped:
        return f'<section><h2>Drift</h2><p class="muted">Not computed: {esc(d.skipped)}</p></section>'
    rows = "".join(
        f'<tr class="{"firing" if c.drifted else ""}"><td><code>{esc(name)}</code></td><td>{esc(c.method)}</td>'
        f'<td class="num">{esc("–" if c.score is None else f"{c.score:.3g}")}</td>'
        f'<td class="num">{esc("–" if c.threshold is None else f"{c.threshold:g}")}</td>'
        f'<td>{_pill("firing", "drifted") if c.drifted else _pill("ok", "stable")}</td></tr>'
        for name, c in d.columns.items())
    share = "–" if d.share_drifted is None else f"{100 * d.share_drifted:.0f}%"
    return (f'<section><h2>Drift <span class="muted small">{esc(share)} of columns drifted · rows '
            f'{esc(d.rows.get("current"))} current, {esc(d.rows.get("reference"))} reference</span></h2>'
            '<table class="data"><thead><tr><th>column</th><th>method</th><th class="num">score</th>'
            f'<th class="num">threshold</th><th>status</th></tr></thead><tbody>{rows}</tbody></table></section>')


def _ingest_note(s: dict[str, Any]) -> str:
    i = s.get("ingest") or {}
    t = s.get("timings") or {}
    timing = ", ".join(f"{esc(k)} {float(v):.1f}s" for k, v in t.items() if isinstance(v, (int, float)))
    return (f'<p class="foot muted small">Ingest: {esc(i.get("new_rows"))} new rows, {esc(i.get("rejected"))} rejected, '
            f'{esc(i.get("total_rows"))} stored. Timings: {timing or "–"}.</p>')


# ---- profile page -------------------------------------------------------------------------------
def _chart_card(history: list[RunRecord], metric: str, title: str, desc: str) -> str:
    pts = points(history, metric)
    last = pts[-1]
    ref_line, ref_label = None, ""
    if metric == "checks_passed" and history[-1].checks.get("evaluated"):
        ref_line, ref_label = float(history[-1].checks["evaluated"]), f"of {history[-1].checks['evaluated']}"
    thr = ""
    whole = history[-1].whole(_rule_of(metric))
    if last.threshold is not None:
        sev = whole.get("severity")
        thr = f'{esc(last.bound or "")} {esc(fmt(metric, last.threshold))}' + (f" · {esc(sev)}" if sev else "")
    ref = whole.get("reference") if metric != "checks_passed" else None
    sub = " · ".join(x for x in (thr, f"reference {esc(fmt(metric, ref))}" if ref is not None else "") if x)
    fire = " fire" if last.firing else ""
    value = fmt(metric, last.value) + (f" / {history[-1].checks.get('evaluated')}" if metric == "checks_passed"
                                       and last.value is not None else "")
    n_fire = sum(p.firing for p in pts)
    return (f'<figure class="chart{fire}" data-metric="{esc(metric)}"><figcaption><span class="title">{esc(title)}</span>'
            f'<span class="latest">{esc(value)}</span></figcaption>'
            f'<div class="sub muted small"><span>{esc(desc)}</span><span>{sub}</span></div>'
            + line_chart(pts, metric, title=title, reference_line=ref_line, reference_label=ref_label)
            + (f'<div class="muted small">{n_fire} of {len(pts)} runs firing</div>' if n_fire else
               f'<div class="muted small">no run firing</div>') + "</figure>")


def _runs_table(history: list[RunRecord], present: dict[str, dict[str, bool]], keep_days: float) -> str:
    shown = list(reversed(history))[:RUN_TABLE_ROWS]
    rows = []
    for r in shown:
        status = _status_of(r.findings, r.kpis.get("volume"))
        rules = r.firing_rules
        st = _pill(status) + (f' <span class="rules">{esc(", ".join(label(x) for x in rules))}</span>' if rules else "")
        passed = r.checks_passed
        checks = "–" if passed is None else f"{passed}/{r.checks.get('evaluated')}"
        p = present.get(r.run_id, {})
        when = link(fmt_time(r.at), r.run_id, "index.html") if p.get("run") and safe_part(r.run_id) else esc(fmt_time(r.at))
        rows.append(
            f'<tr class="{status}"><td>{when}</td><td class="num">{esc(fmt("volume", r.metric("volume")))}</td>'
            f'<td class="num">{esc(fmt("refusal_rate", r.metric("refusal_rate")))}</td>'
            f'<td class="num">{esc(fmt("error_rate", r.metric("error_rate")))}</td>'
            f'<td class="num">{esc(fmt("p95_latency_ms", r.metric("p95_latency_ms")))}</td>'
            f'<td class="num">{esc(fmt("drift_share", r.drift_share))}</td><td class="num">{esc(checks)}</td>'
            f"<td>{st}</td><td>{_run_links(r.run_id, p, overview=False)}</td></tr>")
    note = ""
    if len(history) > len(shown):
        note = f'<p class="muted small">Showing the latest {len(shown)} of {len(history)} runs; the trends above cover all of them.</p>'
    return ('<section class="runs"><h2>Runs <span class="muted small">newest first · per-run pages are kept '
            f"{esc(f'{keep_days:g}')} days, trends keep every run</span></h2>"
            '<table class="data runs"><thead><tr><th>run</th><th class="num">volume</th><th class="num">refusals</th>'
            '<th class="num">errors</th><th class="num">p95 latency</th><th class="num">drift</th>'
            '<th class="num">checks</th><th>status</th><th>pages</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>" + note + "</section>")


def profile_page(profile: Profile, history: list[RunRecord], extras: RunExtras | None,
                 present: dict[str, dict[str, bool]]) -> str:
    latest = history[-1]
    status = _status_of(latest.findings, latest.kpis.get("volume"))
    crumbs = [(profile.name, None)]
    desc = f'<p class="desc">{esc(profile.description)}</p>' if profile.description else ""
    links = _run_links(latest.run_id, present.get(latest.run_id, {}))
    charts = "".join(_chart_card(history, m, t, d) for m, t, d in trend_metrics(profile, history))
    span = f"{fmt_time(history[0].at)} → {fmt_time(latest.at)}"
    body = (
        f'<h1>{esc(profile.name)}</h1>{desc}'
        f'<p class="meta">Latest run {esc(fmt_time(latest.at))} · window {esc(fmt_time(latest.window[0]))} → '
        f'{esc(fmt_time(latest.window[1]))} · {esc(fmt("volume", latest.metric("volume")))} interactions · {links}</p>'
        + _banner(status, latest.findings, latest.kpis.get("volume"), latest.ingest,
                  streaks(history) if len(history) > 1 else None)
        + f'<section class="trends"><h2>Trends <span class="muted small">{len(history)} runs, {esc(span)} · '
          "dashed: threshold · shaded: beyond it · red dot: the rule fired · red ring: it fired in a segment only"
          "</span></h2>"
        + f'<div class="grid">{charts}</div></section>'
        + segments_section(extras, latest.findings, profile)
        + _runs_table(history, present, profile.reports.keep_runs.total_seconds() / 86400)
    )
    return page(f"{profile.name} · llmvigil", body, depth=1, crumbs=crumbs)


# ---- status file and index ----------------------------------------------------------------------
def status_record(profile: Profile, history: list[RunRecord], present: dict[str, dict[str, bool]],
                  spark_runs: int = 60) -> dict[str, Any]:
    """What the index shows of a profile (written as reports/<profile>/status.json)."""
    latest = history[-1]
    recent = history[-spark_runs:]
    metrics = list(SPARK_METRICS) + [r for r in latest.firing_rules if r not in SPARK_METRICS and r != "checks_failed"]
    spark = []
    for m in metrics[:6]:
        spark.append({"metric": m, "points": [[p.at.strftime("%Y-%m-%dT%H:%M:%SZ"), p.value, p.threshold, p.bound,
                                                p.firing] for p in points(recent, m)]})
    return {
        "profile": profile.name,
        "description": profile.description,
        "runs": len(history),
        "first_at": history[0].at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "latest": {
            "run_id": latest.run_id, "at": latest.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "window": latest.window,
            "volume": latest.metric("volume"), "status": _status_of(latest.findings, latest.kpis.get("volume")),
            "source_error": latest.ingest.get("error"),
            "firing": [f for f in latest.findings if f.get("status") == "firing"],
            "streaks": streaks(history) if len(history) > 1 else {},
            "pages": present.get(latest.run_id, {}),
        },
        "spark": spark,
    }


def _card(st: dict[str, Any]) -> str:
    name = str(st.get("profile", ""))
    if not safe_part(name):
        return ""
    latest = st.get("latest") or {}
    status = str(latest.get("status") or "no_data")
    firing = [f for f in latest.get("firing") or [] if isinstance(f, dict)]
    rules = sorted({str(f.get("rule")) for f in firing})
    pill = _pill(status, f"FIRING · {len(rules)} rule{'s' if len(rules) != 1 else ''}" if rules else None)
    sparks = []
    for sp in st.get("spark") or []:
        m = str(sp.get("metric"))
        pts = []
        for row in sp.get("points") or []:
            try:
                at, value, thr, bound, fire = row
                pts.append(Point(datetime.fromisoformat(str(at).replace("Z", "")), value, thr, bound, bool(fire)))
            except (TypeError, ValueError):
                continue
        if not pts:
            continue
        fire = " fire" if pts[-1].firing else ""
        sparks.append(f'<div class="sparkcell{fire}"><div class="small muted">{esc(label(m))}</div>'
                      f'<div class="v">{esc(fmt(m, pts[-1].value))}</div>{sparkline(pts, m)}</div>')
    run_id = str(latest.get("run_id") or "")
    links = _run_links(run_id, latest.get("pages") or {}, up=(name,)) if run_id else ""
    err = (f'<p class="err">{_pill("firing", "SOURCE ERROR")} {esc(latest.get("source_error"))}</p>'
           if latest.get("source_error") else "")
    window = latest.get("window") or [None, None]
    return (
        f'<article class="card {esc(status)}"><div class="card-head"><h2>{link(name, name, "index.html")}</h2>{pill}</div>'
        + (f'<p class="desc">{esc(st.get("description"))}</p>' if st.get("description") else "")
        + f'<p class="meta small">Last run {esc(fmt_time(latest.get("at")))} · window {esc(fmt_time(window[0]))} → '
          f'{esc(fmt_time(window[-1]))} · {esc(fmt("volume", latest.get("volume")))} interactions · '
          f'{esc(st.get("runs"))} runs since {esc(fmt_time(st.get("first_at")))}</p>'
        + err + _firing_list(firing, limit=8, streak=latest.get("streaks") if isinstance(latest.get("streaks"), dict) else None)
        + f'<div class="sparks">{"".join(sparks)}</div>'
        + f'<p class="small">{link("dashboard", name, "index.html")} · latest run: {links}</p></article>'
    )


def index_page(statuses: list[dict[str, Any]], generated: datetime) -> str:
    order = {"firing": 0, "no_data": 1, "ok": 2}
    statuses = sorted(statuses, key=lambda s: (order.get(str((s.get("latest") or {}).get("status")), 3),
                                               str(s.get("profile"))))
    n_fire = sum((s.get("latest") or {}).get("status") == "firing" for s in statuses)
    summary = (f"{len(statuses)} profile{'s' if len(statuses) != 1 else ''} · "
               + (f'<span class="fire-text">{n_fire} firing</span>' if n_fire else "all OK"))
    cards = "".join(_card(s) for s in statuses) or '<p class="muted">No runs yet: run <code>llmvigil run --profile ...</code>.</p>'
    body = (f'<h1>Monitored applications</h1><p class="meta">{summary} · page written {esc(fmt_time(generated))}</p>'
            f'<div class="cards">{cards}</div>')
    return page("llmvigil · reports", body, depth=0)
