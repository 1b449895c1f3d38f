"""End to end: llmvigil in production mode on a real Prefect server with workers.

Each class starts one stack with `llmvigil.server.up` (the code of `llmvigil up`) on a temp checkout
with demo logs, and stops it with `down`: first on SQLite, then on the machine's PostgreSQL. Runs are
triggered by hand (`prefect deployment run ...`) and by a schedule; the tests check the flow runs,
their task runs and artifacts on the server, the reports on disk and the message a local
Slack-compatible server received. Slow (minutes): marked e2e.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from llmvigil import server
from llmvigil.slack import fmt_value
from tests.e2e.helpers import (
    Api, flow_run_id_from, make_project, pids_left, prefect_cli, prefect_stack, stack_pids,
)
from tests.slack_server import SlackServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

STEPS = ["pull new interactions", "compute KPIs", "drift report (Evidently)",
         "output checks (Great Expectations)", "evaluate thresholds", "send Slack alert", "write reports",
         "publish summary to Prefect"]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _interval(items: list[dict]) -> tuple[datetime, datetime]:
    return min(_ts(i["start_time"]) for i in items), max(_ts(i["end_time"]) for i in items)


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _worker_of(stack: server.Stack, flow_run_id: str) -> str:
    """Name of the worker that picked up a flow run (from the worker logs)."""
    found = [p.name for p in stack.processes if p.role == "worker"
             and f"submitting flow run '{flow_run_id}'" in Path(p.log).read_text(errors="replace")]
    assert len(found) == 1, found
    return found[0]


def check_manual_run(api: Api, root: Path, slack: SlackServer, run_id: str, rows: int) -> None:
    """The manual run of llm-monitor/demo at 2026-12-01: its steps, reports, artifacts and Slack message."""
    tasks = api.task_runs(run_id)
    assert [t["name"].rsplit("-", 1)[0] for t in tasks] == STEPS
    assert {t["state_type"] for t in tasks} == {"COMPLETED"}

    # Reports, written in the checkout the worker ran from (LLMVIGIL_HOME).
    (summary_file,) = sorted((root / "reports" / "demo").glob("*/summary.json"))
    s = json.loads(summary_file.read_text())
    assert s["window"]["current"] == ["2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z"]
    assert (s["ingest"]["new_rows"], s["ingest"]["rejected"], s["ingest"]["total_rows"]) == (rows, 0, rows)
    firing = {(f["rule"], f["segment"]): f for f in s["findings"] if f["status"] == "firing"}
    refusal = firing[("refusal_rate", None)]  # the demo's last day regresses
    assert refusal["observed"] > refusal["threshold"] == 0.05
    run_dir = summary_file.parent
    assert (run_dir / "drift.html").stat().st_size > 100_000 and (run_dir / "checks.html").exists()

    # Artifacts on the server: the summary (numbers equal to summary.json) and a link to the reports.
    artifacts = {a["key"]: a for a in api.artifacts(run_id)}
    assert set(artifacts) == {"llmvigil-demo-summary", "llmvigil-demo-reports"}
    md = artifacts["llmvigil-demo-summary"]["data"]
    assert f"Run `{s['run_id']}`" in md and f"**{len(firing)} finding(s) firing**" in md
    for f in firing.values():
        assert f"| {f['rule']} | {f['segment'] or 'all'} | {fmt_value(f['rule'], f['observed'])} |" in md
    assert f"| volume | {fmt_value('volume', s['kpis']['current']['volume'])} |" in md
    assert f"Slack: **sent**, 1 message(s)" in md
    link = re.search(r"\]\((file://[^)]+)\)", artifacts["llmvigil-demo-reports"]["data"]).group(1)
    assert Path(unquote(urlparse(link).path)) == run_dir / "index.html"
    assert (run_dir / "index.html").exists()

    # The local Slack server got one message for this run, with the numbers.
    assert s["alert"]["status"] == "sent"
    msgs = [m for m in slack.messages if s["run_id"] in json.dumps(m)]
    assert len(msgs) == 1
    assert f"*{fmt_value('refusal_rate', refusal['observed'])}*" in json.dumps(msgs[0], ensure_ascii=False)


# ---- SQLite: manual run, a broken run, two workers, concurrency --------------------------------------
@pytest.fixture(scope="class")
def sqlite_stack(tmp_path_factory, slack):
    root = tmp_path_factory.mktemp("sqlite") / "project"
    info = make_project(root)
    env = slack.webhook_env()
    with prefect_stack(root, env=env, workers=0) as stack:
        # Two workers, as on two machines: one holds profile demo (its monitor and backfill queues), the
        # other profile demo-eu — the pinning docs/production.md describes.
        from tests.e2e.helpers import FAST

        server.add_worker(stack, queues=["demo", "backfill"], env={**FAST, **env})
        server.add_worker(stack, queues=["demo-eu"], env={**FAST, **env})
        yield stack, root, info


class TestOnSQLite:
    def test_manual_run_completes_with_reports_artifacts_and_a_slack_message(self, sqlite_stack, slack):
        stack, root, info = sqlite_stack
        api = Api(stack.api_url)
        assert {d: api.deployment(d)["work_queue_name"] for d in
                ("llm-monitor/demo", "llm-monitor/demo-eu", "llm-backfill/backfill")} == \
            {"llm-monitor/demo": "demo", "llm-monitor/demo-eu": "demo-eu", "llm-backfill/backfill": "backfill"}
        t0 = time.monotonic()
        out = prefect_cli(stack, "deployment", "run", "llm-monitor/demo", "-p", "at=2026-12-01T00:00:00Z")
        run_id = flow_run_id_from(out)
        broken = api.run_deployment("llm-backfill/backfill", profile="profiles/missing.yaml",
                                    start="2026-11-29T00:00:00Z", end="2026-11-30T00:00:00Z")
        runs = api.wait([run_id, broken], timeout=400)
        print(f"manual run: {runs[run_id]['state_name']} after {time.monotonic() - t0:.0f}s")
        assert runs[run_id]["state_type"] == "COMPLETED", runs[run_id]["state"]
        assert runs[run_id]["parameters"] == {"profile": "profiles/demo.yaml", "at": "2026-12-01T00:00:00Z"}
        check_manual_run(api, root, slack, run_id, info["rows"])
        # A pipeline that breaks fails the run, with the reason.
        assert runs[broken]["state_type"] == "FAILED"
        assert "profiles/missing.yaml: profile file not found" in runs[broken]["state"]["message"]

    def test_two_profiles_run_at_once_on_two_workers_and_one_profile_never_overlaps(self, sqlite_stack):
        stack, root, _ = sqlite_stack
        api = Api(stack.api_url)
        t0 = time.monotonic()
        demo = api.run_deployment("llm-monitor/demo", at="2026-11-30T00:00:00Z")
        back = api.run_deployment("llm-backfill/backfill", profile="profiles/demo.yaml",
                                  start="2026-11-28T00:00:00Z", end="2026-11-29T00:00:00Z")
        eu = api.run_deployment("llm-monitor/demo-eu", at="2026-12-01T00:00:00Z")
        runs = api.wait([demo, back, eu], timeout=500)
        print(f"three runs: {[r['state_name'] for r in runs.values()]} after {time.monotonic() - t0:.0f}s")
        assert {r["state_type"] for r in runs.values()} == {"COMPLETED"}, [r["state"] for r in runs.values()]
        (sub,) = api.flow_runs(parent_flow_run_id={"any_": [back]})  # one window: one llm-monitor subflow
        assert sub["state_type"] == "COMPLETED" and sub["parameters"]["at"].startswith("2026-11-29T00:00:00")

        cycle = {name: _interval(api.task_runs(i)) for name, i in
                 (("demo", demo), ("backfill", sub["id"]), ("eu", eu))}
        # Profile demo: both flow runs were running at the same time on its worker, but their monitoring
        # cycles did not overlap — one waited for the profile's concurrency slot.
        assert _overlap(_interval([runs[demo]]), _interval([runs[back]]))
        assert not _overlap(cycle["demo"], cycle["backfill"]), cycle
        waited = [i for i in (demo, sub["id"]) if any("for another run of profile demo to finish" in m
                                                       for m in api.logs(i))]
        assert len(waited) == 1, cycle
        assert _worker_of(stack, demo) == _worker_of(stack, back)
        # Profile demo-eu ran at the same time as a cycle of demo, on the other worker.
        assert _overlap(cycle["eu"], cycle["demo"]) or _overlap(cycle["eu"], cycle["backfill"]), cycle
        assert _worker_of(stack, eu) != _worker_of(stack, demo)
        limit = api.get("v2/concurrency_limits/llmvigil-profile-demo")
        assert (limit["limit"], limit["active_slots"]) == (1, 0)
        for run_at in ("20261130T000000Z", "20261129T000000Z"):
            assert len(list((root / "reports" / "demo").glob(f"{run_at}-*/summary.json"))) == 1
        assert len(list((root / "reports" / "demo-eu").glob("20261201T000000Z-*/summary.json"))) == 1

    def test_down_stops_every_process_it_started(self, sqlite_stack):
        stack, root, _ = sqlite_stack
        port = urlparse(stack.api_url).port
        assert len(stack.processes) == 3 and not [p for p in stack.processes if not server.is_alive(p.pid)]
        started = stack_pids(stack)
        stopped = server.down(root)
        assert sorted(p.pid for p in stopped) == sorted(p.pid for p in stack.processes)
        assert pids_left(stack, started) == []
        assert server.port_free("127.0.0.1", port)
        assert not (root / ".llmvigil" / "prefect" / "stack.json").exists()


# ---- PostgreSQL: manual run, a one-minute schedule ----------------------------------------------------
def add_every_minute_deployment(root: Path) -> None:
    """A profile `tick` (the demo's logs, its own store) deployed with a one-minute schedule."""
    profile = yaml.safe_load((root / "profiles" / "demo.yaml").read_text())
    profile.update(name="tick", store=".llmvigil/tick.duckdb", schedule={"cron": "* * * * *", "timezone": "UTC"})
    (root / "profiles" / "tick.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    config = yaml.safe_load((root / "prefect.yaml").read_text())
    config["deployments"].append({
        "name": "tick", "entrypoint": "flows/monitor.py:monitor", "parameters": {"profile": "profiles/tick.yaml"},
        "schedules": [{"cron": "* * * * *", "timezone": "UTC"}], "concurrency_limit": 1,
        "work_pool": {"name": "llmvigil", "work_queue_name": "tick"},
    })
    (root / "prefect.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="class")
def pg_stack(tmp_path_factory, slack, postgres_database):
    root = tmp_path_factory.mktemp("postgres") / "project"
    info = make_project(root)
    add_every_minute_deployment(root)
    with prefect_stack(root, env=slack.webhook_env(), database_url=postgres_database, workers=1) as stack:
        yield stack, root, info


class TestOnPostgres:
    def test_manual_run_completes_on_a_server_backed_by_postgres(self, pg_stack, slack, postgres_database):
        stack, root, info = pg_stack
        assert stack.database == postgres_database.replace("postgresql://", "postgresql+asyncpg://")
        api = Api(stack.api_url)
        out = prefect_cli(stack, "deployment", "run", "llm-monitor/demo", "-p", "at=2026-12-01T00:00:00Z")
        run_id = flow_run_id_from(out)
        run = api.wait([run_id], timeout=400)[run_id]
        assert run["state_type"] == "COMPLETED", run["state"]
        check_manual_run(api, root, slack, run_id, info["rows"])

    def test_a_one_minute_schedule_fires_by_itself_within_two_minutes(self, pg_stack):
        stack, _, _ = pg_stack
        api = Api(stack.api_url)
        d = api.deployment("llm-monitor/tick")
        deployed = _ts(d["created"])
        deadline = time.monotonic() + max(0.0, (deployed + timedelta(minutes=4) - datetime.now(timezone.utc)).total_seconds())
        done = []
        while not done and time.monotonic() < deadline:
            runs = api.flow_runs(deployment_id={"any_": [d["id"]]})
            done = [r for r in runs if r["state_type"] == "COMPLETED"]
            if not done:
                time.sleep(2)
        api.request("PATCH", f"deployments/{d['id']}", {"paused": True})  # no more ticks
        assert done, [(r["name"], r["state_name"]) for r in runs]
        first = done[0]
        assert first["auto_scheduled"] is True and first["parameters"] == {"profile": "profiles/tick.yaml"}
        assert _ts(first["start_time"]) - deployed < timedelta(minutes=2), (first["start_time"], d["created"])

    def test_down_stops_every_process_it_started(self, pg_stack):
        stack, root, _ = pg_stack
        started = stack_pids(stack)
        stopped = server.down(root)
        assert sorted(p.pid for p in stopped) == sorted(p.pid for p in stack.processes)
        assert pids_left(stack, started) == []
