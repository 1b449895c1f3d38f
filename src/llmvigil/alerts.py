"""Alerts people trust: state per finding, repeats, resolve notices, silences and a Slack outbox.

Fingerprint
    profile + rule + segment (``demo|refusal_rate|model=gpt-4o-mini``; ``*`` for the whole window).
    Never a run id or a time, so the same problem in the next run is the same alert.

State (table ``alert_state``, one row per fingerprint)
    ``status`` is what the last run saw (firing | ok | no_data; a firing finding muted by a silence is
    reported as ``silenced`` in the run summary). ``notified`` is what Slack was last told about it
    (firing | no_data | NULL): the alert is *open* while it is set.
    - OK -> FIRING sends (kind ``firing``); FIRING stays quiet until ``repeat_every`` has passed since the
      last message about it, then repeats (``repeat``). Times are the run's ``at``, not the wall clock, so
      a run triggered with ``--at`` (backfill, manual re-run) behaves like the run it stands for.
    - FIRING -> OK sends a resolve notice when ``send_resolved``: with a bot token, a thread reply under
      the message that announced the alert (``thread_ts`` = that message's recorded ``ts``); with a
      webhook (which cannot thread), a "resolved" line in the run's message.
    - NO_DATA (fewer than ``min_samples`` rows, or a segment absent from the window) is never OK. Policy
      ``quiet``: nothing is sent and an open alert stays open (no resolve: we do not know). Policy
      ``alert``: a "no data" line is sent like a firing alert, repeats and resolves the same way.
    - A run older than a fingerprint's last evaluated run (a backfill of an earlier day) reports its
      findings but does not change that fingerprint's state: re-judging the past must not resolve and
      re-page today's alerts. A re-run at the same ``at`` changes nothing either (it is idempotent).
    - Rules removed from the profile lose their state quietly.

Silences (table ``alert_silences``)
    ``llmvigil silence --profile P --rule R [--segment S] --for 4h --reason TEXT``. Without a segment a
    silence covers the rule in every segment. Silences are a human decision in real time, so they are
    judged on the wall clock (``now``) and end by themselves. A silenced finding sends nothing and does
    not become "notified": if it still fires when the silence ends, it is announced then. A resolve
    notice for an alert Slack was already told about is still sent (it closes what people saw).

Cold start
    - A fresh store (no runs, no alert state): nobody has been told anything, so whatever fires is sent.
    - A store whose alert state exists: the state is the truth; a restarted process, worker or machine
      changes nothing (it all lives in DuckDB).
    - A store with runs but no alert state (upgraded from the stateless sender, or the alert tables were
      dropped): the latest run's summary is read, and what it reported firing with a message written or
      sent (alert status ``sent`` or ``not_configured``) counts as already told at that run's time; it
      repeats after ``repeat_every`` like any open alert instead of paging again now.

Outbox and exactly-once (tables ``alert_outbox``, ``alert_deliveries``)
    A run's messages are inserted into the outbox in the same transaction as the state changes they
    announce, then delivered in order (older messages first, so a reply follows its parent). Each
    attempt is recorded in ``alert_deliveries``. Success stores Slack's answer (webhook: the HTTP 200;
    bot: the message ``ts``). A message Slack did not take stays ``pending`` and is retried at the start
    of the next run's alert step; the rest of that run's queue waits behind it (order is kept).
    ``channel_not_found`` and other refusals of the target are reported in the run summary with what to
    fix and the message stays pending; a refusal of the message itself (``invalid_blocks``...) marks it
    ``failed`` (kept, listed, re-queued with ``llmvigil alerts --resend ID``).
    Crash window: a message is marked ``sending`` (committed) before it is handed to Slack and
    ``delivered`` after. If the process dies in between, nobody knows whether Slack has it. Such a message
    is never re-sent automatically (a message is never sent twice): the next run marks it ``uncertain``,
    the summary and ``llmvigil alerts`` say so, and a person who sees it missing in the channel re-queues
    it with ``--resend``. The same holds for an HTTP answer lost after Slack processed the request.
    With no Slack configured, the state still advances and the message is written to the run folder
    (``alert.json``), which is the record of what would have been said; nothing is queued.

Connections: the state change is one short transaction; during delivery no DuckDB connection is held
while waiting for Slack (one short connection before and one after each message).
"""

from __future__ import annotations

import getpass
import json
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import duckdb

from llmvigil import slack
from llmvigil.profile import Profile
from llmvigil.results import AlertResult, Finding
from llmvigil.slack import Entry, SlackTarget
from llmvigil.store import scalar

Store = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
Sender = Callable[..., slack.Delivery]

SENDING_STALE_AFTER = timedelta(minutes=10)  # a message `sending` for longer was interrupted
RECENT_DELIVERIES = 10

DDL = [
    """CREATE TABLE IF NOT EXISTS alert_state (
      fingerprint VARCHAR PRIMARY KEY, profile VARCHAR NOT NULL, rule VARCHAR NOT NULL, segment VARCHAR,
      status VARCHAR NOT NULL, silenced_by BIGINT, severity VARCHAR, observed DOUBLE, threshold DOUBLE,
      bound VARCHAR, reference DOUBLE, samples BIGINT, status_since TIMESTAMP,
      notified VARCHAR, episode_since TIMESTAMP, episode_outbox_id BIGINT, last_notified_at TIMESTAMP,
      last_run_at TIMESTAMP, last_run_id VARCHAR, updated_at TIMESTAMP)""",
    "CREATE SEQUENCE IF NOT EXISTS alert_outbox_seq START 1",
    """CREATE TABLE IF NOT EXISTS alert_outbox (
      id BIGINT PRIMARY KEY, profile VARCHAR NOT NULL, run_id VARCHAR, run_at TIMESTAMP,
      created_at TIMESTAMP, kind VARCHAR, thread_of BIGINT, fingerprints VARCHAR[], message JSON,
      status VARCHAR NOT NULL, attempts INTEGER DEFAULT 0, last_attempt_at TIMESTAMP, last_error VARCHAR,
      delivered_at TIMESTAMP, target VARCHAR, http_status INTEGER, slack_ts VARCHAR, thread_ts VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS alert_deliveries (
      outbox_id BIGINT, profile VARCHAR, run_id VARCHAR, attempted_at TIMESTAMP, target VARCHAR,
      ok BOOLEAN, http_status INTEGER, slack_ts VARCHAR, thread_ts VARCHAR, outcome VARCHAR, detail VARCHAR)""",
    "CREATE SEQUENCE IF NOT EXISTS alert_silence_seq START 1",
    """CREATE TABLE IF NOT EXISTS alert_silences (
      id BIGINT PRIMARY KEY, profile VARCHAR NOT NULL, rule VARCHAR NOT NULL, segment VARCHAR,
      starts_at TIMESTAMP NOT NULL, ends_at TIMESTAMP NOT NULL, reason VARCHAR, created_by VARCHAR,
      created_at TIMESTAMP)""",
]
TABLES = ("alert_state", "alert_outbox", "alert_deliveries", "alert_silences")

_STATE_COLS = ("fingerprint", "profile", "rule", "segment", "status", "silenced_by", "severity", "observed",
               "threshold", "bound", "reference", "samples", "status_since", "notified", "episode_since",
               "episode_outbox_id", "last_notified_at", "last_run_at", "last_run_id", "updated_at")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in DDL:
        con.execute(stmt)


def fingerprint(profile: str, rule: str, segment: str | None) -> str:
    return f"{profile}|{rule}|{segment or '*'}"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


# ---- the state machine (pure) ------------------------------------------------------------------------
def transition(prev: dict[str, Any] | None, f: Finding, *, fp: str, profile: Profile, at: datetime,
               run_id: str, silence_id: int | None) -> tuple[dict[str, Any], str | None]:
    """The fingerprint's next state and what to tell Slack (an Entry kind, or None for nothing)."""
    cfg = profile.alerts
    s: dict[str, Any] = dict(prev) if prev else {
        "fingerprint": fp, "profile": profile.name, "rule": f.rule, "segment": f.segment, "notified": None,
        "episode_since": None, "episode_outbox_id": None, "last_notified_at": None, "status_since": at,
    }
    if prev is None or prev["status"] != f.status:
        s["status_since"] = at
    s.update(status=f.status, silenced_by=None, severity=f.severity, observed=f.observed,
             threshold=f.threshold, bound=f.bound, reference=f.reference, samples=f.samples,
             last_run_at=at, last_run_id=run_id)
    notified = s["notified"]
    if f.status == "no_data" and cfg.no_data == "quiet":
        return s, None  # NO_DATA is not OK: an open alert stays open, quietly
    want = "firing" if f.status == "firing" else ("no_data" if f.status == "no_data" else None)
    if want is not None:
        if silence_id is not None:
            s["silenced_by"] = silence_id
            return s, None
        if notified != want:
            if notified is None:  # a new episode; its message id is filled in when it is queued
                s["episode_since"], s["episode_outbox_id"] = at, None
            s["notified"], s["last_notified_at"] = want, at
            return s, want  # "firing" or "no_data"
        last = s["last_notified_at"]
        if last is None or at - last >= cfg.repeat_every:
            s["last_notified_at"] = at
            return s, "repeat" if want == "firing" else "no_data"
        return s, None
    # OK
    if notified is None:
        return s, None
    s["notified"], s["episode_since"], s["episode_outbox_id"] = None, None, None
    return s, "resolved" if cfg.send_resolved else None


# ---- silences -------------------------------------------------------------------------------------------
def add_silence(con: duckdb.DuckDBPyConnection, profile: Profile, *, rule: str, segment: str | None,
                duration: timedelta, reason: str, now: datetime | None = None,
                created_by: str | None = None) -> dict[str, Any]:
    if rule not in profile.thresholds:
        raise ValueError(f"rule {rule!r} is not in profile {profile.name!r}; its rules are: "
                         + ", ".join(sorted(profile.thresholds)))
    if duration <= timedelta(0):
        raise ValueError("a silence needs a positive duration, e.g. --for 4h")
    if not reason.strip():
        raise ValueError("a silence needs a reason (--reason), so that others know why alerts are quiet")
    now = now or utcnow()
    if created_by is None:
        try:
            created_by = getpass.getuser()
        except Exception:
            created_by = None
    ensure_tables(con)
    sid = scalar(con, "SELECT nextval('alert_silence_seq')")
    con.execute("INSERT INTO alert_silences VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [sid, profile.name, rule, segment or None, now, now + duration, reason.strip(), created_by, now])
    return _rows(con, "SELECT * FROM alert_silences WHERE id = ?", [sid])[0]


def expire_silence(con: duckdb.DuckDBPyConnection, profile: Profile, silence_id: int,
                   now: datetime | None = None) -> bool:
    """End a silence now. False when there is no active silence with that id."""
    now = now or utcnow()
    ensure_tables(con)
    rows = con.execute("UPDATE alert_silences SET ends_at = ? WHERE id = ? AND profile = ? AND ends_at > ? "
                       "RETURNING id", [now, silence_id, profile.name, now]).fetchall()
    return bool(rows)


def active_silences(con: duckdb.DuckDBPyConnection, profile: str, now: datetime) -> list[dict[str, Any]]:
    return _rows(con, "SELECT * FROM alert_silences WHERE profile = ? AND starts_at <= ? AND ends_at > ? "
                      "ORDER BY id", [profile, now, now])


def _silence_for(silences: list[dict[str, Any]], rule: str, segment: str | None) -> int | None:
    for s in silences:
        if s["rule"] == rule and (s["segment"] is None or s["segment"] == segment):
            return s["id"]
    return None


# ---- one run: state changes and the messages they call for, in one transaction ----------------------
@dataclass
class Queued:
    kind: str  # "alert" | "resolved"
    message: dict[str, Any]
    fingerprints: list[str]
    thread_of: int | None = None
    outbox_id: int | None = None


@dataclass
class Evaluation:
    entries: list[Entry] = field(default_factory=list)
    messages: list[Queued] = field(default_factory=list)
    silenced: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # fingerprints a backfilled run did not touch
    seeded: int = 0  # fingerprints taken over from the latest run summary at a cold start


def _seed_from_last_run(con: duckdb.DuckDBPyConnection, profile: Profile, now: datetime) -> int:
    """Cold start on a store that has runs but no alert state: what was already told is known."""
    rows = con.execute("SELECT run_at, summary FROM runs WHERE profile = ? ORDER BY run_at DESC LIMIT 1",
                       [profile.name]).fetchall()
    if not rows or rows[0][1] is None:
        return 0
    run_at, summary = rows[0][0], json.loads(rows[0][1])
    if (summary.get("alert") or {}).get("status") not in ("sent", "not_configured"):
        return 0
    n = 0
    for f in summary.get("findings") or []:
        if f.get("status") != "firing" or f.get("rule") not in profile.thresholds:
            continue
        fp = fingerprint(profile.name, f["rule"], f.get("segment"))
        row = {"fingerprint": fp, "profile": profile.name, "rule": f["rule"], "segment": f.get("segment"),
               "status": "firing", "silenced_by": None, "severity": f.get("severity"),
               "observed": f.get("observed"), "threshold": f.get("threshold"), "bound": f.get("bound"),
               "reference": f.get("reference"), "samples": f.get("samples"), "status_since": run_at,
               "notified": "firing", "episode_since": run_at, "episode_outbox_id": None,
               "last_notified_at": run_at, "last_run_at": run_at, "last_run_id": summary.get("run_id"),
               "updated_at": now}
        _upsert(con, row)
        n += 1
    return n


def _upsert(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
    cols = ", ".join(_STATE_COLS)
    marks = ", ".join("?" for _ in _STATE_COLS)
    con.execute(f"INSERT OR REPLACE INTO alert_state ({cols}) VALUES ({marks})", [row.get(c) for c in _STATE_COLS])


def evaluate(con: duckdb.DuckDBPyConnection, profile: Profile, findings: list[Finding], *, at: datetime,
             run_id: str, window: tuple[str, str], links: dict[str, str], target: SlackTarget | None,
             now: datetime | None = None) -> Evaluation:
    """Apply a run's findings to the alert state and queue the messages they call for.

    Findings muted by a silence get status ``silenced`` (in place: the run summary shows it). Messages
    go into the outbox in the same transaction as the state changes, when a Slack target exists.
    """
    now = now or utcnow()
    ensure_tables(con)
    out = Evaluation()
    con.execute("BEGIN TRANSACTION")
    try:
        state = {r["fingerprint"]: r for r in _rows(con, "SELECT * FROM alert_state WHERE profile = ?",
                                                   [profile.name])}
        if not state:
            out.seeded = _seed_from_last_run(con, profile, now)
            if out.seeded:
                state = {r["fingerprint"]: r for r in _rows(con, "SELECT * FROM alert_state WHERE profile = ?",
                                                           [profile.name])}
        silences = active_silences(con, profile.name, now)
        judged: list[tuple[Finding, bool]] = [(f, True) for f in findings]
        seen = {fingerprint(profile.name, f.rule, f.segment) for f in findings}
        for fp, row in state.items():
            if fp in seen:
                continue
            if row["rule"] not in profile.thresholds:
                con.execute("DELETE FROM alert_state WHERE fingerprint = ?", [fp])  # rule removed
                continue
            # A segment with no rows in the window: no data, judged like any other NO_DATA.
            judged.append((Finding(rule=row["rule"], segment=row["segment"], status="no_data", observed=None,
                                   threshold=row["threshold"], bound=row["bound"], reference=None,
                                   severity=profile.thresholds[row["rule"]].severity, samples=0), False))
        opened: list[str] = []
        new_rows: dict[str, dict[str, Any]] = {}
        for f, in_summary in judged:
            fp = fingerprint(profile.name, f.rule, f.segment)
            prev = state.get(fp)
            if prev is not None and prev["last_run_at"] is not None and at < prev["last_run_at"]:
                out.stale.append(fp)
                continue
            sid = _silence_for(silences, f.rule, f.segment)
            row, kind = transition(prev, f, fp=fp, profile=profile, at=at, run_id=run_id, silence_id=sid)
            row["updated_at"] = now
            if row["silenced_by"] is not None:
                out.silenced.append(fp)
                if in_summary:
                    f.status = "silenced"
            if kind is not None:
                since = (prev or {}).get("episode_since") if kind == "resolved" else row["episode_since"]
                parent = (prev or {}).get("episode_outbox_id") if kind == "resolved" else None
                out.entries.append(Entry(kind=kind, finding=f, since=since, fingerprint=fp, parent=parent))
                if kind in ("firing", "no_data") and (prev is None or prev.get("notified") is None):
                    opened.append(fp)
            new_rows[fp] = row
        out.messages = _compose(profile, out.entries, run_id=run_id, window=window, links=links,
                                threads=bool(target and target.threads))
        if target is not None:
            for q in out.messages:
                q.outbox_id = scalar(con, "SELECT nextval('alert_outbox_seq')")
                con.execute(
                    "INSERT INTO alert_outbox (id, profile, run_id, run_at, created_at, kind, thread_of, "
                    "fingerprints, message, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                    [q.outbox_id, profile.name, run_id, at, now, q.kind, q.thread_of, q.fingerprints,
                     json.dumps(q.message, ensure_ascii=False)])
            main = next((q for q in out.messages if q.kind == "alert"), None)
            if main is not None:
                for fp in opened:
                    new_rows[fp]["episode_outbox_id"] = main.outbox_id
        for row in new_rows.values():
            _upsert(con, row)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return out


def _compose(profile: Profile, entries: list[Entry], *, run_id: str, window: tuple[str, str],
             links: dict[str, str], threads: bool) -> list[Queued]:
    """One message for the run; with a bot token, resolve notices as replies under their alert."""
    main_entries: list[Entry] = []
    replies: dict[int, list[Entry]] = {}
    for e in entries:
        if e.kind == "resolved" and threads and e.parent is not None:
            replies.setdefault(e.parent, []).append(e)
        else:
            main_entries.append(e)
    out: list[Queued] = []
    if main_entries:
        msg = slack.build_message(profile=profile.name, window=window, entries=main_entries, links=links,
                                  run_id=run_id, mention=profile.alerts.slack.mention)
        out.append(Queued("alert", msg, [e.fingerprint for e in main_entries]))
    for parent, group in sorted(replies.items()):
        msg = slack.build_resolved_reply(profile=profile.name, window=window, entries=group, links=links)
        out.append(Queued("resolved", msg, [e.fingerprint for e in group], thread_of=parent))
    return out


# ---- delivery -------------------------------------------------------------------------------------------
@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)  # outbox ids delivered in this step
    failed: list[int] = field(default_factory=list)  # refused for good (message errors)
    errors: list[str] = field(default_factory=list)  # explained, for the run summary
    uncertain: list[int] = field(default_factory=list)  # found interrupted while sending
    pending: int = 0  # still undelivered after this step
    outcome: str | None = None  # the outcome that stopped the queue, if any
    ts: dict[int, str | None] = field(default_factory=dict)


def deliver(store: Store, profile: Profile, target: SlackTarget, *, run_id: str, now: datetime | None = None,
            sender: Sender | None = None) -> DeliveryReport:
    """Send what is pending in the outbox, oldest first; record every attempt and Slack's answer."""
    sender = sender or slack.send
    rep = DeliveryReport()
    with store() as con:
        ensure_tables(con)
        t = now or utcnow()
        rep.uncertain = [r[0] for r in con.execute(
            "UPDATE alert_outbox SET status = 'uncertain', last_error = 'interrupted while sending: Slack may or "
            "may not have it; not re-sent (check the channel, then llmvigil alerts --resend ID)' "
            "WHERE profile = ? AND status = 'sending' AND last_attempt_at < ? RETURNING id",
            [profile.name, t - SENDING_STALE_AFTER]).fetchall()]
        queue = con.execute("SELECT id, thread_of, message FROM alert_outbox WHERE profile = ? AND status = 'pending' "
                            "ORDER BY id", [profile.name]).fetchall()
    for outbox_id, thread_of, message in queue:
        t = now or utcnow()
        with store() as con:
            claimed = con.execute(
                "UPDATE alert_outbox SET status = 'sending', attempts = attempts + 1, last_attempt_at = ?, "
                "target = ? WHERE id = ? AND status = 'pending' RETURNING id",
                [t, target.describe(), outbox_id]).fetchall()
            parent = None
            if claimed and thread_of is not None and target.threads:
                rows = con.execute("SELECT slack_ts FROM alert_outbox WHERE id = ? AND status = 'delivered'",
                                   [thread_of]).fetchall()
                parent = rows[0][0] if rows else None
        if not claimed:
            continue  # another process took it
        d = sender(target, json.loads(message), thread_ts=parent)
        t = now or utcnow()
        with store() as con:
            if d.ok:
                con.execute("UPDATE alert_outbox SET status = 'delivered', delivered_at = ?, http_status = ?, "
                            "slack_ts = ?, thread_ts = ?, last_error = NULL WHERE id = ?",
                            [t, d.status, d.ts, parent, outbox_id])
            else:
                status = "failed" if d.outcome == "message" else "pending"
                con.execute("UPDATE alert_outbox SET status = ?, http_status = ?, last_error = ? WHERE id = ?",
                            [status, d.status, slack.explain(d, target), outbox_id])
            con.execute("INSERT INTO alert_deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [outbox_id, profile.name, run_id, t, target.describe(), d.ok, d.status, d.ts, parent,
                         d.outcome, d.detail[:500]])
        if d.ok:
            rep.delivered.append(outbox_id)
            rep.ts[outbox_id] = d.ts
            continue
        rep.errors.append(slack.explain(d, target))
        if d.outcome == "message":
            rep.failed.append(outbox_id)
            continue
        rep.outcome = d.outcome
        break  # Slack is down or the target is wrong: the rest waits, in order, for the next run
    with store() as con:
        rep.pending = scalar(con, "SELECT count(*) FROM alert_outbox WHERE profile = ? AND status = 'pending'",
                             [profile.name])
    return rep


# ---- the alert step -------------------------------------------------------------------------------------
def process(profile: Profile, *, findings: list[Finding], at: datetime, run_id: str, window: tuple[str, str],
            links: dict[str, str], run_dir: Path, store: Store, env: dict[str, str] | None = None,
            now: datetime | None = None, sender: Sender | None = None) -> AlertResult:
    """The alert step of a run: update state, queue this run's message(s), deliver the outbox."""
    target = slack.target_from_env(profile.alerts.slack, env)
    with store() as con:
        ev = evaluate(con, profile, findings, at=at, run_id=run_id, window=window, links=links, target=target,
                      now=now)
    created = len(ev.messages)
    path = run_dir / "alert.json"
    if target is None:
        if not created:
            return AlertResult(status="nothing_to_send", silenced=len(ev.silenced))
        cfg = profile.alerts.slack
        _write(path, ev, sent=False, status="not_configured")
        return AlertResult(status="not_configured", messages=0, created=created, message_path=str(path),
                           silenced=len(ev.silenced),
                           detail=f"no Slack settings in the environment ({cfg.webhook_env}, or {cfg.token_env} "
                                  f"and {cfg.channel_env}): message written, not sent")
    rep = deliver(store, profile, target, run_id=run_id, now=now, sender=sender)
    mine = {q.outbox_id for q in ev.messages}
    backlog = [i for i in rep.delivered if i not in mine]
    notes: list[str] = []
    if backlog:
        notes.append(f"delivered {len(backlog)} message(s) left over from earlier runs")
    notes += rep.errors[:1]
    if rep.pending:
        notes.append(f"{rep.pending} message(s) waiting in the outbox")
    if rep.uncertain:
        ids = ", ".join(str(i) for i in rep.uncertain)
        notes.append(f"message(s) {ids} were interrupted while sending and may or may not be in Slack: not re-sent; "
                     f"check the channel, then `llmvigil alerts --profile {profile.path or profile.name} --resend ID`")
    if rep.outcome == "target" or rep.failed:
        status = "failed"
    elif rep.pending:
        status = "queued"
    elif rep.delivered or created:
        status = "sent"
    else:
        status = "nothing_to_send"
    result = AlertResult(status=status, messages=len(rep.delivered), created=created, pending=rep.pending,
                         silenced=len(ev.silenced), detail="; ".join(notes) or None)
    if created:
        _write(path, ev, sent=all(q.outbox_id in rep.delivered for q in ev.messages), status=status,
               ts=rep.ts)
        result.message_path = str(path)
    return result


def _write(path: Path, ev: Evaluation, *, sent: bool, status: str, ts: dict[int, str | None] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ts = ts or {}
    doc = {
        "sent": sent,
        "status": status,
        "message": ev.messages[0].message if ev.messages else None,
        "messages": [{"outbox_id": q.outbox_id, "kind": q.kind, "thread_of": q.thread_of,
                      "delivered": q.outbox_id in ts, "ts": ts.get(q.outbox_id) if q.outbox_id else None,
                      "fingerprints": q.fingerprints, "message": q.message} for q in ev.messages],
    }
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


# ---- `llmvigil alerts` ----------------------------------------------------------------------------------
def resend(con: duckdb.DuckDBPyConnection, profile: Profile, outbox_id: int) -> str | None:
    """Put a failed or uncertain message back in the queue. Returns its previous status, or None."""
    ensure_tables(con)
    rows = con.execute("SELECT status FROM alert_outbox WHERE id = ? AND profile = ?", [outbox_id, profile.name]).fetchall()
    if not rows or rows[0][0] not in ("failed", "uncertain"):
        return None if not rows else rows[0][0]
    con.execute("UPDATE alert_outbox SET status = 'pending', last_error = NULL WHERE id = ?", [outbox_id])
    return rows[0][0]


def overview(con: duckdb.DuckDBPyConnection, profile: str, now: datetime | None = None,
             recent: int = RECENT_DELIVERIES) -> dict[str, Any]:
    """Open alerts, silences, the outbox (undelivered) and recent deliveries of a profile."""
    now = now or utcnow()
    have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if not set(TABLES) <= have:
        return {"profile": profile, "open": [], "silences": [], "outbox": [], "deliveries": []}
    open_ = _rows(con, "SELECT fingerprint, rule, segment, status, severity, observed, threshold, bound, notified, "
                       "episode_since, last_notified_at, last_run_at, silenced_by FROM alert_state "
                       "WHERE profile = ? AND (notified IS NOT NULL OR status IN ('firing', 'no_data')) "
                       "ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, rule, segment NULLS FIRST",
                  [profile])
    silences = _rows(con, "SELECT id, rule, segment, starts_at, ends_at, reason, created_by, ends_at > ? AS active "
                          "FROM alert_silences WHERE profile = ? AND ends_at > ? - INTERVAL 7 DAY ORDER BY ends_at DESC",
                     [now, profile, now])
    outbox = _rows(con, "SELECT id, run_id, kind, status, attempts, created_at, last_attempt_at, last_error, thread_of "
                        "FROM alert_outbox WHERE profile = ? AND status <> 'delivered' ORDER BY id", [profile])
    deliveries = _rows(con, "SELECT outbox_id, run_id, attempted_at, ok, http_status, outcome, slack_ts, thread_ts, "
                            "detail FROM alert_deliveries WHERE profile = ? ORDER BY attempted_at DESC, outbox_id DESC "
                            "LIMIT ?", [profile, recent])
    return {"profile": profile, "open": open_, "silences": silences, "outbox": outbox, "deliveries": deliveries}


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%MZ")
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[_cell(c) for c in r] for r in rows]
    widths = [min(60, max([len(h)] + [len(r[i]) for r in cells])) for i, h in enumerate(headers)]
    fmt = lambda r: "  ".join(c[:60].ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return ["  " + fmt(headers), "  " + fmt(["-" * w for w in widths])] + ["  " + fmt(r) for r in cells]


def format_overview(ov: dict[str, Any]) -> str:
    from llmvigil.slack import fmt_value

    out = [f"Alerts of profile {ov['profile']}", ""]
    out.append(f"Open alerts ({len(ov['open'])})")
    if ov["open"]:
        rows = []
        for a in ov["open"]:
            state = "SILENCED" if a["silenced_by"] else a["status"].upper()
            value = fmt_value(a["rule"], a["observed"])
            thr = f"{a['bound'] or ''} {fmt_value(a['rule'], a['threshold'])}".strip()
            rows.append([state, a["severity"], a["rule"], a["segment"] or "*", value, thr, a["episode_since"],
                         a["last_notified_at"], a["last_run_at"]])
        out += _table(["state", "severity", "rule", "segment", "observed", "threshold", "open since",
                       "last message", "last run"], rows)
    out += ["", f"Silences ({sum(bool(s['active']) for s in ov['silences'])} active)"]
    if ov["silences"]:
        out += _table(["id", "rule", "segment", "until", "state", "by", "reason"],
                      [[s["id"], s["rule"], s["segment"] or "(all)", s["ends_at"],
                        "active" if s["active"] else "expired", s["created_by"], s["reason"]] for s in ov["silences"]])
    out += ["", f"Outbox: {len(ov['outbox'])} undelivered"]
    if ov["outbox"]:
        out += _table(["id", "kind", "status", "attempts", "created", "last attempt", "error"],
                      [[m["id"], m["kind"], m["status"], m["attempts"], m["created_at"], m["last_attempt_at"],
                        m["last_error"]] for m in ov["outbox"]])
    out += ["", f"Recent deliveries ({len(ov['deliveries'])})"]
    if ov["deliveries"]:
        out += _table(["outbox", "at", "ok", "http", "outcome", "slack ts", "thread", "detail"],
                      [[d["outbox_id"], d["attempted_at"], "yes" if d["ok"] else "no", d["http_status"], d["outcome"],
                        d["slack_ts"], d["thread_ts"], d["detail"]] for d in ov["deliveries"]])
    return "\n".join(out)


def overview_json(ov: dict[str, Any]) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        return v.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(v, datetime) else v

    return {k: ([{kk: conv(vv) for kk, vv in r.items()} for r in v] if isinstance(v, list) else v)
            for k, v in ov.items()}


__all__ = ["process", "evaluate", "deliver", "transition", "fingerprint", "add_silence", "expire_silence",
           "overview", "format_overview", "overview_json", "resend", "ensure_tables"]
