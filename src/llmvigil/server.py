"""The local production stack: a Prefect server, the `process` work pool, the deployments and workers.

`llmvigil up` starts them and `llmvigil down` stops them, by pid. Everything lives in one state
folder of the project (default `.llmvigil/prefect/`): PREFECT_HOME, the SQLite database (unless a
PostgreSQL URL is given), a log file per process and `stack.json`, which records what was started.

Only Prefect's own commands are used (`prefect server start`, `prefect work-pool create`,
`prefect deploy --all`, `prefect worker start`), so the same stack can be run by hand or scaled out
to workers on other machines (docs/production.md).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

from llmvigil.orchestration import PROJECT_ENV

STATE_DIR = Path(".llmvigil/prefect")
STATE_FILE = "stack.json"
POOL = "llmvigil"

# Every process of the stack gets these: no analytics, no telemetry, nothing leaves the machine.
QUIET_ENV = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "GX_ANALYTICS_ENABLED": "False",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
}

Say = Callable[[str], None]


class StackError(RuntimeError):
    """The stack could not be started or stopped; the message says what to do."""


@dataclass
class Proc:
    role: str  # server | worker
    pid: int
    log: str
    name: str = ""


@dataclass
class Stack:
    root: str
    state_dir: str
    api_url: str
    ui_url: str
    database: str  # "sqlite:<path>" or the PostgreSQL URL without its password
    pool: str
    processes: list[Proc] = field(default_factory=list)

    @property
    def state_file(self) -> Path:
        return Path(self.state_dir) / STATE_FILE

    def save(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        tmp.replace(self.state_file)

    @classmethod
    def load(cls, state_dir: Path) -> "Stack | None":
        path = Path(state_dir) / STATE_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        data["processes"] = [Proc(**p) for p in data.get("processes", [])]
        return cls(**data)

    def alive(self) -> list[Proc]:
        return [p for p in self.processes if is_alive(p.pid)]

    def how_to_use(self) -> str:
        return "\n".join([
            f"Prefect UI:  {self.ui_url}",
            f"database:    {self.database}",
            f"work pool:   {self.pool} ({sum(p.role == 'worker' for p in self.processes)} worker(s))",
            f"logs:        {self.state_dir}/*.log",
            "",
            "Trigger a run by hand (or press 'Quick run' on a deployment in the UI):",
            f"  export PREFECT_API_URL={self.api_url}",
            "  prefect deployment run 'llm-monitor/demo' -p at=2026-12-01T00:00:00Z",
            "Backfill past windows of a profile:",
            "  prefect deployment run 'llm-backfill/backfill' -p profile=profiles/demo.yaml \\",
            "      -p start=2026-11-24T00:00:00Z -p end=2026-12-01T00:00:00Z",
            "Stop everything: llmvigil down",
        ])


# ---- small helpers ------------------------------------------------------------------------------
def prefect_exe() -> str:
    """The `prefect` command of the running Python environment (falls back to `python -m prefect`)."""
    exe = Path(sys.executable).parent / ("prefect.exe" if os.name == "nt" else "prefect")
    return str(exe) if exe.exists() else ""


def prefect_cmd(*args: str) -> list[str]:
    exe = prefect_exe()
    return [exe, *args] if exe else [sys.executable, "-m", "prefect", *args]


def async_database_url(url: str) -> str:
    """PostgreSQL URLs as Prefect's server needs them (asyncpg driver); other URLs unchanged."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def redact(url: str) -> str:
    """A database URL without its password, for printing and for the state file."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if os.name == "posix":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def is_alive(pid: int) -> bool:
    """True while the process runs (zombies count as gone; our own children are reaped here)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_prefect(pid: int) -> bool:
    """Whether pid still runs a Prefect command (guards `down` against a pid reused since `up`)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True  # no /proc (macOS): trust the state file
    try:
        return b"prefect" in cmdline.read_bytes()
    except OSError:
        return False


def _restore_sigint() -> None:  # pragma: no cover - runs in the child between fork and exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_process(cmd: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> int:
    """Start a long-running process in its own session (so it and its children stop as a group), with
    SIGINT at its default: a Prefect worker started from a non-interactive shell would otherwise
    inherit an ignored SIGINT and never stop on SIGTERM."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        preexec = None
        if os.name == "posix" and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            preexec = _restore_sigint
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=(os.name == "posix"),
                                preexec_fn=preexec)
    return proc.pid


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _get(url: str, timeout: float = 3.0):
    import httpx

    return httpx.get(url, timeout=timeout)


def _post(url: str, payload: dict, timeout: float = 5.0):
    import httpx

    return httpx.post(url, json=payload, timeout=timeout)


def _pool_exists(api_url: str, pool: str, attempts: int = 10) -> bool:
    for _ in range(attempts):
        try:
            status = _get(f"{api_url}/work_pools/{pool}").status_code
            if status in (200, 404):
                return status == 200
        except Exception:  # noqa: BLE001 - busy server: ask again
            pass
        time.sleep(1)
    raise StackError(f"the Prefect server at {api_url} does not answer about work pool {pool}")


def wait_healthy(api_url: str, pid: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            raise StackError(f"the Prefect server exited during startup; last lines of {log}:\n{_tail(log)}")
        try:
            if _get(f"{api_url}/health").status_code == 200:
                return
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        time.sleep(0.5)
    raise StackError(f"the Prefect server did not become healthy within {timeout:.0f}s; see {log}:\n{_tail(log)}")


def wait_workers(stack: Stack, procs: list[Proc], timeout: float) -> None:
    """Wait until every worker has sent its first heartbeat to the server."""
    deadline = time.monotonic() + timeout
    url = f"{stack.api_url}/work_pools/{stack.pool}/workers/filter"
    while time.monotonic() < deadline:
        for p in procs:
            if not is_alive(p.pid):
                raise StackError(f"the Prefect worker {p.name} exited during startup; last lines of "
                                 f"{p.log}:\n{_tail(Path(p.log))}")
        try:
            r = _post(url, {})
            online = {w["name"] for w in r.json() if w.get("status") == "ONLINE"} if r.status_code == 200 else set()
            if {p.name for p in procs} <= online:
                return
        except Exception:  # noqa: BLE001 - the server is busy; ask again
            pass
        time.sleep(1)
    raise StackError(f"worker(s) {[p.name for p in procs]} did not report to the server within {timeout:.0f}s; "
                     f"see {procs[0].log}")


def _run(cmd: list[str], *, env: dict[str, str], cwd: Path, log: Path, what: str, timeout: float = 300) -> None:
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        try:
            rc = subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = None
    if rc != 0:
        raise StackError(f"{what} failed ({'timed out' if rc is None else f'exit {rc}'}); last lines of {log}:\n{_tail(log)}")


def stack_env(state_dir: Path, api_url: str, root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of every process of the stack: one PREFECT_HOME, one API, the project folder."""
    env = {**os.environ, **QUIET_ENV}
    env.update({
        "PREFECT_HOME": str(state_dir),
        "PREFECT_API_URL": api_url,
        PROJECT_ENV: str(root),
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("PREFECT_PROFILE", None)
    env.update(extra or {})
    return env


# ---- up / down ----------------------------------------------------------------------------------
def up(root: Path, *, state_dir: Path | None = None, host: str = "127.0.0.1", port: int = 4200,
       database_url: str | None = None, workers: int = 1, worker_limit: int | None = None,
       pool: str = POOL, env: dict[str, str] | None = None, deploy: bool = True,
       startup_timeout: float = 120, say: Say | None = None) -> Stack:
    """Start the server, create the work pool, deploy prefect.yaml and start the workers.

    `env` is added to every process (e.g. SLACK_WEBHOOK_URL for the workers). If anything fails, what
    was started is stopped again and StackError says what went wrong.
    """
    say = say or (lambda msg: None)
    root = Path(root).resolve()
    if not (root / "prefect.yaml").exists():
        raise StackError(f"{root} has no prefect.yaml: run `llmvigil up` from the project folder or pass --project-dir")
    state_dir = (root / STATE_DIR if state_dir is None else Path(state_dir)).resolve()
    previous = Stack.load(state_dir)
    if previous is not None and previous.alive():
        raise StackError(f"the stack is already up ({previous.ui_url}, pids "
                         f"{', '.join(str(p.pid) for p in previous.alive())}): `llmvigil down` stops it")
    if not port_free(host, port):
        raise StackError(f"port {port} on {host} is in use: pass another one with --port")
    state_dir.mkdir(parents=True, exist_ok=True)

    client_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    api_url = f"http://{client_host}:{port}/api"
    # The server's UI talks to the API at PREFECT_UI_API_URL, else at host:port (set it when serving
    # browsers on other machines, e.g. PREFECT_UI_API_URL=http://monitor.example:4200/api).
    extra_server = {"PREFECT_SERVER_API_HOST": host, "PREFECT_SERVER_API_PORT": str(port),
                    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false"}
    if database_url:
        extra_server["PREFECT_API_DATABASE_CONNECTION_URL"] = async_database_url(database_url)
        database = redact(async_database_url(database_url))
    else:
        db_file = state_dir / "prefect.db"
        extra_server["PREFECT_API_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{db_file}"
        database = f"sqlite:{db_file}"
    base_env = stack_env(state_dir, api_url, root, env)
    stack = Stack(root=str(root), state_dir=str(state_dir), api_url=api_url,
                  ui_url=f"http://{client_host}:{port}", database=database, pool=pool)
    try:
        log = state_dir / "server.log"
        say(f"starting the Prefect server on {host}:{port} ({database}) ...")
        server_env = {**base_env, **extra_server}
        server_env.pop("PREFECT_API_URL")
        pid = start_process(prefect_cmd("server", "start", "--host", host, "--port", str(port)),
                            env=server_env, cwd=state_dir, log=log)
        stack.processes.append(Proc("server", pid, str(log), "server"))
        stack.save()
        t0 = time.monotonic()
        wait_healthy(api_url, pid, log, startup_timeout)
        say(f"  healthy after {time.monotonic() - t0:.0f}s")

        setup_log = state_dir / "setup.log"
        if not _pool_exists(api_url, pool):
            say(f"creating the work pool {pool!r} (type process) ...")
            _run(prefect_cmd("work-pool", "create", pool, "--type", "process"), env=base_env, cwd=root,
                 log=setup_log, what=f"creating the work pool {pool}")
        started = []
        if workers:  # they start (and import Prefect) while the deployments are created
            say(f"starting {workers} worker(s) on pool {pool!r} ...")
            started = [add_worker(stack, limit=worker_limit, env=env, wait=False) for _ in range(workers)]
        if deploy:
            say("deploying prefect.yaml (prefect deploy --all) ...")
            # Without LLMVIGIL_HOME in its environment, `prefect deploy` keeps the pull step's
            # `{{ $LLMVIGIL_HOME }}` as it is, and each worker fills in its own checkout at run time.
            deploy_env = {k: v for k, v in base_env.items() if k != PROJECT_ENV}
            _run(prefect_cmd("--no-prompt", "deploy", "--all"), env=deploy_env, cwd=root, log=setup_log,
                 what="prefect deploy --all")
        if started:
            wait_workers(stack, started, startup_timeout)
        say(f"up after {time.monotonic() - t0:.0f}s")
    except BaseException:
        down(root, state_dir=state_dir)
        raise
    return stack


def add_worker(stack: Stack, *, name: str | None = None, queues: list[str] | tuple[str, ...] = (),
               limit: int | None = None, env: dict[str, str] | None = None, wait: bool = True,
               timeout: float = 120) -> Proc:
    """Start one more `prefect worker start` on the stack's pool (optionally only for some work queues,
    e.g. the queue of a profile whose store lives on this machine). `down` stops it with the rest."""
    root, state_dir = Path(stack.root), Path(stack.state_dir)
    n = sum(p.role == "worker" for p in stack.processes) + 1
    name = name or f"llmvigil-{socket.gethostname()}-{n}"
    log = state_dir / f"worker-{n}.log"
    cmd = prefect_cmd("worker", "start", "--pool", stack.pool, "--type", "process", "--name", name)
    for q in queues:
        cmd += ["--work-queue", q]
    if limit:
        cmd += ["--limit", str(limit)]
    pid = start_process(cmd, env=stack_env(state_dir, stack.api_url, root, env), cwd=root, log=log)
    proc = Proc("worker", pid, str(log), name)
    stack.processes.append(proc)
    stack.save()
    if wait:
        wait_workers(stack, [proc], timeout)
    return proc


def _signal_group(pid: int, sig: int) -> None:
    try:
        if os.name == "posix":
            os.killpg(pid, sig)  # the process leads its own session/group: its children stop too
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def down(root: Path, *, state_dir: Path | None = None, timeout: float = 30, say: Say | None = None) -> list[Proc]:
    """Stop what `up` started: the workers and the flow runs they are running, then the server.

    SIGTERM to each recorded process group (and to the flow-run processes a worker started, which
    Prefect puts in sessions of their own), SIGKILL after `timeout`. Returns the recorded processes
    that were running, and removes the state file."""
    say = say or (lambda msg: None)
    root = Path(root).resolve()
    state_dir = (root / STATE_DIR if state_dir is None else Path(state_dir)).resolve()
    stack = Stack.load(state_dir)
    if stack is None:
        return []
    running = [p for p in stack.alive() if _is_prefect(p.pid)]
    for role in ("worker", "server"):
        group = [p for p in running if p.role == role]
        spawned = [d for p in group for d in descendants(p.pid)]
        for p in group:
            say(f"stopping {p.role} {p.name} (pid {p.pid}) ...")
            _signal_group(p.pid, signal.SIGTERM)
        if spawned:
            say(f"stopping {len(spawned)} process(es) the {role}s started (flow runs) ...")
        for pid in spawned:
            _signal(pid, signal.SIGTERM)
        pids = [p.pid for p in group] + spawned
        deadline = time.monotonic() + timeout
        while any(is_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in pids:
            if is_alive(pid):
                say(f"  pid {pid} did not stop within {timeout:.0f}s: killing it")
            if is_alive(pid) or _group_alive(pid):  # also what is left of its process group
                _signal_group(pid, signal.SIGKILL)
                _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(is_alive(p.pid) for p in running) and time.monotonic() < deadline:
        time.sleep(0.1)
    stack.state_file.unlink(missing_ok=True)
    return running


def descendants(pid: int) -> list[int]:
    """Every process below pid (children, grandchildren, ...), from `ps`."""
    if os.name != "posix":
        return []
    try:
        out = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
            children.setdefault(int(fields[1]), []).append(int(fields[0]))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (e.g. a child that ignored SIGTERM)."""
    if os.name != "posix":
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
