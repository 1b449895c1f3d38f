"""Reports written by each run: reports/<profile>/<run>/ with drift.html (Evidently), checks.html and
summary.json, plus reports/index.html listing the runs.

Pages rendered here are self-contained (no CDN, no external font) and escape every string that came
from the logs: a logged prompt or model name is attacker-controlled input.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from llmvigil.results import ChecksSummary, RunSummary

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #d5d9e0;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f2f4f7}.pass{color:#11734b;font-weight:600}.fail{color:#b42318;font-weight:600}
code{background:#f2f4f7;padding:0 .2rem}
"""


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>")


def _cell(v: Any) -> str:
    if isinstance(v, (dict, list)):
        v = json.dumps(v, ensure_ascii=False, default=str)
    return escape("" if v is None else str(v))


def checks_html(profile: str, run_id: str, checks: ChecksSummary) -> str:
    if checks.skipped:
        body = f"<h1>Output checks · {escape(profile)}</h1><p>Not run: {escape(checks.skipped)}</p>"
        return _page(f"checks {profile} {run_id}", body)
    rows = []
    for r in checks.results:
        status = '<span class="pass">pass</span>' if r.success else '<span class="fail">FAIL</span>'
        examples = "<br>".join(_cell(e) for e in r.unexpected_examples)
        rows.append(f"<tr><td>{status}</td><td><code>{_cell(r.expectation)}</code></td><td>{_cell(r.column)}</td>"
                    f"<td>{_cell(r.kwargs)}</td><td>{_cell(r.observed)}</td><td>{_cell(r.unexpected_count)}</td>"
                    f"<td>{examples}</td></tr>")
    passed = sum(r.success for r in checks.results)
    body = (f"<h1>Output checks · {escape(profile)}</h1><p>Run <code>{escape(run_id)}</code>: "
            f"{passed} of {checks.evaluated} expectations passed.</p>"
            "<table><tr><th>status</th><th>expectation</th><th>column</th><th>parameters</th>"
            "<th>observed</th><th>unexpected</th><th>failing examples (PII masked)</th></tr>"
            + "".join(rows) + "</table>")
    return _page(f"checks {profile} {run_id}", body)


def write_run(run_dir: Path, summary: RunSummary) -> dict[str, str]:
    """Write checks.html and summary.json of a run (drift.html is written by the drift step)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    (run_dir / "checks.html").write_text(checks_html(summary.profile, summary.run_id, summary.checks),
                                         encoding="utf-8")
    paths["checks"] = str(run_dir / "checks.html")
    if (run_dir / "drift.html").exists():
        paths["drift"] = str(run_dir / "drift.html")
    paths["summary"] = str(run_dir / "summary.json")
    summary.reports = paths
    (run_dir / "summary.json").write_text(json.dumps(summary.to_json(), indent=2, ensure_ascii=False),
                                          encoding="utf-8")
    return paths


def write_index(reports_dir: Path) -> Path:
    """reports/index.html: every profile's runs, newest first, with their status and links."""
    rows = []
    for summary_file in sorted(reports_dir.glob("*/*/summary.json"), reverse=True):
        try:
            s = json.loads(summary_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        firing = [f for f in s.get("findings", []) if f.get("status") == "firing"]
        status = ('<span class="fail">FIRING: ' + escape(", ".join(sorted({f["rule"] for f in firing}))) + "</span>"
                  if firing else '<span class="pass">OK</span>')
        rel = summary_file.parent.relative_to(reports_dir).as_posix()
        links = " · ".join(f'<a href="{escape(rel)}/{name}">{name}</a>'
                           for name in ("drift.html", "checks.html", "summary.json")
                           if (summary_file.parent / name).exists())
        window = s.get("window", {}).get("current", ["", ""])
        rows.append(f"<tr><td>{_cell(s.get('profile'))}</td><td>{_cell(window[0])} → {_cell(window[1])}</td>"
                    f"<td>{_cell(s.get('kpis', {}).get('current', {}).get('volume'))}</td><td>{status}</td><td>{links}</td></tr>")
    body = ("<h1>llmvigil reports</h1><table><tr><th>profile</th><th>window</th><th>volume</th>"
            "<th>status</th><th>pages</th></tr>" + "".join(rows) + "</table>")
    reports_dir.mkdir(parents=True, exist_ok=True)
    out = reports_dir / "index.html"
    out.write_text(_page("llmvigil reports", body), encoding="utf-8")
    return out
