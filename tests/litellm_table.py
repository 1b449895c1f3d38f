"""The shape of LiteLLM's `LiteLLM_SpendLogs` table, for the PostgreSQL source's tests and benchmark.

`{s}` is the schema the caller created; braces of JSON defaults are doubled for str.format.
"""

LITELLM_TABLE_DDL = """
CREATE TABLE {s}."LiteLLM_SpendLogs" (
  request_id text PRIMARY KEY, call_type text NOT NULL DEFAULT 'acompletion', api_key text DEFAULT '',
  spend float8 DEFAULT 0, total_tokens int DEFAULT 0, prompt_tokens int DEFAULT 0, completion_tokens int DEFAULT 0,
  "startTime" timestamp(3) NOT NULL, "endTime" timestamp(3) NOT NULL, "completionStartTime" timestamp(3),
  model text DEFAULT '', model_id text DEFAULT '', model_group text DEFAULT '', custom_llm_provider text DEFAULT '',
  api_base text DEFAULT '', "user" text DEFAULT '', metadata jsonb DEFAULT '{{}}', cache_hit text DEFAULT '',
  cache_key text DEFAULT '', request_tags jsonb DEFAULT '[]', team_id text, end_user text,
  requester_ip_address text, messages jsonb DEFAULT '{{}}', response jsonb DEFAULT '{{}}', session_id text,
  status text, proxy_server_request jsonb DEFAULT '{{}}')
"""
