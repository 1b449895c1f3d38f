"""The demo-data generator: determinism, layout, schema and the numbers the demo story relies on."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from llmvigil import demo

FIELDS = [
    "request_id", "created_at", "app", "model", "model_version", "prompt_version", "session_id", "user",
    "locale", "channel", "input", "output", "latency_ms", "ttft_ms", "usage", "cost_usd", "status",
    "error_type", "finish_reason", "refusal", "attempt", "retry_of", "feedback",
]
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEALTHY = [date(2026, 11, 17) + timedelta(days=i) for i in range(13)]
LAST = date(2026, 11, 30)
EN_WORDS = {"the", "your", "you", "is", "and", "to", "of", "can", "with", "that"}
ES_WORDS = {"el", "la", "tu", "de", "que", "y", "en", "los", "puedes", "con", "por", "no"}
PARTIALS = frozenset(p for ps in demo.PARTIAL_REFUSALS.values() for p in ps)


def lang(locale: str) -> str:
    return locale[:2]


def is_refusal(row: dict) -> bool:
    """Full refusals: provider flag, content filter, or an answer that opens with a known refusal."""
    if row["refusal"] is not None or row["finish_reason"] == "content_filter":
        return True
    out = row["output"]
    return out is not None and out.startswith(demo.REFUSAL_OPENERS[lang(row["locale"])] + demo.REFUSAL_OPENERS["en"])


def looks_english(text: str) -> bool:
    words = re.findall(r"[a-záéíóúñ']+", text.lower())
    return sum(w in EN_WORDS for w in words) > sum(w in ES_WORDS for w in words)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    messages: list[str] = []
    result = demo.generate(out, progress=messages.append)
    rows = [json.loads(line) for f in result.files for line in f.read_text(encoding="utf-8").splitlines()]
    return result, rows, messages


def day_of(row: dict) -> date:
    return date.fromisoformat(row["created_at"][:10])


def by_day(rows: list[dict]) -> dict[date, list[dict]]:
    out: dict[date, list[dict]] = defaultdict(list)
    for r in rows:
        out[day_of(r)].append(r)
    return out


# --- layout and determinism ----------------------------------------------------------------------

def test_files_days_and_summary(demo_run):
    result, rows, messages = demo_run
    assert result.first_day == date(2026, 11, 17) and result.last_day == LAST
    assert result.regression_day == LAST
    assert [f.name for f in result.files] == [f"interactions-{d.isoformat()}.jsonl" for d in HEALTHY + [LAST]]
    assert result.rows == len(rows)
    assert 26_000 <= result.rows <= 30_000          # ~2000/day with weekend dips
    assert len(messages) == 14
    for f in result.files:
        lines = f.read_text(encoding="utf-8").splitlines()
        stamps = [json.loads(line)["created_at"] for line in lines]
        assert stamps == sorted(stamps)
        assert {s[:10] for s in stamps} == {f.name[13:23]}
        assert 1_400 <= len(lines) <= 2_400
    assert min(r["created_at"] for r in rows) >= "2026-11-17T00:00:00.000Z"
    assert max(r["created_at"] for r in rows) < "2026-12-01T00:00:00.000Z"


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = demo.generate(tmp_path / "a", days=3, per_day=300, seed=11)
    b = demo.generate(tmp_path / "b", days=3, per_day=300, seed=11)
    c = demo.generate(tmp_path / "c", days=3, per_day=300, seed=12)
    assert [f.name for f in a.files] == [f.name for f in b.files] == [f.name for f in c.files]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a.files, b.files))
    assert all(x.read_bytes() != z.read_bytes() for x, z in zip(a.files, c.files))
    assert a.regression_day == date(2026, 11, 30)


def test_no_regression_flag(tmp_path):
    result = demo.generate(tmp_path, days=2, per_day=400, regression=False)
    rows = [json.loads(line) for f in result.files for line in f.read_text(encoding="utf-8").splitlines()]
    assert result.regression_day is None
    assert demo.REGRESSED_VERSION not in {r["model_version"] for r in rows}


# --- schema ----------------------------------------------------------------------------------------

def test_every_line_has_the_source_schema(demo_run):
    _, rows, _ = demo_run
    ids = set()
    for r in rows:
        assert list(r) == FIELDS
        assert TS.match(r["created_at"])
        assert r["app"] == "support-bot"
        assert r["locale"] in {"en-US", "es-ES", "es-MX", "pt-BR"}
        assert r["channel"] in {"web", "app", "whatsapp"}
        assert r["model"] in {m.name for m in demo.MODELS}
        assert r["prompt_version"] in {"v3", "v4"}
        assert isinstance(r["input"], str) and r["input"]
        assert isinstance(r["latency_ms"], int) and r["latency_ms"] > 0
        assert set(r["usage"]) == {"prompt_tokens", "completion_tokens"}
        assert isinstance(r["cost_usd"], float) and r["cost_usd"] >= 0
        assert r["attempt"] >= 1 and r["feedback"] in (None, 1, -1)
        assert r["status"] in {"ok", "error", "timeout"}
        if r["status"] == "ok":
            assert r["error_type"] is None and r["finish_reason"] in {"stop", "length", "content_filter"}
            assert isinstance(r["ttft_ms"], int) and 0 < r["ttft_ms"] <= r["latency_ms"]
            assert 200 <= r["usage"]["prompt_tokens"] <= 1000
            assert r["output"] is not None or r["refusal"] is not None
        else:
            assert r["output"] is None and r["finish_reason"] is None and r["error_type"]
            assert r["usage"]["completion_tokens"] == 0 and r["cost_usd"] == 0.0
        ids.add(r["request_id"])
    assert len(ids) == len(rows)


def test_models_versions_costs_and_tokens(demo_run):
    _, rows, _ = demo_run
    ok = [r for r in rows if r["status"] == "ok" and day_of(r) in HEALTHY]
    share = Counter(r["model"] for r in rows if day_of(r) in HEALTHY)
    n = sum(share.values())
    assert 0.55 < share["gpt-4o-mini"] / n < 0.65
    versions = {r["model_version"] for r in rows if r["model"] == "gpt-4o-mini"}
    assert versions == {"gpt-4o-mini-2024-07-18", demo.REGRESSED_VERSION}
    helpful = [r for r in ok if r["output"] and not is_refusal(r)]
    completion = np.array([r["usage"]["completion_tokens"] for r in helpful])
    prompt = np.array([r["usage"]["prompt_tokens"] for r in ok])
    assert 60 <= np.median(completion) <= 200 and completion.max() <= 400
    assert 300 <= np.median(prompt) <= 500
    for m in demo.MODELS:
        r = next(r for r in ok if r["model"] == m.name)
        u = r["usage"]
        expected = (u["prompt_tokens"] * m.in_price + u["completion_tokens"] * m.out_price) / 1e6
        assert r["cost_usd"] == pytest.approx(expected, abs=1e-8)


# --- traffic -------------------------------------------------------------------------------------------

def test_language_mix_and_daily_cycle(demo_run):
    _, rows, _ = demo_run
    langs = Counter(lang(r["locale"]) for r in rows)
    n = len(rows)
    assert abs(langs["en"] / n - 0.50) < 0.03
    assert abs(langs["es"] / n - 0.30) < 0.03
    assert abs(langs["pt"] / n - 0.20) < 0.03
    assert {r["locale"] for r in rows if lang(r["locale"]) == "es"} == {"es-ES", "es-MX"}
    hours = Counter(int(r["created_at"][11:13]) for r in rows)
    day, night = sum(hours[h] for h in range(12, 18)), sum(hours[h] for h in range(1, 7))
    assert day > 4 * night


def test_sessions_have_one_to_four_turns_from_one_user(demo_run):
    _, rows, _ = demo_run
    sessions: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        sessions[r["session_id"]].append(r)
    for rs in sessions.values():
        assert len({r["user"] for r in rs}) == 1 and len({r["locale"] for r in rs}) == 1
        assert len({r["model"] for r in rs}) == 1
    turns = Counter(min(len({r["input"] for r in rs}), 5) for rs in sessions.values())
    assert turns[1] > turns[2] > turns[3] > turns[4] > 0
    users = Counter(r["user"] for r in rows)
    assert len(users) < len(sessions)                 # returning users


# --- behaviour: healthy days vs the regression day ------------------------------------------------------

def test_refusal_rate_healthy_vs_regression(demo_run):
    _, rows, _ = demo_run
    days = by_day(rows)
    for d in HEALTHY:
        ok = [r for r in days[d] if r["status"] == "ok"]
        rate = sum(map(is_refusal, ok)) / len(ok)
        assert 0.01 < rate < 0.05, (d, rate)
    last = [r for r in days[LAST] if r["status"] == "ok"]
    main = [r for r in last if r["model"] == demo.MAIN_MODEL]
    others = [r for r in last if r["model"] != demo.MAIN_MODEL]
    assert {r["model_version"] for r in main} == {demo.REGRESSED_VERSION}
    assert sum(map(is_refusal, main)) / len(main) > 0.10
    assert sum(map(is_refusal, others)) / len(others) < 0.05
    # the new version also refuses perfectly safe questions (order status, passwords ...)
    safe_words = ("password", "contraseña", "senha", "pedido", "order")
    unsafe_words = ("customer", "cliente", "person", "persona", "pessoa")
    safe = [r for r in main if any(w in r["input"].lower() for w in safe_words)
            and not any(w in r["input"].lower() for w in unsafe_words)]
    assert sum(map(is_refusal, safe)) / len(safe) > 0.08


def test_latency_doubles_for_the_main_model(demo_run):
    _, rows, _ = demo_run
    days = by_day(rows)

    def p(day: date, q: float, model: str = demo.MAIN_MODEL) -> float:
        lat = [r["latency_ms"] for r in days[day] if r["status"] == "ok" and r["model"] == model]
        return float(np.percentile(lat, q))

    for d in HEALTHY:
        assert 800 <= p(d, 50) <= 1600 and 2000 <= p(d, 95) <= 3600
    assert p(LAST, 95) > 5000
    assert p(LAST, 95) > 1.7 * p(HEALTHY[-1], 95)
    assert p(LAST, 95, "claude-3-5-haiku") < 1.3 * p(HEALTHY[-1], 95, "claude-3-5-haiku")


def test_spanish_answered_in_english_on_the_last_day_only(demo_run):
    _, rows, _ = demo_run
    days = by_day(rows)

    def mismatch(day: date) -> float:
        es = [r for r in days[day] if r["model"] == demo.MAIN_MODEL and lang(r["locale"]) == "es" and r["output"]]
        return sum(looks_english(r["output"]) for r in es) / len(es)

    assert all(mismatch(d) < 0.01 for d in HEALTHY)
    assert 0.2 < mismatch(LAST) < 0.5


def test_errors_timeouts_and_explicit_retries(demo_run):
    _, rows, _ = demo_run
    by_id = {r["request_id"]: r for r in rows}
    healthy = [r for r in rows if day_of(r) in HEALTHY]
    err = sum(r["status"] == "error" for r in healthy) / len(healthy)
    timeouts = [r for r in healthy if r["status"] == "timeout"]
    assert 0.008 < err < 0.025 and 0.002 < len(timeouts) / len(healthy) < 0.01
    assert all(r["latency_ms"] >= 30_000 and r["error_type"] == "APITimeoutError" for r in timeouts)
    retries = [r for r in rows if r["retry_of"] is not None]
    assert len(retries) > 200
    for r in retries:
        prev = by_id[r["retry_of"]]
        assert prev["status"] != "ok" and r["attempt"] == prev["attempt"] + 1
        assert prev["session_id"] == r["session_id"] and prev["input"] == r["input"]
        gap = datetime.fromisoformat(r["created_at"]) - datetime.fromisoformat(prev["created_at"])
        assert 0 < gap.total_seconds() < 40


def test_implicit_retries_after_refusals(demo_run):
    _, rows, _ = demo_run
    sessions: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        sessions[r["session_id"]].append(r)
    implicit: Counter = Counter()
    for rs in sessions.values():
        for prev, cur in zip(rs, rs[1:]):
            if cur["retry_of"] is None and prev["status"] == "ok" and cur["input"] == prev["input"]:
                gap = (datetime.fromisoformat(cur["created_at"]) - datetime.fromisoformat(prev["created_at"]))
                assert gap.total_seconds() < 90
                assert is_refusal(prev) or prev["output"] in PARTIALS
                implicit[day_of(cur) == LAST] += 1
    healthy_rows = sum(day_of(r) in HEALTHY for r in rows)
    last_rows = len(rows) - healthy_rows
    assert implicit[False] > 100
    assert implicit[True] / last_rows > 2 * implicit[False] / healthy_rows


def test_pii_leaks_and_hard_negatives(demo_run):
    _, rows, _ = demo_run
    outputs = [r["output"] for r in rows if r["output"]]
    emails = sum(bool(re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", o)) for o in outputs)
    phones = sum(bool(re.search(r"\+\d{1,2} [\d(]", o)) for o in outputs)
    assert 0.003 < (emails + phones) / len(outputs) < 0.02 and emails and phones
    for opener in ("I'm sorry to hear that your order is late.", "Lamento que tu pedido", "Sinto muito que seu pedido"):
        hits = [o for o in outputs if o.startswith(opener)]
        assert len(hits) > 5 and not any(o.startswith(demo.REFUSAL_OPENERS["en"]) for o in hits)
    partial = sum(o in PARTIALS for o in outputs)
    assert 0.005 < partial / len(outputs) < 0.04
    assert any(r["refusal"] in demo.PROVIDER_REFUSALS.values() and r["output"] is None for r in rows)
    assert any(r["finish_reason"] == "content_filter" for r in rows)
    assert any(r["finish_reason"] == "length" for r in rows)
    feedback = Counter(r["feedback"] for r in rows)
    assert feedback[1] > feedback[-1] > 0 and feedback[None] > 0.9 * len(rows)


# --- generate_rows / write_jsonl -------------------------------------------------------------------------------

def test_generate_rows_exact_count_in_span_and_write_jsonl(tmp_path):
    start = datetime(2026, 10, 1, 6, 30, tzinfo=timezone.utc)
    span = timedelta(days=2, hours=3)
    rows = list(demo.generate_rows(3_000, seed=3, start=start, span=span, regression=True))
    assert len(rows) == 3_000
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps)
    lo, hi = start.strftime("%Y-%m-%dT%H:%M:%S"), (start + span).strftime("%Y-%m-%dT%H:%M:%S")
    assert lo <= stamps[0] and stamps[-1] < hi
    regressed = {r["created_at"][:10] for r in rows if r["model_version"] == demo.REGRESSED_VERSION}
    assert regressed == {"2026-10-03"}
    assert len({r["request_id"] for r in rows}) == 3_000
    path = tmp_path / "rows.jsonl"
    assert demo.write_jsonl(iter(rows), path) == 3_000
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3_000 and json.loads(lines[1234]) == rows[1234]
    again = list(demo.generate_rows(3_000, seed=3, start=start, span=span, regression=True))
    assert again == rows
    assert list(demo.generate_rows(0, seed=3, start=start, span=span)) == []
