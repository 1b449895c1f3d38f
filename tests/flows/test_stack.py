"""llmvigil.server without a Prefect server: URLs, the state file, starting and stopping by pid."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmvigil import server


def test_postgres_urls_get_the_async_driver_and_passwords_stay_hidden():
    assert server.async_database_url("postgresql://u:pw@db:5432/prefect") == "postgresql+asyncpg://u:pw@db:5432/prefect"
    assert server.async_database_url("postgres://u@db/p") == "postgresql+asyncpg://u@db/p"
    assert server.async_database_url("postgresql+asyncpg://u@db/p") == "postgresql+asyncpg://u@db/p"
    assert server.redact("postgresql+asyncpg://u:s3cret@db:5432/p") == "postgresql+asyncpg://u:***@db:5432/p"
    assert server.redact("postgresql+asyncpg://u@db/p") == "postgresql+asyncpg://u@db/p"


def test_up_refuses_what_it_cannot_do(tmp_path):
    with pytest.raises(server.StackError, match="no prefect.yaml"):
        server.up(tmp_path)
    (tmp_path / "prefect.yaml").write_text("deployments: []\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(server.StackError, match=f"port {s.getsockname()[1]} on 127.0.0.1 is in use"):
            server.up(tmp_path, port=s.getsockname()[1])


def _sleeper(tmp_path: Path, name: str, env=None) -> int:
    """A stand-in for a Prefect process: `python - prefect-<name>` that starts a child and sleeps."""
    code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']);"
            " print('ready', flush=True); time.sleep(120)")
    return server.start_process([sys.executable, "-c", code, f"prefect-{name}"], env=env or dict(os.environ),
                                cwd=tmp_path, log=tmp_path / f"{name}.log")


def _group(pgid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,stat="], capture_output=True, text=True).stdout
    return [int(p) for p, g, st in (line.split() for line in out.splitlines()) if int(g) == pgid and "Z" not in st]


@pytest.mark.skipif(sys.platform != "linux", reason="process groups checked through ps and /proc")
def test_down_stops_by_pid_what_up_recorded_with_their_children(tmp_path):
    state = tmp_path / "state"
    stack = server.Stack(root=str(tmp_path), state_dir=str(state), api_url="http://127.0.0.1:1/api",
                         ui_url="http://127.0.0.1:1", database="sqlite:x", pool="llmvigil")
    for role in ("server", "worker"):
        pid = _sleeper(tmp_path, role)
        stack.processes.append(server.Proc(role, pid, str(tmp_path / f"{role}.log"), role))
    stack.save()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(len(_group(p.pid)) == 2 for p in stack.processes):
        time.sleep(0.1)
    assert all(len(_group(p.pid)) == 2 for p in stack.processes)  # each leads its own group, with a child

    (tmp_path / "prefect.yaml").write_text("deployments: []\n")
    with pytest.raises(server.StackError, match="already up"):
        server.up(tmp_path, state_dir=state)
    stopped = server.down(tmp_path, state_dir=state, timeout=10)
    assert [p.role for p in stopped] == ["server", "worker"]
    assert not any(server.is_alive(p.pid) for p in stack.processes)
    assert all(_group(p.pid) == [] for p in stack.processes)
    assert not (state / "stack.json").exists()
    assert server.down(tmp_path, state_dir=state) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_a_process_started_from_a_shell_that_ignores_sigint_still_gets_sigint(tmp_path):
    """A worker started from a non-interactive shell inherits an ignored SIGINT and never stops on SIGTERM
    (Prefect turns SIGTERM into SIGINT): start_process gives it back the default."""
    code = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pid = server.start_process([sys.executable, "-c", code], env=dict(os.environ), cwd=tmp_path,
                                   log=tmp_path / "child.log")
    finally:
        signal.signal(signal.SIGINT, previous)
    os.waitpid(pid, 0)
    assert (tmp_path / "child.log").read_text().splitlines()[-1] == "True"


def test_the_printed_instructions_name_the_api_and_the_trigger_command():
    stack = server.Stack(root="/p", state_dir="/p/.llmvigil/prefect", api_url="http://127.0.0.1:4200/api",
                         ui_url="http://127.0.0.1:4200", database="sqlite:/p/.llmvigil/prefect/prefect.db",
                         pool="llmvigil", processes=[server.Proc("worker", 1, "w.log", "w")])
    text = stack.how_to_use()
    assert "Prefect UI:  http://127.0.0.1:4200" in text
    assert "export PREFECT_API_URL=http://127.0.0.1:4200/api" in text
    assert "prefect deployment run 'llm-monitor/demo' -p at=2026-12-01T00:00:00Z" in text
    assert "llmvigil down" in text
