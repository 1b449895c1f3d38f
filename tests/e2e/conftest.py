"""Fixtures of the end-to-end tests: the local Slack-compatible server and a fresh PostgreSQL database.

The Prefect stack itself is started by `tests.e2e.helpers.prefect_stack` (the code of `llmvigil up`).
"""

from __future__ import annotations

from typing import Iterator

import pytest


@pytest.fixture(scope="class")
def slack():
    """The local Slack-compatible server (tests/slack_server.py), shared by the tests of a class."""
    from tests.slack_server import SlackServer

    with SlackServer() as s:
        yield s


# ---- PostgreSQL ---------------------------------------------------------------------------------
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _pg(sql: str) -> None:
    import asyncio

    import asyncpg

    async def go():
        con = await asyncpg.connect(PG_ADMIN, timeout=5)
        try:
            await con.execute(sql)
        finally:
            await con.close()

    asyncio.run(go())


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL (127.0.0.1:5432), dropped at the end."""
    import secrets

    name = f"llmvigil_e2e_{secrets.token_hex(4)}"
    try:
        _pg(f"CREATE DATABASE {name}")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"PostgreSQL is not reachable as {PG_ADMIN} ({e}); start it (e.g. `service postgresql "
                    "start`) to run the PostgreSQL end-to-end test")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        _pg(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
