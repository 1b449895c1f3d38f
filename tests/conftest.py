"""Shared test helpers: profiles written into a temp folder, pointing at real files and DuckDB stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llmvigil.profile import Profile, load_profile

REPO = Path(__file__).resolve().parents[1]
DEMO_MAPPING = {
    "id": "request_id", "ts": "created_at", "prompt": "input", "response": "output", "user_id": "user",
    "prompt_tokens": "usage.prompt_tokens", "completion_tokens": "usage.completion_tokens",
    "provider_refusal": "refusal", "feedback_score": "feedback",
}


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
            f.write("\n")
    return path


@pytest.fixture(scope="session", autouse=True)
def _cache_dir_of_this_session(tmp_path_factory):
    """Derived model arrays (llmvigil.cache) go to a folder of this test session, not the user's cache;
    processes the tests start inherit it."""
    import os

    old = os.environ.get("LLMVIGIL_CACHE_DIR")
    os.environ["LLMVIGIL_CACHE_DIR"] = str(tmp_path_factory.mktemp("llmvigil-cache"))
    yield
    if old is None:
        os.environ.pop("LLMVIGIL_CACHE_DIR", None)
    else:
        os.environ["LLMVIGIL_CACHE_DIR"] = old


@pytest.fixture
def make_profile(tmp_path: Path):
    """Write a profile YAML into tmp_path (with overrides) and load it the way users do."""

    def _make(**overrides) -> Profile:
        data = yaml.safe_load((REPO / "profiles" / "demo.yaml").read_text())
        data["source"]["path"] = str(tmp_path / "logs" / "*.jsonl")
        data["store"] = str(tmp_path / "store.duckdb")
        data["reports"]["dir"] = str(tmp_path / "reports")
        data["checks"] = str(REPO / "checks" / "demo.json")
        for key, value in overrides.items():
            data[key] = value
        path = tmp_path / "profile.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return load_profile(path)

    return _make


@pytest.fixture
def slack_server():
    """A real local Slack-compatible HTTP server (tests/slack_server.py) on 127.0.0.1, port 0."""
    from tests.slack_server import SlackServer

    with SlackServer() as server:
        yield server


def insert_interactions(con, rows: list[dict], ingested_at) -> int:
    """Insert hand-made canonical rows (missing fields NULL, status ok) through the real feature step."""
    from llmvigil import features
    from llmvigil.store import CANONICAL_COLUMNS

    cols = list(CANONICAL_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS SELECT {', '.join(cols)} FROM interactions LIMIT 0")
    for r in rows:
        full = {c: None for c in cols} | {"status": "ok", "metadata": "{}"} | r
        con.execute(f"INSERT INTO staged VALUES ({', '.join('?' for _ in cols)})", [full[c] for c in cols])
    features.register(con)
    return features.insert_new_rows(con, source_file="test", ingested_at=ingested_at)
