"""End-to-end helpers: a checkout of the project in a temp folder with demo logs, and a real Prefect
stack on it — server on a free port (PREFECT_HOME in the temp folder), the `process` work pool, the
deployments from its prefect.yaml and workers — started and stopped by `llmvigil.server`, the code
behind `llmvigil up` / `llmvigil down`. Every process it starts is stopped again, and checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from llmvigil import server

REPO = Path(__file__).resolve().parents[2]
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
# What the tests tune on the stack: workers poll every 2 s instead of 10 s.
FAST = {"PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_LOGGING_LEVEL": "INFO"}
DEMO_DAYS, DEMO_PER_DAY = 4, 400  # small: each run stays quick on a busy 2-core machine


def make_project(root: Path) -> dict:
    """A plain checkout of what a worker needs (prefect.yaml, flows, profiles, checks) plus demo logs."""
    from llmvigil.demo import generate

    root.mkdir(parents=True)
    shutil.copy(REPO / "prefect.yaml", root / "prefect.yaml")
    for folder in ("flows", "profiles", "checks"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    data = generate(root / "data" / "demo", days=DEMO_DAYS, end=date(2026, 12, 1), per_day=DEMO_PER_DAY)
    return {"rows": data.rows}


class Api:
    """The few REST calls of the Prefect server the tests need (plain HTTP, no in-process Prefect)."""

    def __init__(self, url: str):
        self.url = url
        self.http = httpx.Client(base_url=url.rstrip("/") + "/", timeout=30)

    def request(self, method: str, path: str, payload: dict | None = None):
        """One call, retried like Prefect's own client does when the server is busy (a SQLite-backed
        server answers 503 while its database is locked by a burst of writes)."""
        for attempt in range(12):
            try:
                r = self.http.request(method, path.lstrip("/"), json=payload)
                if r.status_code not in (429, 502, 503):
                    break
            except httpx.TransportError:
                if attempt == 11:
                    raise
            time.sleep(min(5, 0.5 * 2 ** attempt))
        r.raise_for_status()
        return r.json() if r.content else None

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, payload: dict):
        return self.request("POST", path, payload)

    def deployment(self, name: str) -> dict:
        return self.get(f"deployments/name/{name}")

    def run_deployment(self, name: str, **parameters) -> str:
        d = self.deployment(name)
        return self.post(f"deployments/{d['id']}/create_flow_run", {"parameters": parameters})["id"]

    def flow_run(self, run_id: str) -> dict:
        return self.get(f"flow_runs/{run_id}")

    def flow_runs(self, **flow_run_filter) -> list[dict]:
        return self.post("flow_runs/filter", {"flow_runs": flow_run_filter, "sort": "START_TIME_ASC"})

    def task_runs(self, flow_run_id: str) -> list[dict]:
        runs = self.post("task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})
        return sorted(runs, key=lambda t: t["start_time"] or "")

    def artifacts(self, flow_run_id: str) -> list[dict]:
        return self.post("artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})

    def logs(self, flow_run_id: str) -> list[str]:
        logs = self.post("logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200})
        return [entry["message"] for entry in logs]

    def wait(self, run_ids: list[str], timeout: float) -> dict[str, dict]:
        """Wait until every flow run is in a final state; returns them by id."""
        deadline = time.monotonic() + timeout
        while True:
            runs = {i: self.flow_run(i) for i in run_ids}
            if all(r["state_type"] in FINAL for r in runs.values()):
                return runs
            if time.monotonic() > deadline:
                states = {r["name"]: r["state_name"] for r in runs.values()}
                raise AssertionError(f"flow runs not finished after {timeout:.0f}s: {states}")
            time.sleep(1)


def prefect_cli(stack: server.Stack, *args: str) -> str:
    """Run a `prefect` command the way a user does after `llmvigil up` (PREFECT_API_URL exported)."""
    env = server.stack_env(Path(stack.state_dir), stack.api_url, Path(stack.root))
    out = subprocess.run(server.prefect_cmd(*args), env=env, cwd=stack.root, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def flow_run_id_from(cli_output: str) -> str:
    match = re.search(r"UUID: ([0-9a-f-]{36})", cli_output)
    assert match, cli_output
    return match.group(1)


def stack_pids(stack: server.Stack) -> list[int]:
    """The stack's processes and every process they started (flow runs, the server's helpers)."""
    return [q for p in stack.processes for q in (p.pid, *server.descendants(p.pid))]


def pids_left(stack: server.Stack, pids: list[int] | None = None) -> list[int]:
    """Which of the stack's processes still run: the recorded pids, anything left in their process
    groups, and the given pids (e.g. `stack_pids` taken before `down`)."""
    left = [p.pid for p in stack.processes if server.is_alive(p.pid) or _group_has_live_member(p.pid)]
    return left + [pid for pid in pids or [] if pid not in left and server.is_alive(pid)]


def _group_has_live_member(pgid: int) -> bool:
    """Any process of the group that is not a zombie (zombies run nothing; their parent reaps them)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@contextmanager
def prefect_stack(root: Path, *, env: dict[str, str], database_url: str | None = None,
                  workers: int = 1) -> Iterator[server.Stack]:
    """`llmvigil up` on a free port for the project in `root`; `llmvigil down` at the end, checked."""
    try:
        stack = server.up(root, port=server.free_port(), database_url=database_url, workers=workers,
                          env={**FAST, **env}, startup_timeout=240, say=lambda m: print(f"{time.strftime('%X')} {m}"))
    except server.StackError as e:
        pytest.fail(f"the Prefect stack did not start: {e}")
    try:
        yield stack
    finally:
        started = stack_pids(stack)
        server.down(root)
        assert not pids_left(stack, started), f"processes still running after down: {pids_left(stack, started)}"
