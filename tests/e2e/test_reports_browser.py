"""The reports in a real browser: headless Chromium (Debian's `chromium`) driven over the DevTools
protocol (tests/browser.py). Pages are opened from file:// and from `llmvigil serve`; the tests assert
on the rendered DOM, on the browser's network log (nothing but file:// and 127.0.0.1) and on the
absence of any script execution from logged strings, and save screenshots into test-output/reports/.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.browser import INSTALL_HINT, Chromium, chromium_path
from tests.conftest import REPO, write_jsonl
from llmvigil import reports
from tests.integration.test_reports import EVIDENTLY_LIKE, HOSTILE, build_history

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
OUT = REPO / "test-output" / "reports"
INJECTED = "img, iframe, object, embed, [onerror], [onload], [onclick], [onmouseover]"
XSS_COUNT = f"document.querySelectorAll('script, {INJECTED}').length"  # llmvigil pages have no script
INJECTED_COUNT = f"document.querySelectorAll('{INJECTED}').length"  # Evidently's page has its own four


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        pytest.fail(INSTALL_HINT)
    with Chromium(width=1280, height=900) as b:
        yield b


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """14 daily runs with the last day regressing and hostile strings in the logs (about 20 s)."""
    profile, summaries = build_history(tmp_path_factory.mktemp("site"))
    return profile, summaries


def _open(browser: Chromium, path: Path, shot: str | None = None):
    page = browser.open(path.resolve().as_uri())
    assert page.offsite_requests() == [], page.requests
    assert page.dialogs == []
    blocked = [c for c in page.console if "Content Security Policy" in c]
    assert blocked == [], blocked  # nothing of ours is blocked: the pages load only what the CSP allows
    if shot:
        page.screenshot(OUT / shot)
    return page


def test_dashboard_pages_render_offline(browser, site):
    profile, summaries = site
    root = profile.reports_dir
    last = summaries[-1]

    index = _open(browser, root / "index.html", "synthetic-index.png")
    assert (root / "_assets" / "style.css").resolve().as_uri() in index.requests
    assert index.eval("document.querySelectorAll('article.card').length") == 1
    assert index.eval("document.querySelector('article.card .pill').textContent") == "FIRING · 4 rules"
    assert index.eval("document.querySelectorAll('article.card svg.spark path.line').length") >= 4
    # the shared stylesheet applied (the CSP let it in): firing cards get a red top border
    assert index.eval("getComputedStyle(document.querySelector('article.card')).borderTopColor") == "rgb(208, 52, 44)"

    dash = _open(browser, root / profile.name / "index.html", "synthetic-dashboard.png")
    charts = dash.eval("[...document.querySelectorAll('figure.chart')].map(f => [f.dataset.metric, "
                       "f.classList.contains('fire'), f.querySelectorAll('path.line').length, "
                       "f.querySelectorAll('circle.pt').length, f.querySelectorAll('circle.pt.fire').length, "
                       "f.querySelectorAll('path.threshold').length])")
    by_metric = {m: (fire, lines, dots, fired, thr) for m, fire, lines, dots, fired, thr in charts}
    assert len(charts) >= 10
    assert by_metric["refusal_rate"] == (True, 1, 14, 1, 1)
    assert by_metric["p95_latency_ms"] == (True, 1, 14, 1, 1)
    assert by_metric["cost_usd"] == (False, 1, 14, 0, 0)
    assert by_metric["checks_passed"][:4] == (True, 1, 14, 1)
    # the last dot of the refusal chart is the firing one, and it sits above the threshold line
    top = dash.eval("(() => { const f = document.querySelector('figure[data-metric=refusal_rate]');"
                    " const c = [...f.querySelectorAll('circle.pt')]; const t = f.querySelector('path.threshold');"
                    " return [c.at(-1).classList.contains('fire'), c.at(-1).getBoundingClientRect().top,"
                    " t.getBoundingClientRect().top, c.slice(0, -1).some(x => x.classList.contains('fire'))]; })()")
    assert top[0] is True and top[1] < top[2] and top[3] is False
    assert dash.eval("document.querySelectorAll('table.runs tbody tr').length") == 14
    assert dash.eval("document.querySelectorAll('section.segments table.seg tbody tr').length") >= 8

    run = _open(browser, root / profile.name / last.run_id / "index.html", "synthetic-run.png")
    assert run.eval(XSS_COUNT) == 0
    assert run.eval("document.title") == f"demo · run {last.at:%Y-%m-%d %H:%M} UTC"  # no script renamed it
    text = run.eval("document.body.innerText")
    assert "<script>document.title='pwned'</script>" in text and "<img src=x onerror=alert(1)>" in text
    assert "[my order](javascript:alert(1))" in text and "javascript:" not in run.eval(
        "[...document.querySelectorAll('a')].map(a => a.getAttribute('href')).join(' ')")
    assert run.eval("[...document.querySelectorAll('table.seg th.segval')].map(t => t.textContent)").count(
        "<script>alert(1)</script>") == 1

    checks = _open(browser, root / profile.name / last.run_id / "checks.html", "synthetic-checks.png")
    assert checks.eval("document.querySelectorAll('table.checks tbody tr').length") == 3
    assert checks.eval("document.querySelectorAll('table.checks tr.fail').length") == 1
    assert checks.eval(XSS_COUNT) == 0
    assert "<script>alert(1)</script>" in checks.eval("document.querySelector('tr.fail').innerText")


def test_llmvigil_serve_on_localhost(browser, site):
    profile, summaries = site
    proc = subprocess.Popen([sys.executable, "-m", "llmvigil.cli", "serve", "--dir", str(profile.reports_dir),
                             "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True,
                            env={**__import__("os").environ, "PYTHONPATH": str(REPO / "src")})
    try:
        line = proc.stdout.readline()
        assert " at http://127.0.0.1:" in line, line
        url = line.split(" at ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "index.html", timeout=10) as r:
            assert r.status == 200 and r.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        page = browser.open(url)
        assert page.offsite_requests() == [] and page.dialogs == []
        assert all(u.startswith(url) for u in page.requests), page.requests
        # follow the card's link to the dashboard, as a person would
        href = page.eval("document.querySelector('article.card h2 a').href")
        assert href == url + "demo/index.html"
        dash = browser.open(href)
        assert dash.eval("document.querySelectorAll('figure.chart path.line').length") >= 10
        assert all(u.startswith(url) for u in dash.requests) and dash.offsite_requests() == []
        dash.screenshot(OUT / "served-dashboard.png", full_page=False)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_evidently_layout_with_a_breakout_value_runs_no_injected_script(browser, tmp_path):
    """Evidently writes logged values into a <script> unescaped; llmvigil repairs and pins the page."""
    raw, fixed = tmp_path / "raw.html", tmp_path / "drift.html"
    raw.write_text(EVIDENTLY_LIKE)
    fixed.write_text(EVIDENTLY_LIKE)
    assert reports.protect_drift_page(fixed)
    before = browser.open(raw.as_uri())
    assert before.dialogs == ["2", "1"] or sorted(before.dialogs) == ["1", "2"]  # the flaw, unprotected
    after = browser.open(fixed.as_uri())
    assert after.dialogs == [] and after.eval(INJECTED_COUNT) == 0
    assert after.eval("document.scripts.length") == 4
    # the page's own scripts ran (pinned by hash) and show the value as text
    assert after.eval("document.getElementById('root_metric_0a1b').textContent") == HOSTILE + " | gpt-4o-mini"
    assert [c for c in after.console if "Content Security Policy" in c] == []


# ---- the real demo: generator, Evidently, GX, 14 cycles ----------------------------------------
@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    """The demo's 14 days (per_day 300) through the real cycle, with hostile rows on the last day."""
    from llmvigil.demo import generate
    from llmvigil.pipeline import run_cycle
    from llmvigil.profile import load_profile

    base = tmp_path_factory.mktemp("demo")
    data = generate(base / "logs", days=14, end=date(2026, 12, 1), per_day=300, seed=7)
    last = datetime.combine(data.last_day, datetime.min.time())
    write_jsonl(base / "logs" / "zz-hostile.jsonl", [
        {"request_id": f"hostile-{i}", "created_at": (last + timedelta(hours=12, minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "app": "support-bot", "model": model, "model_version": model, "prompt_version": "<b>v9</b>",
         "session_id": f"hostile-{i}", "user": "mallory", "locale": "en-US", "channel": "web",
         "input": "<img src=x onerror=alert(1)> [see](javascript:alert(1)) where is my order?",
         "output": "<script>document.title='pwned'</script> I cannot help with that.",
         "latency_ms": 800, "usage": {"prompt_tokens": 20, "completion_tokens": 10}, "status": "ok"}
        for i, model in enumerate(["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)"])
    ])
    cfg = yaml.safe_load((REPO / "profiles" / "demo.yaml").read_text())
    cfg["source"]["path"] = str(base / "logs" / "*.jsonl")
    cfg["store"] = str(base / "store.duckdb")
    cfg["reports"]["dir"] = str(base / "reports")
    cfg["checks"] = str(REPO / "checks" / "demo.json")
    cfg["thresholds"]["volume"]["min"] = 150  # 300 a day instead of 2,000
    cfg["alerts"]["min_samples"] = 50
    (base / "profile.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    profile = load_profile(base / "profile.yaml")
    summaries = [run_cycle(profile, datetime.combine(data.first_day + timedelta(days=i + 1), datetime.min.time()))
                 for i in range(14)]
    return profile, summaries


def test_demo_dashboard_shows_the_regression_at_a_glance(browser, demo_site):
    profile, summaries = demo_site
    root = profile.reports_dir
    last = summaries[-1]
    assert "p95_latency_ms" in {f.rule for f in last.firing}
    assert not any(f.rule == "p95_latency_ms" for s in summaries[:-1] for f in s.firing)

    index = _open(browser, root / "index.html", "demo-index.png")
    assert index.eval("document.querySelector('article.card .pill').textContent").startswith("FIRING")
    assert "p95 latency" in index.eval("document.querySelector('article.card ul.findings').innerText")

    dash = _open(browser, root / profile.name / "index.html", "demo-dashboard.png")
    p95 = dash.eval("(() => { const c = [...document.querySelectorAll('figure[data-metric=p95_latency_ms] circle.pt')];"
                    " return c.map(x => x.classList.contains('fire')); })()")
    assert p95 == [False] * 13 + [True]  # healthy for 13 days, firing on the last
    assert dash.eval("document.querySelector('figure[data-metric=p95_latency_ms]').classList.contains('fire')")
    assert dash.eval("document.querySelectorAll('table.runs tbody tr').length") == 14

    run_dir = root / profile.name / last.run_id
    run = _open(browser, run_dir / "index.html", "demo-run.png")
    assert run.eval(XSS_COUNT) == 0 and run.eval("document.title").startswith("demo · run")
    models = run.eval("[...document.querySelectorAll('table.seg')][0].innerText")
    assert "<script>alert(1)</script>" in models and "gpt-4o-mini" in models

    checks = _open(browser, run_dir / "checks.html", "demo-checks.png")
    assert checks.eval("document.querySelectorAll('table.checks tbody tr').length") == 8  # checks/demo.json
    failing = checks.eval("[...document.querySelectorAll('table.checks tr.fail')].map(r => r.innerText).join('\\n')")
    assert "<script>alert(1)</script>" in failing  # the model outside the allowed set, as text
    assert checks.eval(XSS_COUNT) == 0

    # Evidently's own page: self-contained, renders under the CSP llmvigil adds, no request leaves
    # (its data holds the hostile model names: llmvigil repaired the page and pinned its scripts)
    drift = browser.open((run_dir / "drift.html").as_uri(), settle=1.0)
    drift.wait_for("document.querySelectorAll('svg').length > 0")
    assert drift.offsite_requests() == [] and drift.dialogs == [] and drift.eval(INJECTED_COUNT) == 0
    assert drift.eval("document.scripts.length") == 4
    assert "script-src 'sha256-" in (run_dir / "drift.html").read_text(encoding="utf-8")[:3000]
    assert json.loads((run_dir / "summary.json").read_text())["reports"]["drift"].endswith("drift.html")
