"""HTML reports written by the reports step, on a real DuckDB store with real KPIs and findings.

`build_history` makes 14 daily runs in about a second: real logs, real ingest, real KPI SQL, real
findings and the real reports step; only Evidently and GX are replaced by typed results (the e2e test
runs them for real). The last day regresses (gpt-4o-mini refuses and slows down) and carries
attacker-controlled strings in prompts, responses and model names.
"""

from __future__ import annotations

import json
import random
import re
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from llmvigil import findings, pipeline, reports
from llmvigil.profile import Profile, load_profile
from llmvigil.results import AlertResult, CheckResult, ChecksSummary, DriftColumn, DriftSummary
from llmvigil.store import open_store
from tests.conftest import REPO, write_jsonl

XSS_MODEL = "<script>alert(1)</script>"
XSS_PROMPT = "<img src=x onerror=alert(1)> see [my order](javascript:alert(1)) please, it's late"
XSS_RESPONSE = "I'm sorry, I can't help. <script>document.title='pwned'</script> <a href=\"javascript:alert(1)\">click</a>"

_EN = [("Where is my order {n}? It was due last week and I still have nothing.",
        "Your order {n} left our warehouse yesterday and should arrive within two days."),
       ("How do I change the address for my account, I moved to a new flat?",
        "Open your profile settings, choose addresses and add the new one as default.")]
_ES = [("¿Dónde está mi pedido {n}? Tenía que llegar la semana pasada y todavía no tengo nada.",
        "Tu pedido {n} salió ayer de nuestro almacén y debería llegar en dos días."),
       ("¿Cómo cambio la dirección de mi cuenta? Me he mudado a un piso nuevo.",
        "Abre los ajustes de tu perfil, elige direcciones y añade la nueva como predeterminada.")]
REFUSAL = "I'm sorry, but I can't help with that request."


def make_logs(folder: Path, *, days: int = 14, end: date = date(2026, 12, 1), per_day: int = 60,
              xss: bool = True, seed: int = 3) -> int:
    """Seeded logs: healthy days, then a last day where gpt-4o-mini refuses 40% and is 3x slower."""
    rng = random.Random(seed)
    rows = []
    first = end - timedelta(days=days)
    for d in range(days):
        day = datetime.combine(first + timedelta(days=d), datetime.min.time())
        last = d == days - 1
        for i in range(per_day):
            model = "gpt-4o-mini" if i % 2 == 0 else "claude-3-5-haiku"
            lang = "es" if i % 3 == 0 else "en"
            prompt, answer = rng.choice(_ES if lang == "es" else _EN)
            n = rng.randint(1000, 9999)
            latency = rng.uniform(500, 2400)
            status = "error" if rng.random() < 0.01 and not last else "ok"
            out = answer.format(n=n)
            if last and model == "gpt-4o-mini":
                latency *= 3
                if rng.random() < 0.4:
                    out = REFUSAL
            rows.append({
                "request_id": f"r{d}-{i}", "created_at": (day + timedelta(minutes=20 * i + 5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "input": prompt.format(n=n), "output": None if status == "error" else out, "model": model,
                "prompt_version": "v4" if d >= days - 3 else "v3", "latency_ms": round(latency),
                "usage": {"prompt_tokens": 120, "completion_tokens": 40}, "cost_usd": 0.0004, "status": status,
                "session_id": f"s{d}-{i}", "user": f"u{i % 17}",
            })
        if last and xss:
            for j, (model, prompt, response) in enumerate([
                (XSS_MODEL, XSS_PROMPT, XSS_RESPONSE),
                ("<img src=x onerror=alert(1)>", "<script>alert(1)</script> what is my balance, write to bob@example.com",
                 "I cannot do that. javascript:alert(1) <img src=x onerror=alert(1)>"),
                ("javascript:alert(1)", "javascript:alert(1)", None),
            ]):
                # errors (the last day has no others), so that all three are the run page's error examples
                rows.append({"request_id": f"xss{j}", "created_at": (day + timedelta(hours=23, minutes=j)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "input": prompt, "output": response, "model": model, "prompt_version": "<b>v5</b>",
                             "latency_ms": 900, "usage": {"prompt_tokens": 50, "completion_tokens": 10},
                             "status": "error", "error_type": "<svg onload=alert(1)>", "session_id": f"x{j}",
                             "user": "mallory"})
    write_jsonl(folder / "logs.jsonl", rows)
    return len(rows)


def write_profile(base: Path, **reports_overrides) -> Profile:
    data = yaml.safe_load((REPO / "profiles" / "demo.yaml").read_text())
    data["source"]["path"] = str(base / "logs" / "*.jsonl")
    data["source"]["mapping"]["model"] = "model"
    data["source"]["mapping"]["prompt_version"] = "prompt_version"
    data["store"] = str(base / "store.duckdb")
    data["reports"] = {"dir": str(base / "reports"), "base_url": None, "keep_runs": "30d", **reports_overrides}
    data["checks"] = str(REPO / "checks" / "demo.json")
    data["thresholds"]["volume"]["min"] = 30
    data["alerts"]["min_samples"] = 20
    path = base / "profile.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_profile(path)


def _checks(last: bool) -> ChecksSummary:
    results = [
        CheckResult("expect_column_values_to_not_be_null", "response", True, "1.6% unexpected", 1, [None],
                    {"column": "response", "mostly": 0.95}),
        CheckResult("expect_column_values_to_be_in_set", "model", not last,
                    "3.2% unexpected" if last else "0.00% unexpected", 3 if last else 0,
                    [XSS_MODEL, "javascript:alert(1)", "write to bob@example.com"] if last else [],
                    {"column": "model", "value_set": ["gpt-4o-mini", "claude-3-5-haiku"]}),
        CheckResult("expect_column_values_to_be_between", "latency_ms", True, 0.0, 0, [],
                    {"column": "latency_ms", "min_value": 0, "max_value": 10000, "mostly": 0.99}),
    ]
    failed = [f"{r.expectation}({r.column})" for r in results if not r.success]
    return ChecksSummary(success=not failed, evaluated=len(results), failed=failed, results=results)


def _drift(last: bool) -> DriftSummary:
    cols = {"latency_ms": DriftColumn("wasserstein", 0.42 if last else 0.03, 0.1, last),
            "refusal": DriftColumn("jensenshannon", 0.21 if last else 0.01, 0.1, last),
            "response_lang": DriftColumn("jensenshannon", 0.02, 0.1, False)}
    return DriftSummary(share_drifted=sum(c.drifted for c in cols.values()) / 3, columns=cols,
                        rows={"current": 60, "reference": 420})


def run_day(profile: Profile, at: datetime, *, last: bool):
    """One cycle through the real steps, with Evidently and GX replaced by typed results."""
    ctx = pipeline.plan(profile, at)
    ingest = pipeline.step_ingest(ctx)
    kpi_rows = pipeline.step_kpis(ctx)
    drift, checks = _drift(last), _checks(last)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    (ctx.run_dir / "drift.html").write_text("<!doctype html><html><head><title>drift</title></head>"
                                            "<body><h1>Evidently stand-in</h1></body></html>")
    found = findings.evaluate(profile, kpi_rows, drift, checks)
    summary = pipeline.summarise(ctx, ingest, kpi_rows, drift, checks, found, AlertResult("not_configured"))
    pipeline.step_reports(ctx, summary)
    return summary


def build_history(base: Path, *, days: int = 14, xss: bool = True, **reports_overrides) -> tuple[Profile, list]:
    make_logs(base / "logs", days=days, xss=xss)
    profile = write_profile(base, **reports_overrides)
    first = date(2026, 12, 1) - timedelta(days=days)
    out = []
    for d in range(days):
        at = datetime.combine(first + timedelta(days=d + 1), datetime.min.time())
        out.append(run_day(profile, at, last=d == days - 1))
    return profile, out


# ---- HTML inspection ----------------------------------------------------------------------------
class Tags(HTMLParser):
    """Every start tag with its attributes, and the text, of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag]


def our_pages(reports_dir: Path) -> list[Path]:
    return sorted(p for p in reports_dir.rglob("*.html") if p.name != "drift.html")


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    base = tmp_path_factory.mktemp("reports")
    profile, summaries = build_history(base)
    return profile, summaries


@pytest.mark.slow
def test_every_page_is_written_and_trends_cover_every_run(history):
    profile, summaries = history
    root = profile.reports_dir
    pdir = root / profile.name
    assert (root / "index.html").exists() and (root / "_assets" / "style.css").exists()
    assert (pdir / "index.html").exists() and (pdir / "status.json").exists()
    assert len((pdir / "trends.jsonl").read_text().splitlines()) == 14
    for s in summaries:
        for name in ("index.html", "checks.html", "drift.html", "summary.json"):
            assert (pdir / s.run_id / name).exists(), (s.run_id, name)
    last = summaries[-1]
    assert set(last.reports) == {"drift", "checks", "summary", "overview", "dashboard"}
    assert json.loads((pdir / last.run_id / "summary.json").read_text())["reports"]["overview"].endswith("index.html")

    with open_store(profile.store_path, read_only=True) as con:
        runs = reports.load_history(con, profile.name)
    assert [r.run_id for r in runs] == [s.run_id for s in summaries]

    page = (pdir / "index.html").read_text()
    charts = re.findall(r'<figure class="chart( fire)?" data-metric="([a-z0-9_]+)"', page)
    metrics = [m for _, m in charts]
    assert metrics[:8] == ["volume", "refusal_rate", "retry_rate", "error_rate", "p95_latency_ms", "cost_usd",
                           "drift_share", "checks_passed"]
    assert {"lang_mismatch_rate", "pii_rate"} <= set(metrics)  # every other rule with a threshold
    # one dot per run in the refusal chart; the last one fired (and only that one)
    fig = page.split('data-metric="refusal_rate"')[1].split("</figure>")[0]
    assert fig.count("<circle") == 14
    assert fig.count('class="pt fire last"') == 1 and fig.count("pt fire") == 1
    assert 'class="threshold"' in fig and "max 5%" in fig
    cur = last.kpis["current"]["refusal_rate"]
    assert f'<span class="latest">{100 * cur:.1f}%</span>' in fig
    # the status of the latest run, at the top
    assert '<div class="banner firing"><span class="pill firing">FIRING</span>' in page
    assert {(" fire", "refusal_rate"), (" fire", "p95_latency_ms"), ("", "cost_usd")} <= set(charts)


@pytest.mark.slow
def test_index_lists_the_profile_with_its_latest_status(history):
    profile, summaries = history
    page = (profile.reports_dir / "index.html").read_text()
    firing = sorted({f.rule for f in summaries[-1].firing})
    assert {"refusal_rate", "p95_latency_ms", "drift_share"} <= set(firing)
    assert f'FIRING · {len(firing)} rules' in page
    assert page.count('<span class="pill new">NEW</span>') == len(firing)  # none fired the day before
    assert '<a href="demo/index.html">demo</a>' in page
    tags = Tags(page)
    assert len([s for s in tags.all("svg") if s.get("class") == "spark"]) >= 4
    status = json.loads((profile.reports_dir / profile.name / "status.json").read_text())
    assert status["runs"] == 14 and status["latest"]["status"] == "firing"
    assert status["latest"]["run_id"] == summaries[-1].run_id


@pytest.mark.slow
def test_segment_tables_compare_current_with_reference(history):
    profile, summaries = history
    last = summaries[-1]
    page = (profile.reports_dir / profile.name / last.run_id / "index.html").read_text()
    seg = page.split('<section class="segments">')[1].split("</section>")[0]
    heads = re.findall(r"<h3>(.*?)</h3>", seg)
    assert heads == ["By model", "By prompt version", "By language (of the prompt)"]
    tables = seg.split("<h3>")[1:]
    model_rows = re.findall(r'<th class="segval[^"]*" scope="row">(.*?)</th>', tables[0])
    assert sorted(model_rows[:2]) == ["claude-3-5-haiku", "gpt-4o-mini"]  # 30 rows each, then by name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in model_rows
    # gpt-4o-mini's refusal rate fires for its segment: its cell is marked
    gpt = tables[0].split('scope="row">gpt-4o-mini</th>')[1].split("</tr>")[0]
    cells = re.findall(r'<td class="([^"]*)"><span class="cur">([^<]*)</span><span class="ref">([^<]*)</span>', gpt)
    refusal_cls, refusal_cur, refusal_ref = cells[2]
    seg_kpis = last.kpis["segments"]["model=gpt-4o-mini"]
    assert "breach" in refusal_cls and refusal_cur == f"{100 * seg_kpis['current']['refusal_rate']:.1f}%"
    assert refusal_ref.startswith("0.0%") and "pp" in refusal_ref
    versions = re.findall(r'scope="row">(.*?)</th>', tables[1])
    assert versions == ["v4", "&lt;b&gt;v5&lt;/b&gt;", "v3"]  # by current volume, then reference volume
    langs = re.findall(r'scope="row">(.*?)</th>', tables[2])
    assert langs[:2] == ["en", "es"]


@pytest.mark.slow
def test_checks_page_lists_every_expectation_with_masked_examples(history):
    profile, summaries = history
    last = summaries[-1]
    page = (profile.reports_dir / profile.name / last.run_id / "checks.html").read_text()
    rows = re.findall(r'<tr class="(pass|fail)">', page)
    assert sorted(rows) == ["fail", "pass", "pass"] and rows[0] == "fail"  # failures first
    assert "<b>2 of 3</b> expectations passed" in page
    assert "3.2% unexpected" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "bob@example.com" not in page and "write to [EMAIL]" in page
    assert "mostly 95%" in page and "value set <code>[&quot;gpt-4o-mini&quot;" in page


@pytest.mark.slow
def test_run_page_shows_examples_escaped_and_masked(history):
    profile, summaries = history
    page = (profile.reports_dir / profile.name / summaries[-1].run_id / "index.html").read_text()
    ex = page.split('<section class="examples">')[1].split("</section>")[0]
    assert re.findall(r"<h3>(.*?)</h3>", ex)[:2] == ["error", "refusal"]
    errors = ex.split("<h3>error</h3>")[1].split("<h3>")[0]
    assert errors.count('<article class="example">') == 3
    assert "&lt;img src=x onerror=alert(1)&gt; see [my order](javascript:alert(1))" in errors
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in errors
    assert "&lt;script&gt;alert(1)&lt;/script&gt; · error · &lt;svg onload=alert(1)&gt;" in errors
    assert "bob@example.com" not in page and "write to [EMAIL]" in errors
    refusals = ex.split("<h3>refusal</h3>")[1].split("<h3>")[0]
    assert refusals.count('<article class="example">') == 3 and "gpt-4o-mini" in refusals


@pytest.mark.slow
def test_no_markup_from_logs_no_script_no_offsite_link(history):
    profile, summaries = history
    pages = our_pages(profile.reports_dir)
    assert len(pages) == 1 + 1 + 14 * 2
    for path in pages:
        text = path.read_text()
        tags = Tags(text)
        assert not tags.all("script") and not tags.all("img") and not tags.all("iframe"), path
        assert not any(k.startswith("on") for _, a in tags.tags for k in a), path
        csp = [a["content"] for a in tags.all("meta") if a.get("http-equiv") == "Content-Security-Policy"]
        assert csp and csp[0].startswith("default-src 'none';") and "script-src" not in csp[0], path
        assert not re.search(r"https?://", text), path  # no URL at all, so nothing to fetch or beacon
        for a in tags.all("a") + tags.all("link"):
            assert re.fullmatch(r"(\.\./)*[A-Za-z0-9._/-]+|data:,", a["href"]), (path, a["href"])
        assert not any("javascript:" in str(v) for _, a in tags.tags for v in a.values()), path
        assert "<script" not in text.lower() and "<img" not in text.lower() and "<svg onload" not in text.lower()
        if path.parent.name == summaries[-1].run_id:  # the strings from the logs arrive as text
            body = "".join(tags.text)
            assert "<script>alert(1)</script>" in body and "javascript:alert(1)" in body, path
    # the stand-in drift page is not Evidently's layout: it may run no script at all
    drift = (profile.reports_dir / profile.name / summaries[-1].run_id / "drift.html").read_text()
    assert "<head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'none';" in drift


# Evidently 0.7.23's save_html layout, in small, with a logged value that breaks out of the data script
HOSTILE = "</script><img src=x onerror=alert(1)><script>alert(2)</script><!--<script>"
EVIDENTLY_LIKE = (
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"UTF-8\">\n<style>body{}</style>\n<script>\n"
    "    var metric_0a1b = {\"x\": [" + json.dumps(HOSTILE) + ", \"gpt-4o-mini\"]};\n"
    "    var additional_graphs_metric_0a1b = {};\n</script>\n</head>\n<body>\n"
    "<div id=\"root_metric_0a1b\">\n</div>\n<script>var global = globalThis</script>\n"
    "<script>window.drawDashboard = function (m, g, id) { document.getElementById(id).textContent = m.x.join(' | '); };\n</script>\n"
    "<script>\n    window.drawDashboard(metric_0a1b,\n        new Map(Object.entries(additional_graphs_metric_0a1b)),\n"
    "        \"root_metric_0a1b\"\n    );\n</script>\n</body>\n</html>\n"
)


def test_evidently_page_is_repaired_and_its_scripts_pinned(tmp_path):
    import base64
    import hashlib

    page = tmp_path / "drift.html"
    page.write_text(EVIDENTLY_LIKE)
    assert len(re.findall(r"<script>", EVIDENTLY_LIKE)) == 6  # the break-out adds two scripts
    assert reports.protect_drift_page(page) is True
    assert reports.protect_drift_page(page) is False  # once only
    text = page.read_text()
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    assert len(scripts) == 4 and "<img" not in re.sub(r"<script>.*?</script>", "", text, flags=re.S)
    assert '["\\u003c/script><img src=x onerror=alert(1)>\\u003cscript>alert(2)' in scripts[0]
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', text).group(1)
    pinned = re.findall(r"'sha256-([^']+)'", csp)
    assert pinned == [base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in scripts]
    assert "unsafe-inline" not in csp.split("style-src")[0] and "unsafe-eval" not in csp
    assert csp.startswith("default-src 'none'; script-src 'sha256-")


@pytest.mark.slow
def test_pruning_keeps_every_run_in_the_trends(tmp_path):
    profile, summaries = build_history(tmp_path, days=10, xss=False, keep_runs="5d")
    pdir = profile.reports_dir / profile.name
    kept = sorted(p.name for p in pdir.iterdir() if p.is_dir())
    # the newest run is 2026-12-01: runs at or after 2026-11-26 keep their pages
    assert kept == [s.run_id for s in summaries[-6:]]
    page = (pdir / "index.html").read_text()
    fig = page.split('data-metric="volume"')[1].split("</figure>")[0]
    assert fig.count("<circle") == 10
    rows = page.split('<table class="data runs">')[1].split("</table>")[0]
    assert rows.count("<tr class=") == 10 and rows.count('<span class="muted">pruned</span>') == 4
    assert (profile.reports_dir / "_assets" / "style.css").exists()
    # a folder that is not a run (no time in the name, not in the runs table) is never touched
    (pdir / "notes").mkdir()
    with open_store(profile.store_path) as con:
        history = reports.load_history(con, profile.name)
    assert reports.prune_runs(pdir, history, timedelta(days=1)) == [s.run_id for s in summaries[-6:-2]]
    assert (pdir / "notes").is_dir() and (pdir / summaries[-1].run_id).is_dir()


def test_index_lists_every_profile_firing_first(tmp_path):
    root = tmp_path / "reports"
    for name, status in (("zeta", "firing"), ("alpha", "ok"), ("../evil", "ok")):
        d = root / ("evil" if name.startswith("..") else name)
        d.mkdir(parents=True)
        (d / "status.json").write_text(json.dumps({
            "profile": name, "description": "<i>x</i>", "runs": 3, "first_at": "2026-11-01T00:00:00Z",
            "latest": {"run_id": "javascript:alert(1)", "at": "2026-11-03T00:00:00Z", "window": [None, None],
                       "volume": 10, "status": status, "firing": [], "pages": {"run": True}}, "spark": []}))
    page = reports.write_index(root).read_text()
    assert page.index(">zeta<") < page.index(">alpha<") and "evil" not in page
    assert "javascript:" not in page and "<i>" not in page and "(unsafe run id)" in page
    assert "2 profiles · <span class=\"fire-text\">1 firing</span>" in page
