"""What the PostgreSQL, OpenTelemetry and provider-log sources share.

- DuckDB macros that read chat messages the way providers and tracers log them: the text of the last
  user message of an OpenAI / Anthropic / OTel GenAI message list, the assistant text of a response,
  finish reasons normalised to the canonical set (stop|length|content_filter|tool_calls|refusal|error).
- `stage_rows`: turn a temp table `pre_rows (line, j, pre_reason)` into the temp tables `staged` and
  `staged_rejected` that `features.insert_new_rows` reads, through the same canonical-row SQL the file
  source uses (`sources._stage_raw`). A source sets `pre_reason` for records it already knows are bad
  (with a reason more helpful than a generic one); every other record goes through the canonical checks.
"""

from __future__ import annotations

import duckdb

# Message content: a string, or a list of parts ({"type": "text", "text"|"content": ...}, images skipped).
_MACROS = [
    # Parameter names end in '_': DuckDB substitutes macro parameters by name, also inside lambdas.
    # `list_transform([x_], lambda y_: ...)[1]` evaluates x_ once however often the body uses y_ (a macro
    # parameter is expanded at each use; nested, that multiplies): 2.5x faster on message lists.
    r"""CREATE OR REPLACE TEMP MACRO llmvigil_content_text(c_) AS (list_transform([c_], lambda cv_:
      CASE json_type(cv_)
        WHEN 'VARCHAR' THEN json_extract_string(cv_, '$')
        WHEN 'ARRAY' THEN nullif(array_to_string(list_transform(
          list_filter(json_extract(cv_, '$[*]'), lambda part_: json_type(part_) = 'VARCHAR'
                      OR coalesce(json_extract_string(part_, '$.type'), 'text')
                         IN ('text', 'output_text', 'input_text')),
          lambda part_: CASE WHEN json_type(part_) = 'VARCHAR' THEN json_extract_string(part_, '$')
                             ELSE coalesce(json_extract_string(part_, '$.text'),
                                           json_extract_string(part_, '$.content')) END),
          chr(10)), '')
      END)[1])""",
    # A message: {"role", "content"} (OpenAI, Anthropic, older OTel) or {"role", "parts"} (OTel GenAI now).
    r"""CREATE OR REPLACE TEMP MACRO llmvigil_msg_text(m_) AS (list_transform([m_], lambda mv_:
      CASE json_type(mv_) WHEN 'VARCHAR' THEN json_extract_string(mv_, '$')
        ELSE coalesce(llmvigil_content_text(json_extract(mv_, '$.content')),
                      llmvigil_content_text(json_extract(mv_, '$.parts'))) END)[1])""",
    # OpenAI `message.refusal`, or a part of type "refusal".
    r"""CREATE OR REPLACE TEMP MACRO llmvigil_msg_refusal(m_) AS (list_transform([m_], lambda mv_:
      CASE WHEN json_type(mv_) = 'OBJECT' THEN coalesce(
        nullif(json_extract_string(mv_, '$.refusal'), ''),
        list_transform(list_filter(
          json_extract(coalesce(json_extract(mv_, '$.content'), json_extract(mv_, '$.parts')), '$[*]'),
          lambda part_: json_extract_string(part_, '$.type') = 'refusal'),
          lambda part_: coalesce(json_extract_string(part_, '$.refusal'), json_extract_string(part_, '$.content')))[1])
      END)[1])""",
    # Text of the last message with role `role_` in a message list (or {"messages": [...]}, or plain text).
    r"""CREATE OR REPLACE TEMP MACRO llmvigil_last_text(msgs_, role_) AS (list_transform([msgs_], lambda lv_:
      CASE json_type(lv_)
        WHEN 'VARCHAR' THEN json_extract_string(lv_, '$')
        WHEN 'OBJECT' THEN llmvigil_msg_text(
          list_filter(json_extract(lv_, '$.messages[*]'), lambda msg_: json_extract_string(msg_, '$.role') = role_)[-1])
        WHEN 'ARRAY' THEN llmvigil_msg_text(
          list_filter(json_extract(lv_, '$[*]'), lambda msg_: json_extract_string(msg_, '$.role') = role_)[-1])
      END)[1])""",
    # The answer in a completion: first message of a list, an OpenAI response, a message, or plain text.
    r"""CREATE OR REPLACE TEMP MACRO llmvigil_first_text(v_) AS (list_transform([v_], lambda fv_:
      CASE json_type(fv_)
        WHEN 'ARRAY' THEN llmvigil_msg_text(json_extract(fv_, '$[0]'))
        WHEN 'OBJECT' THEN coalesce(llmvigil_msg_text(json_extract(fv_, '$.choices[0].message')),
                                    json_extract_string(fv_, '$.choices[0].text'), llmvigil_msg_text(fv_))
        ELSE llmvigil_msg_text(fv_) END)[1])""",
    # Text that may hold a JSON list/object: as JSON; anything else as a JSON string.
    r"""CREATE OR REPLACE TEMP MACRO llmvigil_as_json(s_) AS (list_transform([s_], lambda sv_:
      CASE WHEN sv_ IS NULL THEN NULL
           WHEN json_valid(sv_) AND json_type(sv_) IN ('ARRAY', 'OBJECT') THEN sv_::JSON
           ELSE to_json(sv_) END)[1])""",
    r"""CREATE OR REPLACE TEMP MACRO llmvigil_finish(x_) AS (
      CASE lower(trim(x_))
        WHEN '' THEN NULL
        WHEN 'end_turn' THEN 'stop' WHEN 'stop_sequence' THEN 'stop' WHEN 'eos' THEN 'stop'
        WHEN 'finish_reason_stop' THEN 'stop'
        WHEN 'max_tokens' THEN 'length' WHEN 'max_output_tokens' THEN 'length'
        WHEN 'model_context_window_exceeded' THEN 'length'
        WHEN 'safety' THEN 'content_filter' WHEN 'recitation' THEN 'content_filter'
        WHEN 'blocklist' THEN 'content_filter' WHEN 'prohibited_content' THEN 'content_filter'
        WHEN 'spii' THEN 'content_filter' WHEN 'image_safety' THEN 'content_filter'
        WHEN 'tool_use' THEN 'tool_calls' WHEN 'tool_call' THEN 'tool_calls' WHEN 'function_call' THEN 'tool_calls'
        ELSE lower(trim(x_)) END)""",
    # Several choices' finish reasons: a provider block anywhere wins, then a refusal, else the first.
    r"""CREATE OR REPLACE TEMP MACRO llmvigil_finish_list(l_) AS (list_transform(
      [list_transform(l_, lambda fr_: llmvigil_finish(fr_))], lambda nl_:
      CASE WHEN list_contains(nl_, 'content_filter') THEN 'content_filter'
           WHEN list_contains(nl_, 'refusal') THEN 'refusal'
           ELSE nl_[1] END)[1])""",
]


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Define the chat-message macros on this connection (temp macros: nothing is written to the store)."""
    for stmt in _MACROS:
        con.execute(stmt)


def stage_rows(con: duckdb.DuckDBPyConnection, mapping: dict[str, str] | None = None) -> None:
    """Fill temp tables `staged` / `staged_rejected` from temp table `pre_rows (line, j, pre_reason)`.

    `j` is the record as a JSON object whose keys are canonical field names (or the source's own names,
    with `mapping` from canonical field to source key); keys that are not mapped end up in `metadata`.
    """
    from llmvigil import sources

    sources._stage_raw(con, mapping or {}, "SELECT line, j FROM pre_rows WHERE pre_reason IS NULL")
    con.execute(
        "INSERT INTO staged_rejected SELECT line, pre_reason, left(j, ?) FROM pre_rows WHERE pre_reason IS NOT NULL",
        [sources._RAW_KEEP],
    )
    con.execute("DROP TABLE pre_rows")
