"""The `llmvigil` command. Heavy libraries are imported inside the commands, so `--help` stays fast."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    name="llmvigil",
    help="Monitor LLM applications in production: refusals, retries, errors, latency, cost, drift and "
    "output checks, with Slack alerts and offline HTML reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PROFILE_OPT = typer.Option(..., "--profile", "-p", help="Monitoring profile YAML, e.g. profiles/demo.yaml.")


def _err(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _progress(msg: str) -> None:
    typer.echo(f"  {msg}", err=True)


def parse_at(value: str | None) -> datetime | None:
    """ISO date or date-time; naive values are UTC. 'now' or empty means now."""
    if value in (None, "", "now"):
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _err(f"--at: expected an ISO date or date-time such as 2026-11-30 or 2026-11-30T12:00Z, got {value!r}")
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


def _load(profile: Path):
    from llmvigil.profile import ProfileError, load_profile

    try:
        return load_profile(profile)
    except ProfileError as e:
        _err(str(e))


def _print_summary(summary) -> None:
    from llmvigil.slack import fmt_value

    w = summary.windows.to_json()["current"]
    typer.echo(f"\n{summary.profile} · run {summary.run_id} · window {w[0]} → {w[1]}")
    i = summary.ingest
    typer.echo(f"  ingest: {i.new_rows} new, {i.rejected} rejected, {i.total_rows} stored"
               + (f" · SOURCE ERROR: {i.error}" if i.error else ""))
    cur = summary.kpis.get("current", {})
    keys = ["volume", "error_rate", "refusal_rate", "retry_rate", "p95_latency_ms", "lang_mismatch_rate", "cost_usd"]
    typer.echo("  kpis: " + ", ".join(f"{k} {fmt_value(k, cur.get(k))}" for k in keys if k in cur))
    firing = summary.firing
    if not firing:
        typer.echo("  findings: none firing")
    for f in firing:
        seg = f" [{f.segment}]" if f.segment else ""
        ref = f", reference {fmt_value(f.rule, f.reference)}" if f.reference is not None else ""
        cmp = ">" if f.bound == "max" else "<"
        typer.echo(f"  FIRING {f.severity:8} {f.rule}{seg}: {fmt_value(f.rule, f.observed)} {cmp} "
                   f"{fmt_value(f.rule, f.threshold)}{ref}")
    a = summary.alert
    typer.echo(f"  alert: {a.status}" + (f" ({a.detail})" if a.detail else "")
               + (f" · message: {a.message_path}" if a.message_path else ""))
    typer.echo(f"  reports: {Path(summary.reports.get('summary', '')).parent}")


@app.command()
def run(
    profile: Path = PROFILE_OPT,
    at: Optional[str] = typer.Option(None, help="End of the window to judge (ISO, UTC). Default: now."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as one JSON object on stdout."),
) -> None:
    """Run one monitoring cycle: pull new interactions, measure, judge, alert, write reports."""
    p = _load(profile)
    from llmvigil.pipeline import run_cycle
    from llmvigil.store import StoreLockedError

    try:
        summary = run_cycle(p, parse_at(at), progress=None if as_json else _progress)
    except StoreLockedError as e:
        _err(str(e), 3)
    if as_json:
        typer.echo(json.dumps(summary.to_json(), ensure_ascii=False))
    else:
        _print_summary(summary)


@app.command("demo-data")
def demo_data(
    out: Path = typer.Option(Path("data/demo"), help="Folder for the generated JSONL files."),
    days: int = typer.Option(14, min=1, help="Number of days of logs."),
    per_day: int = typer.Option(2000, min=10, help="Interactions per day (about)."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same files."),
    end: str = typer.Option("2026-12-01", help="The day after the last day of logs (UTC)."),
    regression: bool = typer.Option(True, help="Put a model-version regression on the last day."),
) -> None:
    """Write realistic, seeded JSONL logs of a customer-support assistant (en/es/pt)."""
    from datetime import date

    from llmvigil.demo import generate

    data = generate(out, days=days, end=date.fromisoformat(end), per_day=per_day, seed=seed,
                    regression=regression, progress=_progress)
    typer.echo(f"wrote {data.rows} interactions in {len(data.files)} files to {out} "
               f"({data.first_day} .. {data.last_day}" +
               (f", regression on {data.regression_day})" if data.regression_day else ")"))


@app.command()
def demo(
    profile: Path = typer.Option(Path("profiles/demo.yaml"), "--profile", "-p", help="Demo profile."),
    fresh: bool = typer.Option(True, help="Start from a new store and new reports."),
    days: int = typer.Option(14, min=2, help="Days of demo logs to generate and monitor."),
) -> None:
    """Generate demo logs and run one monitoring cycle per day on them (the last day regresses)."""
    import shutil
    from datetime import date

    from llmvigil.demo import generate
    from llmvigil.pipeline import run_cycle

    p = _load(profile)
    data_dir = Path(p.source_glob()).parent
    if fresh:
        for path in (p.store_path, p.store_path.with_suffix(p.store_path.suffix + ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(p.reports_dir / p.name, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    end = date(2026, 12, 1)
    typer.echo(f"generating {days} days of demo logs into {data_dir} ...")
    data = generate(data_dir, days=days, end=end)
    typer.echo(f"  {data.rows} interactions, regression on {data.regression_day}")
    summary = None
    for i in range(days):
        at = datetime.combine(data.first_day + timedelta(days=i + 1), datetime.min.time())
        typer.echo(f"[{i + 1}/{days}] monitoring cycle at {at:%Y-%m-%d %H:%M} UTC", err=True)
        summary = run_cycle(p, at)
        firing = sorted({f.rule for f in summary.firing})
        typer.echo(f"  {summary.kpis['current'].get('volume', 0)} interactions · "
                   + (f"FIRING: {', '.join(firing)}" if firing else "all thresholds OK"))
    assert summary is not None
    _print_summary(summary)
    if summary.alert.message_path:
        msg = json.loads(Path(summary.alert.message_path).read_text())
        typer.echo("\nSlack message" + (" (NOT SENT: set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and SLACK_CHANNEL)"
                                       if not msg.get("sent") else " (sent)") + ":")
        for block in msg["message"]["blocks"]:
            text = block.get("text", {}).get("text") or " ".join(e.get("text", "") for e in block.get("elements", []))
            typer.echo("  | " + text.replace("\n", "\n  | "))
    typer.echo(f"\nreports: {(p.reports_dir / 'index.html').resolve()}")


@app.command("eval-refusals")
def eval_refusals(
    file: Path = typer.Argument(..., help="JSONL with prompt, response, label (refusal|partial|compliance)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    folds: int = typer.Option(5, min=2, help="Cross-validation folds (grouped by prompt)."),
) -> None:
    """Score the refusal detector on labelled responses: precision, recall and F1 for two tasks."""
    from llmvigil import refusal_eval

    try:
        result = refusal_eval.evaluate(file, folds=folds)
    except (FileNotFoundError, ValueError) as e:
        _err(str(e))
    typer.echo(json.dumps(result, indent=2) if as_json else refusal_eval.format_text(result))


@app.command()
def schema() -> None:
    """Print the JSON Schema of a monitoring profile (for editors that complete and check YAML)."""
    from llmvigil.profile import profile_json_schema

    typer.echo(json.dumps(profile_json_schema(), indent=2))


@app.command()
def validate(profiles: list[Path] = typer.Argument(..., help="Profile files to check.")) -> None:
    """Check profiles and their checks suites; print what is wrong, naming the file and the key."""
    from llmvigil.checks import ChecksError, load_suite

    bad = 0
    for path in profiles:
        p = None
        try:
            p = _load(path)
            if p.checks_path:
                load_suite(p.checks_path)
            typer.echo(f"ok: {path} (profile {p.name})")
        except typer.Exit:
            bad += 1
        except ChecksError as e:
            typer.echo(f"error: {e}", err=True)
            bad += 1
    if bad:
        raise typer.Exit(2)


@app.command("alerts")
def alerts_cmd(
    profile: Path = PROFILE_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    resend: Optional[int] = typer.Option(None, "--resend", metavar="ID",
                                         help="Put a failed or uncertain outbox message back in the queue."),
) -> None:
    """List open alerts, silences, the Slack outbox and recent deliveries of a profile."""
    from llmvigil import alerts
    from llmvigil.store import StoreLockedError, open_store

    p = _load(profile)
    if resend is None and not p.store_path.exists():
        _err(f"no store yet at {p.store_path}: run `llmvigil run --profile {profile}` first", 1)
    try:
        if resend is not None:
            with open_store(p.store_path, memory_limit=p.memory_limit) as con:
                before = alerts.resend(con, p, resend)
            if before not in ("failed", "uncertain"):
                _err(f"outbox message {resend}: " + ("not found" if before is None else
                     f"is {before}; only failed or uncertain messages can be re-queued"))
            typer.echo(f"outbox message {resend} ({before}) re-queued: the next run sends it")
            return
        with open_store(p.store_path, memory_limit=p.memory_limit, read_only=True) as con:
            ov = alerts.overview(con, p.name)
    except StoreLockedError as e:
        _err(str(e), 3)
    typer.echo(json.dumps(alerts.overview_json(ov), ensure_ascii=False, indent=2) if as_json
               else alerts.format_overview(ov))


@app.command()
def silence(
    profile: Path = PROFILE_OPT,
    rule: Optional[str] = typer.Option(None, "--rule", "-r", help="Rule to silence, e.g. refusal_rate."),
    segment: Optional[str] = typer.Option(None, "--segment", "-s",
                                          help="Only this segment, e.g. model=gpt-4o-mini (default: all)."),
    duration: str = typer.Option("4h", "--for", help="How long, e.g. 30m, 4h, 2d. Silences end by themselves."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why (shown by `llmvigil alerts`)."),
    expire: Optional[int] = typer.Option(None, "--expire", metavar="ID", help="End silence ID now instead."),
) -> None:
    """Mute a rule's alerts for a while (they come back on their own when the silence ends)."""
    from llmvigil import alerts
    from llmvigil.profile import parse_duration
    from llmvigil.store import StoreLockedError, open_store

    p = _load(profile)
    try:
        if expire is not None:
            with open_store(p.store_path, memory_limit=p.memory_limit) as con:
                if not alerts.expire_silence(con, p, expire):
                    _err(f"no active silence {expire} in profile {p.name} (see `llmvigil alerts --profile {profile}`)")
            typer.echo(f"silence {expire} ended")
            return
        if not rule or not reason:
            _err("give --rule and --reason (or --expire ID)")
        try:
            length = parse_duration(duration)
        except ValueError as e:
            _err(f"--for: {e}")
        with open_store(p.store_path, memory_limit=p.memory_limit) as con:
            s = alerts.add_silence(con, p, rule=rule, segment=segment, duration=length, reason=reason)
    except StoreLockedError as e:
        _err(str(e), 3)
    except ValueError as e:
        _err(str(e))
    typer.echo(f"silence {s['id']}: {p.name} {s['rule']} [{s['segment'] or 'all segments'}] until "
               f"{s['ends_at']:%Y-%m-%d %H:%M} UTC ({reason})")


@app.command()
def up(
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Project folder (with prefect.yaml)."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", envvar="LLMVIGIL_PREFECT_DATABASE_URL",
        help="PostgreSQL for the Prefect server, e.g. postgresql://postgres@127.0.0.1:5432/prefect. "
             "Default: SQLite in the state folder."),
    host: str = typer.Option("127.0.0.1", help="Address the server listens on (0.0.0.0 for workers on other machines)."),
    port: int = typer.Option(4200, help="Port of the Prefect server and UI."),
    workers: int = typer.Option(1, min=0, help="Workers to start on this machine."),
    worker_limit: Optional[int] = typer.Option(None, min=1, help="Flow runs a worker runs at once (default: no limit)."),
    state_dir: Optional[Path] = typer.Option(None, help="State folder (default: .llmvigil/prefect in the project)."),
) -> None:
    """Start the production stack: Prefect server, work pool, deployments from prefect.yaml, worker(s)."""
    from llmvigil import server

    try:
        stack = server.up(project_dir, state_dir=state_dir, host=host, port=port, database_url=database_url,
                          workers=workers, worker_limit=worker_limit, say=lambda m: typer.echo(m, err=True))
    except server.StackError as e:
        _err(str(e), 1)
    typer.echo("\nllmvigil is up.\n" + stack.how_to_use())


@app.command()
def down(
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Project folder (with prefect.yaml)."),
    state_dir: Optional[Path] = typer.Option(None, help="State folder given to `llmvigil up`, if any."),
) -> None:
    """Stop what `llmvigil up` started (workers, then the server), by pid."""
    from llmvigil import server

    stopped = server.down(project_dir, state_dir=state_dir, say=lambda m: typer.echo(m, err=True))
    typer.echo(f"stopped {len(stopped)} process(es)" if stopped else "nothing to stop (llmvigil is not up)")


@app.command()
def backfill(
    profile: Path = PROFILE_OPT,
    start: str = typer.Option(..., help="Start of the range (ISO, UTC); the first window ends one step later."),
    end: str = typer.Option(..., help="End of the range (ISO, UTC): the last window ends here."),
    every: Optional[str] = typer.Option(None, help="Step between runs, e.g. 1h or 1d (default: the profile's window)."),
) -> None:
    """Run one monitoring cycle per past window in a range (a new profile's history), without Prefect."""
    from llmvigil.orchestration import backfill_ends
    from llmvigil.pipeline import run_cycle
    from llmvigil.profile import parse_duration
    from llmvigil.store import StoreLockedError

    from llmvigil.pipeline import utcnow

    p = _load(profile)
    first = parse_at(start)
    if first is None:
        _err("--start: give the start of the range as an ISO date, e.g. 2026-11-24")
    try:
        ends = backfill_ends(first, parse_at(end) or utcnow(), parse_duration(every) if every else p.windows.current)
    except ValueError as e:
        _err(str(e))
    for i, at in enumerate(ends, 1):
        try:
            summary = run_cycle(p, at)
        except StoreLockedError as e:
            _err(str(e), 3)
        firing = sorted({f.rule for f in summary.firing})
        typer.echo(f"[{i}/{len(ends)}] {at:%Y-%m-%d %H:%M} UTC · {summary.kpis.get('current', {}).get('volume', 0)} "
                   "interactions · " + (f"FIRING: {', '.join(firing)}" if firing else "all thresholds OK"))


@app.command()
def serve(
    directory: Path = typer.Option(Path("reports"), "--dir", "-d", help="Reports folder to serve."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."),
    quiet: bool = typer.Option(False, help="Do not log each request."),
) -> None:
    """Serve the reports folder on http://127.0.0.1 (only this machine can connect)."""
    from llmvigil.dashboard.serve import make_server, url_of

    if not (directory / "index.html").exists():
        _err(f"{directory}: no reports here (no index.html). Run a profile first, e.g. `llmvigil demo`, "
             "or point --dir at the profile's reports.dir.")
    try:
        server = make_server(directory, port, quiet=quiet)
    except OSError as e:
        _err(f"cannot listen on 127.0.0.1:{port}: {e.strerror or e}. Try another --port (0 picks a free one).")
    typer.echo(f"serving {directory.resolve()} at {url_of(server)}  (Ctrl-C to stop)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
