"""Provider-log source: OpenAI chat-completion and Anthropic messages request/response pairs (JSONL)
written here, ingested into a real DuckDB store; refusal signals must survive."""

from __future__ import annotations

import json
from datetime import datetime

from llmvigil import sources
from llmvigil.store import open_store
from tests.conftest import write_jsonl

HISTORY = [{"role": "system", "content": "You are the shop assistant."}, {"role": "user", "content": "Hi"},
           {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Where is my order?"}]


def openai(rid, *, content="It ships tomorrow.", refusal=None, finish="stop", choices=None, **env):
    response = {"id": rid, "object": "chat.completion", "created": 1796032800, "model": "gpt-4o-mini-2024-07-18",
                "choices": choices or [{"index": 0, "message": {"role": "assistant", "content": content,
                                                                "refusal": refusal}, "finish_reason": finish}],
                "usage": {"prompt_tokens": 42, "completion_tokens": 6, "total_tokens": 48}}
    return {"ts": "2026-11-30T10:00:05Z", "latency_ms": 812,
            "request": {"model": "gpt-4o-mini", "messages": HISTORY, "temperature": 0.2, "user": "user-42"},
            "response": response, **env}


def anthropic(rid, *, text="Llega mañana.", stop="end_turn", **env):
    content = [{"type": "text", "text": text}] if text else []
    return {"ts": 1796032810000, "latency_ms": 1430,
            "request": {"model": "claude-sonnet-4-20250514", "max_tokens": 1024, "system": "Be brief.",
                        "messages": [{"role": "user", "content": [{"type": "text", "text": "¿Dónde está mi pedido?"}]}],
                        "metadata": {"user_id": "u-9"}},
            "response": {"id": rid, "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
                         "content": content, "stop_reason": stop, "usage": {"input_tokens": 20, "output_tokens": 5}},
            **env}


GOOD = [
    openai("chatcmpl-ok"),
    openai("chatcmpl-refusal", content=None, refusal="I'm sorry, I can't help with that."),
    openai("chatcmpl-filter", content=None, finish="content_filter"),
    openai("chatcmpl-two", choices=[
        {"index": 0, "message": {"role": "assistant", "content": "A joke."}, "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": None}, "finish_reason": "content_filter"}]),
    openai("x", response={"error": {"message": "Rate limit reached", "type": "requests",
                                    "code": "rate_limit_exceeded"}}, status_code=429, id="call-429"),
    anthropic("msg_ok", session_id="s-1", app="shop"),
    anthropic("msg_refusal", text=None, stop="refusal"),
    anthropic("msg_long", stop="max_tokens"),
    anthropic("x", response={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
              status_code=529, id="call-529"),
    anthropic("x", response=None, error={"type": "timeout", "message": "Request timed out"}, id="call-timeout"),
]


def _profile(make_profile, tmp_path):
    return make_profile(source={"kind": "provider_logs", "path": str(tmp_path / "calls" / "*.jsonl")})


def test_provider_logs_keep_refusals_usage_latency_and_errors(make_profile, tmp_path):
    write_jsonl(tmp_path / "calls" / "a.jsonl", GOOD)
    p = _profile(make_profile, tmp_path)
    with open_store(p.store_path) as con:
        result = sources.pull(con, p)
        again = sources.pull(con, p)
        rows = {r[0]: r[1:] for r in con.execute("""
            SELECT id, prompt, response, model, model_version, prompt_tokens, completion_tokens, latency_ms, status,
                   error_type, finish_reason, provider_refusal, provider_refused, user_id, ts
            FROM interactions""").fetchall()}
        meta = {i: json.loads(m) for i, m in con.execute("SELECT id, metadata FROM interactions").fetchall()}
    assert (result.new_rows, result.rejected, again.new_rows, again.files_read) == (10, 0, 0, 0)

    ok = rows["chatcmpl-ok"]
    assert ok[:9] == ("Where is my order?", "It ships tomorrow.", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 42, 6,
                      812.0, "ok", None)
    assert (ok[9], ok[10], ok[11], ok[13]) == ("stop", None, False, datetime(2026, 11, 30, 10, 0, 5))
    assert ok[12] != "user-42" and len(ok[12]) == 16  # hashed
    signals = {k: (v[1], v[9], v[10], v[11]) for k, v in rows.items()}  # response, finish, refusal, refused
    assert signals["chatcmpl-refusal"] == (None, "stop", "I'm sorry, I can't help with that.", True)
    assert signals["chatcmpl-filter"] == (None, "content_filter", None, True)
    assert signals["chatcmpl-two"] == ("A joke.", "content_filter", None, True)
    assert signals["msg_refusal"] == (None, "refusal", "stop_reason: refusal", True)
    assert signals["msg_long"] == ("Llega mañana.", "length", None, False)
    assert signals["msg_ok"] == ("Llega mañana.", "stop", None, False)

    a = rows["msg_ok"]
    assert a[:8] == ("¿Dónde está mi pedido?", "Llega mañana.", "claude-sonnet-4-20250514",
                     "claude-sonnet-4-20250514", 20, 5, 1430.0, "ok")
    assert a[13] == datetime(2026, 11, 30, 10, 0, 10) and a[12] != "u-9"
    errors = {k: (v[7], v[8]) for k, v in rows.items() if v[7] != "ok"}
    assert errors == {"call-429": ("error", "requests"), "call-529": ("error", "overloaded_error"),
                      "call-timeout": ("timeout", "timeout")}

    m = meta["chatcmpl-ok"]
    assert m["provider"] == "openai" and m["request"]["temperature"] == 0.2 and "user" not in m["request"]
    assert m["response"]["usage"]["total_tokens"] == 48 and "ts" not in m and "latency_ms" not in m
    assert meta["msg_ok"]["provider"] == "anthropic" and meta["msg_ok"]["request"]["metadata"] == {}
    assert meta["msg_ok"]["request"]["system"] == "Be brief." and meta["call-429"]["status_code"] == 429


def test_bad_provider_lines_are_kept_aside_with_reasons(make_profile, tmp_path):
    no_ts = anthropic("msg_no_ts")
    del no_ts["ts"]
    lines = [GOOD[0], "{oops", [1, 2], {"response": GOOD[0]["response"]},
             openai("chatcmpl-odd", response={"output": "what is this"}),
             openai("chatcmpl-sys", request={"model": "m", "messages": [HISTORY[0]]}),
             openai("chatcmpl-slow", latency_ms="slow"), no_ts, GOOD[5]]
    write_jsonl(tmp_path / "calls" / "a.jsonl", lines)
    p = _profile(make_profile, tmp_path)
    with open_store(p.store_path) as con:
        result = sources.pull(con, p)
        rejected = con.execute("SELECT source, line, reason FROM rejected ORDER BY line").fetchall()
    assert (result.new_rows, result.rejected) == (2, 7)
    assert {r[0] for r in rejected} == {"provider_logs"}
    reasons = {line: reason for _, line, reason in rejected}
    assert reasons == {
        2: "malformed JSON", 3: "not a JSON object",
        4: "missing request object (the body sent to the provider)",
        5: "response is neither an OpenAI chat completion (choices) nor an Anthropic message (content)",
        6: "no user message in request.messages",
        7: "latency_ms: expected a number, got slow",
        8: 'no time: the envelope needs "ts" (ISO 8601, or epoch seconds or milliseconds)',
    }


def test_example_profiles_of_every_source_kind_load():
    """profiles/examples/ documents the postgres, otel and provider-log sources: they must stay valid."""
    from llmvigil.profile import load_profile
    from tests.conftest import REPO

    kinds = {load_profile(f).source.kind for f in sorted((REPO / "profiles" / "examples").glob("*.yaml"))}
    assert kinds >= {"postgres", "otel", "provider_logs"}


def test_a_connection_string_in_a_profile_is_refused_without_being_echoed(tmp_path):
    import pytest

    from llmvigil.profile import ProfileError, load_profile

    f = tmp_path / "p.yaml"
    f.write_text("name: x\nstore: x.duckdb\nsource: {kind: postgres, preset: litellm, "
                 "dsn_env: 'postgresql://monitor:hunter2@db:5432/litellm'}\n")
    msg = str(pytest.raises(ProfileError, load_profile, f).value)
    assert "source.dsn_env" in msg and "credentials never go into a profile" in msg and "hunter2" not in msg
    f.write_text("name: x\nstore: x.duckdb\nsource: {kind: postgres, table: logs}\n")
    msg = str(pytest.raises(ProfileError, load_profile, f).value)
    assert "needs: ts_column, id_column" in msg
