"""Provider-log source: JSONL of OpenAI chat-completion and Anthropic messages request/response pairs.

One call a line, in this envelope (only `request` and a time are required):

    {"ts": "2026-11-30T10:00:00Z",       # or epoch seconds/ms; else the OpenAI response's `created`
     "latency_ms": 812, "ttft_ms": 240,  # measured by the caller
     "request":  {...},                  # the body sent: {"model", "messages": [...], ...}
     "response": {...},                  # the body received (null when the call failed)
     "error": {"type": "...", "message": "..."},  "status_code": 429,   # when it failed
     "id": "...", "provider": "openai" | "anthropic",                   # optional (else response id / inferred)
     "app": ..., "session_id": ..., "user_id": ..., "attempt": ..., "retry_of": ..., "feedback_score": ...}

A canonical field given at the top level of the envelope wins over what is read from the bodies
(prompt and response excepted: they always come from the bodies).
Read from the bodies:
  prompt            last user message of request.messages (text parts joined; `prompt` of old completions)
  response          OpenAI choices[0].message content (or choices[0].text); Anthropic text content blocks
  model / model_version     request.model / response.model
  prompt_tokens / completion_tokens  usage.prompt_tokens|input_tokens / usage.completion_tokens|output_tokens
  finish_reason     OpenAI finish_reason of the choices (content_filter in any choice wins), Anthropic
                    stop_reason; normalised (end_turn -> stop, max_tokens -> length, tool_use -> tool_calls)
  provider_refusal  OpenAI choices[0].message.refusal; Anthropic stop_reason "refusal" (finish_reason refusal)
  status/error_type the envelope's error, an error body (OpenAI {"error": ...}, Anthropic {"type": "error"}),
                    or status_code >= 400; a type containing "timeout" is status timeout
  user_id           request.user (OpenAI) or request.metadata.user_id (Anthropic), stored hashed
`metadata` keeps the rest of the envelope, request and response included. Bad lines go to `rejected`:
malformed JSON, no request object, a response of neither shape, no user message, no time, a number
that is not one. Files are pulled like the file source (`sources.pull_files`): incremental by file size
and mtime, deduplicated by id, one transaction per file.
"""

from __future__ import annotations

import json

import duckdb

from llmvigil import chatlog
from llmvigil.profile import ProviderLogSource, Profile
from llmvigil.results import IngestResult
from llmvigil.sources import Progress, _raw_lines_sql, pull_files
from llmvigil.store import sql_str as _sql_str

# Fields read from the bodies, under keys of their own so that the envelope (request and response bodies
# included) stays whole in `metadata`.
DERIVED = ("id", "ts", "prompt", "response", "model", "model_version", "prompt_tokens", "completion_tokens",
           "finish_reason", "provider_refusal", "status", "error_type", "user_id")
_DERIVED = "llmvigil:"
# Envelope keys read into those fields, dropped from metadata (a raw user id must not survive hashing).
_DROP = json.dumps({f: None for f in DERIVED if f not in ("prompt", "response")})


def stage_provider_file(con: duckdb.DuckDBPyConnection, file: str) -> None:
    """Fill temp tables `staged` / `staged_rejected` from one provider-log JSONL file."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE pre_rows AS
        WITH r AS ({_raw_lines_sql('jsonl', file)}),
        x AS (
          SELECT line, j, CASE WHEN json_valid(j) AND json_type(j) = 'OBJECT' THEN j::JSON END AS e
          FROM r WHERE j IS NOT NULL AND trim(j) <> ''
        ), y AS (
          SELECT line, j, e,
            CASE WHEN json_type(e, '$.request') = 'OBJECT' THEN json_extract(e, '$.request') END AS req,
            CASE WHEN json_type(e, '$.response') = 'OBJECT' THEN json_extract(e, '$.response') END AS resp,
            coalesce(CASE WHEN json_type(e, '$.error') = 'OBJECT' THEN json_extract(e, '$.error') END,
                     CASE WHEN json_type(e, '$.response.error') = 'OBJECT' THEN json_extract(e, '$.response.error') END)
              AS err,
            try_cast(json_extract_string(e, '$.status_code') AS INTEGER) AS status_code
          FROM x
        ), z AS (
          SELECT *,
            CASE WHEN json_type(resp, '$.choices') = 'ARRAY' THEN 'openai'
                 WHEN json_extract_string(resp, '$.type') = 'message' OR json_type(resp, '$.content') = 'ARRAY'
                 THEN 'anthropic' END AS shape,
            coalesce(llmvigil_last_text(json_extract(req, '$.messages'), 'user'),
                     json_extract_string(req, '$.prompt')) AS prompt_text,
            coalesce(json_extract_string(err, '$.type'), json_extract_string(err, '$.code'),
                     CASE WHEN status_code >= 400 THEN 'http_' || status_code END) AS err_type,
            list_transform(json_extract(resp, '$.choices[*]'),
                           lambda ch_: json_extract_string(ch_, '$.finish_reason')) AS choice_finish
          FROM y
        )
        SELECT line,
          CASE WHEN e IS NULL THEN j ELSE json_merge_patch(e, {_sql_str(_DROP)},
            CASE WHEN json_extract(req, '$.user') IS NOT NULL OR json_extract(req, '$.metadata.user_id') IS NOT NULL
                 THEN '{{"request": {{"user": null, "metadata": {{"user_id": null}}}}}}' ELSE '{{}}' END,
            json_object(
            'llmvigil:id', coalesce(json_extract_string(e, '$.id'), json_extract_string(resp, '$.id'), md5(j)),
            'llmvigil:ts', coalesce(json_extract_string(e, '$.ts'), json_extract_string(resp, '$.created')),
            'llmvigil:prompt', prompt_text,
            'llmvigil:response', CASE shape WHEN 'openai' THEN coalesce(
                                     llmvigil_msg_text(json_extract(resp, '$.choices[0].message')),
                                     json_extract_string(resp, '$.choices[0].text'))
                                   WHEN 'anthropic' THEN llmvigil_content_text(json_extract(resp, '$.content')) END,
            'llmvigil:model', coalesce(json_extract_string(e, '$.model'), json_extract_string(req, '$.model')),
            'llmvigil:model_version', coalesce(json_extract_string(e, '$.model_version'),
                                               json_extract_string(resp, '$.model')),
            'llmvigil:prompt_tokens', coalesce(json_extract_string(e, '$.prompt_tokens'),
                                      json_extract_string(resp, '$.usage.prompt_tokens'),
                                      json_extract_string(resp, '$.usage.input_tokens')),
            'llmvigil:completion_tokens', coalesce(json_extract_string(e, '$.completion_tokens'),
                                          json_extract_string(resp, '$.usage.completion_tokens'),
                                          json_extract_string(resp, '$.usage.output_tokens')),
            'llmvigil:finish_reason', coalesce(json_extract_string(e, '$.finish_reason'),
                                      CASE WHEN len(choice_finish) > 0 THEN llmvigil_finish_list(choice_finish) END,
                                      llmvigil_finish(json_extract_string(resp, '$.stop_reason'))),
            'llmvigil:provider_refusal', coalesce(json_extract_string(e, '$.provider_refusal'),
                                         llmvigil_msg_refusal(json_extract(resp, '$.choices[0].message')),
                                         CASE WHEN json_extract_string(resp, '$.stop_reason') = 'refusal'
                                              THEN 'stop_reason: refusal' END),
            'llmvigil:status', coalesce(json_extract_string(e, '$.status'),
                               CASE WHEN err IS NOT NULL OR status_code >= 400 THEN
                                 CASE WHEN lower(coalesce(err_type, '')) LIKE '%timeout%' THEN 'timeout'
                                      ELSE 'error' END END),
            'llmvigil:error_type', coalesce(json_extract_string(e, '$.error_type'), err_type),
            'llmvigil:user_id', coalesce(json_extract_string(e, '$.user_id'), json_extract_string(req, '$.user'),
                                json_extract_string(req, '$.metadata.user_id')),
            'provider', coalesce(json_extract_string(e, '$.provider'), shape)
          ))::VARCHAR END AS j,
          CASE WHEN e IS NULL THEN NULL  -- malformed, or not an object: the canonical checks say which
               WHEN req IS NULL THEN 'missing request object (the body sent to the provider)'
               WHEN resp IS NOT NULL AND shape IS NULL AND err IS NULL
               THEN 'response is neither an OpenAI chat completion (choices) nor an Anthropic message (content)'
               WHEN prompt_text IS NULL
               THEN 'no user message in request.messages'
               WHEN json_extract_string(e, '$.ts') IS NULL AND json_extract_string(resp, '$.created') IS NULL
               THEN 'no time: the envelope needs "ts" (ISO 8601, or epoch seconds or milliseconds)'
          END AS pre_reason
        FROM z
    """)
    chatlog.stage_rows(con, {f: _DERIVED + f for f in DERIVED})


def pull_provider_logs(con: duckdb.DuckDBPyConnection, profile: Profile,
                       progress: Progress | None = None) -> IngestResult:
    """Pull the provider-log files of the profile's glob that are new or changed since the last pull."""
    assert isinstance(profile.source, ProviderLogSource)
    chatlog.register(con)
    return pull_files(con, profile, progress, stage=stage_provider_file)
