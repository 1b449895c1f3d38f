"""OpenTelemetry GenAI source: OTLP JSON files written here, in the current and the older conventions
(and OpenInference names), ingested into a real DuckDB store."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from llmvigil import sources
from llmvigil.store import CANONICAL_COLUMNS, open_store
from tests.conftest import write_jsonl

T0_NS = 1_796_032_800_000_000_000  # 2026-11-30T10:00:00Z
COLUMNS = [c for c in CANONICAL_COLUMNS if c != "metadata"]

# One logical model call each; `style` picks how the older conventions carry its content.
CALLS = [
    dict(n=1, style="attributes", provider="openai", model="gpt-4o-mini", version="gpt-4o-mini-2024-07-18",
         user=["Hi", "What is the capital of France?"], answer="Paris.", finish=["stop"], tokens=(20, 3)),
    dict(n=2, style="content_events", provider="openai", model="gpt-4o-mini", version="gpt-4o-mini-2024-07-18",
         user=["Describe how to hurt someone."], answer=None, finish=["content_filter"], tokens=(12, 0)),
    dict(n=3, style="choice_events", provider="openai", model="gpt-4o", version=None,
         user=["Summarise my invoice."], answer=None, finish=None, tokens=None, error="RateLimitError"),
    dict(n=4, style="indexed", provider="anthropic", model="claude-sonnet-4", version="claude-sonnet-4-20250514",
         user=["¿Dónde está mi pedido?"], answer="Su pedido llega mañana.", finish=["end_turn"], tokens=(30, 9)),
    dict(n=5, style="choice_events", provider="openai", model="gpt-4o-mini", version="gpt-4o-mini-2024-07-18",
         user=["Tell me a joke."], answer="Why did the chicken...", finish=["stop", "content_filter"], tokens=(8, 40)),
    dict(n=6, style="attributes", provider="openai", model="gpt-4o-mini", version=None,
         user=["Long question"], answer=None, finish=None, tokens=None, error="TimeoutError"),
]


def kv(key, value):
    if isinstance(value, bool):
        v = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    elif isinstance(value, list):
        v = {"arrayValue": {"values": [kv("", x)["value"] for x in value]}}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def span(c, attrs, events=(), status=None, name=None, span_id=None):
    start = T0_NS + c["n"] * 60_000_000_000 + 123_456_789
    return {"traceId": f"{c['n']:032x}", "spanId": span_id or f"{c['n']:016x}", "parentSpanId": "",
            "name": name or f"chat {c['model']}", "kind": 3, "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 850_000_000 + c["n"] * 1_000_000),
            "attributes": [kv(k, v) for k, v in attrs.items() if v is not None], "events": list(events),
            "status": status or {}}


def event(name, attrs):
    return {"timeUnixNano": str(T0_NS), "name": name, "attributes": [kv(k, v) for k, v in attrs.items()]}


def history(c):
    """OpenAI-style messages: a system prompt, earlier turns, the last user question."""
    msgs = [{"role": "system", "content": "You are a terse assistant."}]
    for i, q in enumerate(c["user"]):
        if i:
            msgs.append({"role": "assistant", "content": "Hello! How can I help?"})
        msgs.append({"role": "user", "content": q})
    return msgs


def current_span(c):
    inputs = [{"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]} for m in history(c)]
    outputs = None
    if c["answer"] or c["finish"]:
        outputs = [{"role": "assistant", "parts": [{"type": "text", "content": c["answer"]}] if c["answer"] else [],
                    "finish_reason": (c["finish"] or ["stop"])[0]}]
    attrs = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": c["provider"], "gen_ai.request.model": c["model"],
        "gen_ai.response.model": c["version"], "gen_ai.request.temperature": 0.2,
        "gen_ai.usage.input_tokens": c["tokens"] and c["tokens"][0],
        "gen_ai.usage.output_tokens": c["tokens"] and c["tokens"][1],
        "gen_ai.input.messages": json.dumps(inputs), "gen_ai.output.messages": outputs and json.dumps(outputs),
        "gen_ai.response.finish_reasons": c["finish"], "gen_ai.conversation.id": f"conv-{c['n'] % 2}",
        "error.type": c.get("error"),
    }
    return span(c, attrs, status={"code": 2, "message": "failed"} if c.get("error") else {"code": 0})


def older_span(c):
    attrs = {
        "gen_ai.system": c["provider"], "gen_ai.request.model": c["model"], "gen_ai.response.model": c["version"],
        "gen_ai.request.temperature": 0.2, "session.id": f"conv-{c['n'] % 2}",
        "gen_ai.usage.prompt_tokens": c["tokens"] and c["tokens"][0],
        "gen_ai.usage.completion_tokens": c["tokens"] and c["tokens"][1],
    }
    events, answer = [], [{"role": "assistant", "content": c["answer"]}] if c["answer"] else None
    if c["style"] == "attributes":
        attrs.update({"gen_ai.prompt": json.dumps(history(c)), "gen_ai.completion": answer and json.dumps(answer),
                      "gen_ai.response.finish_reasons": c["finish"]})
    elif c["style"] == "content_events":
        events.append(event("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps(history(c))}))
        if answer:
            events.append(event("gen_ai.content.completion", {"gen_ai.completion": json.dumps(answer)}))
        attrs["gen_ai.response.finish_reasons"] = c["finish"]
    elif c["style"] == "choice_events":
        events.append(event("gen_ai.user.message", {"content": c["user"][-1]}))
        for i, reason in enumerate(c["finish"] or []):
            message = {"role": "assistant", "content": c["answer"]} if c["answer"] and i == 0 else {"role": "assistant"}
            events.append(event("gen_ai.choice", {"index": i, "finish_reason": reason, "message": json.dumps(message)}))
    else:  # OpenLLMetry's indexed attributes
        for i, m in enumerate(history(c)):
            attrs[f"gen_ai.prompt.{i}.role"], attrs[f"gen_ai.prompt.{i}.content"] = m["role"], m["content"]
        if c["answer"]:
            attrs.update({"gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": c["answer"],
                          "gen_ai.completion.0.finish_reason": c["finish"][0]})
    status = {"code": 0}
    if c.get("error"):
        status = {"code": 2, "message": "failed"}
        events.append(event("exception", {"exception.type": c["error"], "exception.message": "boom"}))
    return span(c, attrs, events, status)


def export(spans, service="support-bot"):
    """One line of the collector's file exporter."""
    return {"resourceSpans": [{
        "resource": {"attributes": [kv("service.name", service), kv("deployment.environment", "prod")]},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai"}, "spans": spans}]}]}


def other_spans():
    """Spans that are not model calls: an HTTP server span, a tool call, an embeddings call."""
    c = dict(n=90, model="x")
    http = span(c, {"http.request.method": "POST", "url.path": "/chat"}, name="POST /chat", span_id="a" * 16)
    tool = span(c, {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"}, span_id="b" * 16)
    emb = span(c, {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3-small"},
               span_id="c" * 16)
    return [http, tool, emb]


def _otel_profile(make_profile, tmp_path, folder):
    return make_profile(source={"kind": "otel", "path": str(tmp_path / folder / "*.jsonl")},
                        store=str(tmp_path / f"{folder}.duckdb"))


def _rows(con):
    return con.execute(f"SELECT {', '.join(COLUMNS)} FROM interactions ORDER BY id").fetchall()


@pytest.mark.slow
def test_current_and_older_conventions_ingest_to_the_same_canonical_rows(make_profile, tmp_path):
    cur, old = [current_span(c) for c in CALLS], [older_span(c) for c in CALLS]
    write_jsonl(tmp_path / "current" / "traces.jsonl", [export(cur[:3] + other_spans()), export(cur[3:])])
    write_jsonl(tmp_path / "older" / "traces.jsonl", [export(old[:2]), export(old[2:] + other_spans())])
    results, rows, meta = {}, {}, {}
    for folder in ("current", "older"):
        p = _otel_profile(make_profile, tmp_path, folder)
        with open_store(p.store_path) as con:
            results[folder] = sources.pull(con, p)
            rows[folder] = _rows(con)
            meta[folder] = [json.loads(m) for (m,) in
                            con.execute("SELECT metadata FROM interactions ORDER BY id").fetchall()]
    assert (results["current"].new_rows, results["current"].rejected) == (6, 0)
    assert (results["older"].new_rows, results["older"].rejected) == (6, 0)
    assert len(rows["current"]) == len(rows["older"]) == 6
    for a, b in zip(rows["current"], rows["older"]):
        assert {k: (x, y) for k, x, y in zip(COLUMNS, a, b) if x != y} == {}, a[0]
    assert [m["provider"] for m in meta["current"]] == [m["provider"] for m in meta["older"]]

    by_id = {r[0]: dict(zip(COLUMNS, r)) for r in rows["current"]}
    first = by_id[f"{1:032x}:{1:016x}"]
    assert first["ts"] == datetime(2026, 11, 30, 10, 1, 0, 123456)
    assert (first["prompt"], first["response"], first["model"], first["model_version"]) == (
        "What is the capital of France?", "Paris.", "gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (first["latency_ms"], first["prompt_tokens"], first["completion_tokens"]) == (851.0, 20, 3)
    assert (first["app"], first["session_id"], first["status"], first["finish_reason"]) == (
        "support-bot", "conv-1", "ok", "stop")
    summary = {r["id"][-1]: (r["status"], r["error_type"], r["finish_reason"], r["response"]) for r in by_id.values()}
    assert summary["2"] == ("ok", None, "content_filter", None)
    assert summary["3"] == ("error", "RateLimitError", None, None)
    assert summary["4"] == ("ok", None, "stop", "Su pedido llega mañana.")
    assert summary["5"] == ("ok", None, "content_filter", "Why did the chicken...")  # a filtered second choice
    assert summary["6"] == ("timeout", "TimeoutError", None, None)
    m = meta["current"][0]
    assert m["trace_id"] == f"{1:032x}" and m["span_name"] == "chat gpt-4o-mini" and m["provider"] == "openai"
    assert m["attributes"] == {"gen_ai.request.temperature": 0.2}  # every attribute not mapped is kept
    assert m["resource"]["deployment.environment"] == "prod"

    with open_store(_otel_profile(make_profile, tmp_path, "current").store_path) as con:
        refused = con.execute("SELECT count(*) FILTER (WHERE provider_refused) FROM interactions").fetchall()[0][0]
    assert refused == 2  # the two content_filter calls


def test_openinference_spans(make_profile, tmp_path):
    c = dict(n=7, model="gpt-4o")
    llm = span(c, {
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.provider": "openai",
        "llm.token_count.prompt": 11, "llm.token_count.completion": 5, "session.id": "s-7", "user.id": "alice",
        "input.value": json.dumps({"messages": [{"role": "user", "content": "Is it raining?"}]}),
        "input.mime_type": "application/json",
        "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": "No.",
    })
    chain = span(dict(n=8, model="x"), {"openinference.span.kind": "CHAIN", "input.value": "q", "output.value": "a"})
    plain = span(dict(n=9, model="x"), {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
                                         "input.value": "Plain text question", "output.value": "Plain answer"})
    write_jsonl(tmp_path / "oi" / "t.jsonl", [export([llm, chain, plain])])
    p = _otel_profile(make_profile, tmp_path, "oi")
    with open_store(p.store_path) as con:
        result = sources.pull(con, p)
        rows = con.execute("SELECT prompt, response, model, prompt_tokens, completion_tokens, session_id, user_id "
                           "FROM interactions ORDER BY id").fetchall()
    assert (result.new_rows, result.rejected) == (2, 0)
    assert rows[0][:6] == ("Is it raining?", "No.", "gpt-4o", 11, 5, "s-7") and rows[0][6] != "alice"
    assert rows[1][:2] == ("Plain text question", "Plain answer")


def test_bad_spans_are_rejected_with_reasons_and_pulls_are_incremental(make_profile, tmp_path):
    good = [current_span(c) for c in CALLS[:2]]
    no_ids = current_span(CALLS[3]) | {"spanId": None}
    no_content = current_span(CALLS[4])
    no_content["attributes"] = [a for a in no_content["attributes"] if a["key"] != "gen_ai.input.messages"]
    bad_tokens = current_span(CALLS[5])
    bad_tokens["attributes"].append(kv("gen_ai.usage.input_tokens", "many"))
    bad_tokens["attributes"] = [a for a in bad_tokens["attributes"]
                                if a["key"] != "gen_ai.usage.input_tokens" or a["value"] == {"stringValue": "many"}]
    f = write_jsonl(tmp_path / "t" / "a.jsonl", [export(good), "{not json", {"hello": 1}, "",
                                                 export([no_ids, no_content, bad_tokens] + other_spans())])
    p = _otel_profile(make_profile, tmp_path, "t")
    with open_store(p.store_path) as con:
        first = sources.pull(con, p)
        again = sources.pull(con, p)
        rejected = con.execute("SELECT source, line, reason FROM rejected ORDER BY line, reason").fetchall()
        with f.open("a") as fh:
            fh.write(json.dumps(export([current_span(CALLS[2])])) + "\n")
        third = sources.pull(con, p)
        counts = con.execute("SELECT count(*), count(DISTINCT id), (SELECT count(*) FROM rejected) "
                             "FROM interactions").fetchall()[0]
    assert (first.new_rows, first.rejected, first.files_read) == (2, 5, 1)
    assert (again.new_rows, again.files_read) == (0, 0)
    assert (third.new_rows, third.rejected, third.total_rows) == (1, 5, 3)
    assert counts == (3, 3, 5)  # the re-read file's rejected rows replace, not add to, the earlier ones
    assert {r[0] for r in rejected} == {"otel"}
    lines = [(line, reason.split(" (")[0].split(":")[0]) for _, line, reason in rejected]
    assert lines == [(2, "malformed JSON"), (3, "not an OTLP JSON line"),
                     (5, "GenAI span without prompt content"), (5, "prompt_tokens"), (5, "span without traceId/spanId")]
    assert any("expected a number, got many" in r for _, _, r in rejected)
