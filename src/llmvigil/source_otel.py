"""OpenTelemetry source: GenAI spans from OTLP JSON files (the collector's `file` exporter).

Each line of a file is one OTLP export request, `{"resourceSpans": [{"resource": ..., "scopeSpans":
[{"scope": ..., "spans": [...]}]}]}`. Every model-call span becomes one canonical row:

  id        traceId:spanId                        ts, latency_ms  startTimeUnixNano, end - start
  app       resource `service.name`               model           gen_ai.request.model | llm.model_name
  model_version  gen_ai.response.model
  prompt    last user message of gen_ai.input.messages | gen_ai.prompt (attribute or event
            gen_ai.content.prompt) | event gen_ai.user.message | gen_ai.prompt.N.* | llm.input_messages.N.*
            | input.value
  response  first output message of gen_ai.output.messages | gen_ai.completion (attribute or event
            gen_ai.content.completion) | event gen_ai.choice | gen_ai.completion.N.* |
            llm.output_messages.N.* | output.value
  prompt_tokens / completion_tokens   gen_ai.usage.input_tokens / output_tokens, older
            gen_ai.usage.prompt_tokens / completion_tokens, llm.token_count.prompt / completion
  finish_reason  gen_ai.response.finish_reasons (content_filter anywhere wins), output message or
            gen_ai.choice finish_reason; normalised to stop|length|content_filter|tool_calls|refusal
  session_id gen_ai.conversation.id | session.id       user_id  user.id | enduser.id (stored hashed)
  status / error_type  error.type, an `exception` event, or span status ERROR; *timeout* -> timeout

Current GenAI conventions, the older ones (gen_ai.system, prompt/completion tokens, gen_ai.prompt /
gen_ai.completion, gen_ai.choice events) and OpenInference names all land on the same canonical row.
`metadata` keeps trace/span ids, span name, provider (gen_ai.provider.name | gen_ai.system |
llm.provider), operation, scope, the attributes not mapped above and the resource attributes. Span events
are read for message content and exceptions only. Message attributes are read as the SDKs record them,
JSON text in a string value; a structured (kvlist) message value is not read.

Spans that are not model calls (HTTP, DB, tool and agent spans, embeddings) are skipped. Bad records go to
`rejected` with their line: a malformed line, a line without resourceSpans, a span without ids or start
time, a GenAI span without prompt content (content capture is off by default in most instrumentations),
a token count that is not a number.

Files are pulled like the file source (`sources.pull_files`): a file is read again only when its size or
mtime changed, rows are deduplicated by id, and each file is stored in one transaction with its
bookkeeping row, so a crash mid-pull leaves the store at a file boundary.
"""

from __future__ import annotations

import duckdb

from llmvigil import chatlog
from llmvigil.profile import OtelSource, Profile
from llmvigil.results import IngestResult
from llmvigil.sources import Progress, _raw_lines_sql, pull_files

_MACROS = [
    # An OTLP AnyValue ({"stringValue": ...} | {"intValue": "12"} | ...) as text.
    r"""CREATE OR REPLACE TEMP MACRO llmvigil_otel_text(v_) AS (coalesce(
      json_extract_string(v_, '$.stringValue'), json_extract_string(v_, '$.intValue'),
      json_extract_string(v_, '$.doubleValue'), json_extract_string(v_, '$.boolValue')))""",
    # ... as a plain JSON value (arrays of scalars become JSON lists), for metadata.
    r"""CREATE OR REPLACE TEMP MACRO llmvigil_otel_json(v_) AS (CASE
      WHEN json_extract(v_, '$.arrayValue') IS NOT NULL THEN to_json(list_transform(
        json_extract(v_, '$.arrayValue.values[*]'), lambda el_: llmvigil_otel_text(el_)))
      WHEN json_extract(v_, '$.intValue') IS NOT NULL
        THEN to_json(try_cast(json_extract_string(v_, '$.intValue') AS HUGEINT))
      WHEN json_extract(v_, '$.doubleValue') IS NOT NULL THEN json_extract(v_, '$.doubleValue')
      WHEN json_extract(v_, '$.boolValue') IS NOT NULL THEN json_extract(v_, '$.boolValue')
      ELSE to_json(llmvigil_otel_text(v_)) END)""",
]

# Attributes read into canonical fields (everything else is kept in metadata.attributes).
_ATTRS = {
    "provider_name": "gen_ai.provider.name", "system": "gen_ai.system", "operation": "gen_ai.operation.name",
    "request_model": "gen_ai.request.model", "response_model": "gen_ai.response.model",
    "input_tokens": "gen_ai.usage.input_tokens", "output_tokens": "gen_ai.usage.output_tokens",
    "old_prompt_tokens": "gen_ai.usage.prompt_tokens", "old_completion_tokens": "gen_ai.usage.completion_tokens",
    "input_messages": "gen_ai.input.messages", "output_messages": "gen_ai.output.messages",
    "old_prompt": "gen_ai.prompt", "old_completion": "gen_ai.completion",
    "conversation_id": "gen_ai.conversation.id", "error_type": "error.type", "genai_cost": "gen_ai.usage.cost",
    "oi_kind": "openinference.span.kind", "oi_model": "llm.model_name", "oi_provider": "llm.provider",
    "oi_system": "llm.system", "oi_prompt_tokens": "llm.token_count.prompt",
    "oi_completion_tokens": "llm.token_count.completion", "oi_cost": "llm.cost.total",
    "input_value": "input.value", "output_value": "output.value", "session_id": "session.id",
    "user_id": "user.id", "enduser_id": "enduser.id", "request_type": "llm.request.type",
}
_INDEXED = (r"^(gen_ai\.prompt|gen_ai\.completion|llm\.input_messages|llm\.output_messages)"
            r"\.(\d+)\.(?:message\.)?(role|content|finish_reason)$")
_MODEL_CALLS = ("chat", "text_completion", "generate_content", "completion", "responses")
_NO_PROMPT = ("GenAI span without prompt content (gen_ai.input.messages, gen_ai.prompt or input.value): "
              "turn on content capture in the instrumentation, e.g. "
              "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true")


def register(con: duckdb.DuckDBPyConnection) -> None:
    chatlog.register(con)
    for stmt in _MACROS:
        con.execute(stmt)


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def stage_otel_file(con: duckdb.DuckDBPyConnection, file: str) -> None:
    """Fill temp tables `staged` / `staged_rejected` with the model-call spans of one OTLP JSON file."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE otel_lines AS
        SELECT line, j, json_valid(j) AS ok FROM ({_raw_lines_sql('jsonl', file)}) WHERE j IS NOT NULL AND trim(j) <> ''
    """)
    # One level a statement, and no expression over a big JSON value in a SELECT that unnests: DuckDB 2.0
    # evaluates such an expression once per unnested row (40x slower on 100 spans a line).
    con.execute("""
        CREATE OR REPLACE TEMP TABLE otel_rs AS
        SELECT line, unnest(json_extract(j, '$.resourceSpans[*]')) AS rs FROM otel_lines WHERE ok
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE otel_ss AS
        SELECT line,
          ('{' || array_to_string(list_transform(rattrs, lambda kv_:
             to_json(json_extract_string(kv_, '$.key'))::VARCHAR || ':'
             || llmvigil_otel_json(json_extract(kv_, '$.value'))::VARCHAR), ',') || '}')::JSON AS resource,
          llmvigil_otel_text(json_extract(list_filter(rattrs,
            lambda kv_: json_extract_string(kv_, '$.key') = 'service.name')[1], '$.value')) AS service,
          unnest(ss_list) AS ss
        FROM (SELECT line, json_extract(rs, '$.resource.attributes[*]') AS rattrs,
                     json_extract(rs, '$.scopeSpans[*]') AS ss_list FROM otel_rs)
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE otel_spans AS
        SELECT row_number() OVER () AS sid, *  -- numbered after the unnest: one sid a span
        FROM (SELECT line, resource, service, scope, unnest(span_list) AS s
              FROM (SELECT line, resource, service, json_extract_string(ss, '$.scope.name') AS scope,
                           json_extract(ss, '$.spans[*]') AS span_list FROM otel_ss))
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE otel_attrs AS
        SELECT sid, json_extract_string(kv, '$.key') AS k, json_extract(kv, '$.value') AS v,
               llmvigil_otel_text(json_extract(kv, '$.value')) AS txt
        FROM (SELECT sid, unnest(json_extract(s, '$.attributes[*]')) AS kv FROM otel_spans)
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE otel_events AS
        SELECT sid, eno, name, json_extract_string(kv, '$.key') AS k,
               llmvigil_otel_text(json_extract(kv, '$.value')) AS txt
        FROM (
          SELECT sid, eno, json_extract_string(e, '$.name') AS name, unnest(json_extract(e, '$.attributes[*]')) AS kv
          FROM (SELECT sid, unnest(range(len(evs))) AS eno, unnest(evs) AS e
                FROM (SELECT sid, json_extract(s, '$.events[*]') AS evs FROM otel_spans))
          WHERE json_extract_string(e, '$.name') IN
                ('gen_ai.content.prompt', 'gen_ai.content.completion', 'gen_ai.user.message', 'gen_ai.choice',
                 'exception'))
    """)
    picks = ",\n".join(f"first(txt) FILTER (WHERE k = {_q(key)}) AS {col}" for col, key in _ATTRS.items())
    consumed = ", ".join(_q(k) for k in (*_ATTRS.values(), "gen_ai.response.finish_reasons"))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE otel_a AS
        SELECT sid, {picks},
          list(txt) FILTER (WHERE k = 'gen_ai.response.finish_reasons' AND txt IS NOT NULL) AS fr_scalar,
          first(v) FILTER (WHERE k = 'gen_ai.response.finish_reasons') AS fr_value,
          bool_or(k LIKE 'gen_ai.%' OR k LIKE 'llm.%') AS genai,
          ('{{' || coalesce(string_agg(to_json(k)::VARCHAR || ':' || llmvigil_otel_json(v)::VARCHAR, ',') FILTER (
            WHERE k NOT IN ({consumed}) AND NOT regexp_matches(k, {_q(_INDEXED)})), '') || '}}')::JSON AS other_attrs
        FROM otel_attrs GROUP BY sid
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE otel_ix AS
        SELECT sid,
          arg_max(content, idx) FILTER (WHERE kind IN ('gen_ai.prompt', 'llm.input_messages')
                                         AND coalesce(role, 'user') = 'user') AS prompt,
          arg_min(content, idx) FILTER (WHERE kind IN ('gen_ai.completion', 'llm.output_messages')) AS response,
          arg_min(finish, idx) FILTER (WHERE kind IN ('gen_ai.completion', 'llm.output_messages')) AS finish
        FROM (
          SELECT sid, kind, idx, first(txt) FILTER (WHERE field = 'role') AS role,
                 first(txt) FILTER (WHERE field = 'content') AS content,
                 first(txt) FILTER (WHERE field = 'finish_reason') AS finish
          FROM (SELECT sid, txt, regexp_extract(k, {_q(_INDEXED)}, 1) AS kind,
                       regexp_extract(k, {_q(_INDEXED)}, 2)::INTEGER AS idx,
                       regexp_extract(k, {_q(_INDEXED)}, 3) AS field
                FROM otel_attrs
                WHERE (k LIKE 'gen_ai.prompt.%' OR k LIKE 'gen_ai.completion.%' OR k LIKE 'llm.input_messages.%'
                       OR k LIKE 'llm.output_messages.%') AND regexp_matches(k, {_q(_INDEXED)}))
          GROUP BY sid, kind, idx)
        GROUP BY sid
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE otel_ev AS
        SELECT sid,
          arg_max(txt, eno) FILTER (WHERE name = 'gen_ai.content.prompt' AND k = 'gen_ai.prompt') AS prompt,
          arg_max(txt, eno) FILTER (WHERE name = 'gen_ai.user.message' AND k = 'content') AS user_message,
          arg_min(txt, eno) FILTER (WHERE name = 'gen_ai.content.completion' AND k = 'gen_ai.completion') AS completion,
          arg_min(txt, eno) FILTER (WHERE name = 'gen_ai.choice' AND k IN ('message', 'content')) AS choice,
          list(txt ORDER BY eno) FILTER (WHERE name = 'gen_ai.choice' AND k = 'finish_reason') AS choice_finish,
          arg_min(txt, eno) FILTER (WHERE name = 'exception' AND k = 'exception.type') AS exception_type
        FROM otel_events GROUP BY sid
    """)
    model_calls = ", ".join(_q(op) for op in _MODEL_CALLS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE pre_rows AS
        WITH base AS MATERIALIZED (
          SELECT sp.line, sp.scope, f[1] AS trace_id, f[2] AS span_id, nullif(f[3], '') AS parent_span_id,
            f[4] AS span_name, try_cast(f[5] AS HUGEINT) AS start_ns, try_cast(f[6] AS HUGEINT) AS end_ns,
            f[7] IN ('2', 'STATUS_CODE_ERROR') AS status_error, nullif(f[8], '') AS status_message,
            sp.resource, sp.service,
            a.* EXCLUDE (sid),
            e.prompt AS ev_prompt, e.user_message AS ev_user, e.completion AS ev_completion, e.choice AS ev_choice,
            e.choice_finish AS ev_choice_finish, e.exception_type AS ev_exception,
            x.prompt AS ix_prompt, x.response AS ix_response, x.finish AS ix_finish
          FROM (SELECT *, json_extract_string(s, ['$.traceId', '$.spanId', '$.parentSpanId', '$.name',
                    '$.startTimeUnixNano', '$.endTimeUnixNano', '$.status.code', '$.status.message']) AS f
                FROM otel_spans) sp  -- one parse of the span for all its fields
          LEFT JOIN otel_a a USING (sid) LEFT JOIN otel_ev e USING (sid) LEFT JOIN otel_ix x USING (sid)
        ), c AS MATERIALIZED (
          SELECT *,
            coalesce(error_type, ev_exception,
                     CASE WHEN status_error THEN coalesce(status_message, '_OTHER') END) AS err,
            coalesce(
              llmvigil_last_text(llmvigil_as_json(input_messages), 'user'),
              llmvigil_last_text(llmvigil_as_json(coalesce(old_prompt, ev_prompt)), 'user'),
              ev_user, ix_prompt,
              llmvigil_last_text(llmvigil_as_json(input_value), 'user'), input_value) AS prompt_text,
            llmvigil_as_json(output_messages) AS out_msgs,
            llmvigil_as_json(ev_choice) AS choice_msg,
            coalesce(fr_scalar, list_transform(json_extract(fr_value, '$.arrayValue.values[*]'),
                                              lambda el_: llmvigil_otel_text(el_))) AS finish_list
          FROM base
          WHERE (genai IS NOT DISTINCT FROM true
                 AND coalesce(lower(operation), 'chat') IN ({model_calls})
                 AND coalesce(upper(oi_kind), 'LLM') = 'LLM'
                 AND coalesce(lower(request_type), 'chat') IN ('chat', 'completion'))
             OR trace_id IS NULL OR span_id IS NULL OR start_ns IS NULL  -- broken spans are rejected
        )
        SELECT line,
          to_json({{
            'id': trace_id || ':' || span_id,
            'ts': strftime(make_timestamp((start_ns // 1000)::BIGINT), '%Y-%m-%dT%H:%M:%S.%fZ'),
            'prompt': prompt_text,
            'response': coalesce(
              llmvigil_first_text(out_msgs),
              llmvigil_first_text(llmvigil_as_json(coalesce(old_completion, ev_completion))),
              llmvigil_first_text(choice_msg), ix_response,
              llmvigil_first_text(llmvigil_as_json(output_value))),
            'app': service,
            'model': coalesce(request_model, oi_model, response_model),
            'model_version': response_model,
            'session_id': coalesce(conversation_id, session_id),
            'user_id': coalesce(user_id, enduser_id),
            'latency_ms': CASE WHEN end_ns >= start_ns THEN (end_ns - start_ns) / 1e6 END,
            'prompt_tokens': coalesce(input_tokens, old_prompt_tokens, oi_prompt_tokens),
            'completion_tokens': coalesce(output_tokens, old_completion_tokens, oi_completion_tokens),
            'cost_usd': coalesce(genai_cost, oi_cost),
            'status': CASE WHEN err IS NULL THEN 'ok' WHEN lower(err) LIKE '%timeout%' THEN 'timeout' ELSE 'error' END,
            'error_type': err,
            'finish_reason': coalesce(
              CASE WHEN len(finish_list) > 0 THEN llmvigil_finish_list(finish_list) END,
              llmvigil_finish(json_extract_string(out_msgs, '$[0].finish_reason')),
              CASE WHEN len(ev_choice_finish) > 0 THEN llmvigil_finish_list(ev_choice_finish) END,
              llmvigil_finish(ix_finish)),
            'provider_refusal': coalesce(llmvigil_msg_refusal(json_extract(out_msgs, '$[0]')),
                                         llmvigil_msg_refusal(choice_msg)),
            'trace_id': trace_id, 'span_id': span_id, 'parent_span_id': parent_span_id, 'span_name': span_name,
            'provider': coalesce(provider_name, system, oi_provider, oi_system),
            'operation': operation, 'scope': scope,
            'attributes': other_attrs, 'resource': resource
          }})::VARCHAR AS j,
          CASE WHEN trace_id IS NULL OR span_id IS NULL THEN 'span without traceId/spanId'
               WHEN start_ns IS NULL THEN 'span without a numeric startTimeUnixNano'
               WHEN prompt_text IS NULL THEN {_q(_NO_PROMPT)} END AS pre_reason
        FROM c
        UNION ALL
        SELECT line, j, CASE WHEN ok THEN 'not an OTLP JSON line (no resourceSpans list)' END
        FROM otel_lines WHERE NOT ok OR json_type(j, '$.resourceSpans') IS DISTINCT FROM 'ARRAY'
    """)
    for t in ("otel_lines", "otel_rs", "otel_ss", "otel_spans", "otel_attrs", "otel_events", "otel_a", "otel_ix",
              "otel_ev"):
        con.execute(f"DROP TABLE {t}")
    chatlog.stage_rows(con)


def pull_otel(con: duckdb.DuckDBPyConnection, profile: Profile, progress: Progress | None = None) -> IngestResult:
    """Pull the OTLP JSON files of the profile's glob that are new or changed since the last pull."""
    assert isinstance(profile.source, OtelSource)
    register(con)
    return pull_files(con, profile, progress, stage=stage_otel_file)
