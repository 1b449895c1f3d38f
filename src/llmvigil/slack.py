"""Slack messages (Block Kit) and their delivery with slack_sdk.

Messages carry numbers, thresholds, rule names, segment labels and links only: never prompt or
response text, never PII. Segment values come from the logs (a model name is whatever the application
logged), so they are treated as untrusted: control characters removed, length capped, and Slack's
mrkdwn control characters `&`, `<`, `>` escaped, so a value cannot ping `<!channel>` or forge a link.

Block Kit limits are enforced here, because Slack's SDK does not check raw dicts: at most 50 blocks, a
section's text at most 3,000 characters, a header at most 150; what does not fit is summarised
("… and 183 more findings").
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from llmvigil.kpis import RATE_KPIS
from llmvigil.profile import SlackSettings
from llmvigil.results import SEVERITY_ORDER, Finding

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_TEXT_CHARS = 3000  # the notification fallback `text` (Slack allows more; keep it short)
MAX_DETAIL_LINES = 25  # finding lines shown in one message; the rest are counted
MAX_SEGMENT_CHARS = 80

_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
_CTRL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

EntryKind = Literal["firing", "repeat", "no_data", "resolved"]
_KIND_ORDER = {"firing": 0, "repeat": 1, "no_data": 2, "resolved": 3}


# ---- formatting -------------------------------------------------------------------------------------
def escape(value: Any, limit: int = MAX_SEGMENT_CHARS) -> str:
    """Untrusted text made safe for mrkdwn: no control chars or backticks, capped, `& < >` escaped."""
    s = _CTRL.sub(" ", str(value)).replace("`", "'")
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fmt_value(rule: str, v: float | None) -> str:
    if v is None:
        return "n/a"
    if rule in RATE_KPIS or rule == "drift_share":
        return f"{100 * v:.1f}%"
    if rule.endswith("_ms"):
        return f"{v:,.0f} ms"
    if rule.endswith("_usd"):
        return f"${v:,.4f}"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.3f}"


def fmt_change(rule: str, observed: float | None, reference: float | None) -> str | None:
    """Change from the reference window: percentage points for rates, relative change otherwise."""
    if observed is None or reference is None:
        return None
    if rule in RATE_KPIS or rule == "drift_share":
        return f"{100 * (observed - reference):+.1f} pp"
    if reference == 0:
        return None if observed == 0 else "new"
    return f"{100 * (observed - reference) / abs(reference):+.0f}%"


def _since(ts: datetime | None) -> str:
    return "" if ts is None else ts.strftime("%Y-%m-%d %H:%MZ")


@dataclass
class Entry:
    """One line of a message: a finding and what it means for the people in the channel."""

    kind: EntryKind
    finding: Finding
    since: datetime | None = None  # when the episode began (run time)
    fingerprint: str = ""
    parent: int | None = None  # resolved: outbox id of the message that announced the alert


def entry_line(e: Entry) -> str:
    f = e.finding
    rule = f"*{escape(f.rule, 60)}*"
    seg = f" · `{escape(f.segment)}`" if f.segment else ""
    threshold = (f"{'max' if f.bound == 'max' else 'min'} {fmt_value(f.rule, f.threshold)}"
                 if f.threshold is not None else "")
    if e.kind == "no_data":
        why = f"{f.samples:,} samples" if f.observed is not None or f.samples else "no rows"
        return f":white_circle: {rule}{seg}: *no data* ({why} in the window; {threshold} not judged)"
    observed = fmt_value(f.rule, f.observed)
    ref = ""
    if f.reference is not None:
        change = fmt_change(f.rule, f.observed, f.reference)
        ref = f" · reference {fmt_value(f.rule, f.reference)}" + (f" ({change})" if change else "")
    if e.kind == "resolved":
        return (f":white_check_mark: {rule}{seg}: {observed} ({threshold}){ref} · resolved"
                + (f", was firing since {_since(e.since)}" if e.since else ""))
    tail = " · *new*" if e.kind == "firing" else (f" · firing since {_since(e.since)}" if e.since else "")
    return f"{_EMOJI.get(f.severity, '')} {rule}{seg}: *{observed}* ({threshold}){ref}{tail}"


def sort_entries(entries: list[Entry]) -> list[Entry]:
    """Most severe first; resolved notices last."""
    return sorted(entries, key=lambda e: (e.kind == "resolved", SEVERITY_ORDER.get(e.finding.severity, 9),
                                          _KIND_ORDER[e.kind], e.finding.rule, e.finding.segment or ""))


# ---- Block Kit ----------------------------------------------------------------------------------------
def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_SECTION_CHARS]}}


def _context(*texts: str) -> dict[str, Any]:
    return {"type": "context",
            "elements": [{"type": "mrkdwn", "text": t[:MAX_SECTION_CHARS]} for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def _pack(lines: list[str], budget: int) -> list[str]:
    """Lines joined into at most `budget` section texts of at most MAX_SECTION_CHARS each."""
    chunks: list[str] = []
    cur = ""
    for line in lines:
        line = line[: MAX_SECTION_CHARS]
        if cur and len(cur) + 1 + len(line) > MAX_SECTION_CHARS:
            chunks.append(cur)
            cur = line
        else:
            cur = f"{cur}\n{line}" if cur else line
    if cur:
        chunks.append(cur)
    return chunks[:budget]


def _links_text(links: dict[str, str]) -> str:
    parts = []
    for name, url in links.items():
        safe_url = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
        parts.append(f"<{safe_url}|{escape(name, 40)}>")
    return "Reports: " + " · ".join(parts) if parts else ""


def _counts(entries: list[Entry]) -> str:
    by_sev: dict[str, int] = {}
    for e in entries:
        by_sev[e.finding.severity] = by_sev.get(e.finding.severity, 0) + 1
    return ", ".join(f"{n} {sev}" for sev, n in sorted(by_sev.items(), key=lambda kv: SEVERITY_ORDER.get(kv[0], 9)))


def title_for(profile: str, entries: list[Entry]) -> str:
    firing = [e for e in entries if e.kind in ("firing", "repeat")]
    new = sum(e.kind == "firing" for e in entries)
    no_data = sum(e.kind == "no_data" for e in entries)
    resolved = sum(e.kind == "resolved" for e in entries)
    parts = []
    if firing:
        parts.append(f"{len(firing)} alert{'s' if len(firing) != 1 else ''} firing" + (f" ({new} new)" if new and new != len(firing) else ""))
    if no_data:
        parts.append(f"{no_data} without data")
    if resolved:
        parts.append(f"{resolved} resolved")
    icon = ":rotating_light:" if any(e.finding.severity == "critical" for e in firing) else (
        ":warning:" if firing or no_data else ":white_check_mark:")
    return f"{icon} llmvigil · {profile}: " + ", ".join(parts or ["nothing to report"])


def build_message(*, profile: str, window: tuple[str, str], entries: list[Entry], links: dict[str, str],
                  run_id: str | None = None, mention: str | None = None,
                  max_lines: int = MAX_DETAIL_LINES) -> dict[str, Any]:
    """The one message of a run: header, window, (mention), findings most severe first, links."""
    entries = sort_entries(entries)
    title = title_for(profile, entries)
    head = [
        {"type": "header", "text": {"type": "plain_text", "text": _cap(title, MAX_HEADER_CHARS), "emoji": True}},
        _context(f"Profile *{escape(profile, 63)}* · window {escape(window[0], 25)} → {escape(window[1], 25)}"
                 + (f" · run `{escape(run_id, 40)}`" if run_id else "")),
    ]
    critical = [e for e in entries if e.kind in ("firing", "repeat") and e.finding.severity == "critical"]
    if mention and critical:
        head.append(_section(f"{mention} {len(critical)} critical finding{'s' if len(critical) != 1 else ''}"))
    tail: list[dict[str, Any]] = []
    links_text = _links_text(links)
    if links_text:
        tail.append(_context(links_text))
    budget = MAX_BLOCKS - len(head) - len(tail) - 1  # one block kept for the "and N more" line
    sections = _pack([entry_line(e) for e in entries[:max_lines]], budget)
    rest = entries[_lines_in(sections):]
    body = [_section(s) for s in sections]
    if rest:
        body.append(_section(f"_… and {len(rest)} more finding{'s' if len(rest) != 1 else ''} "
                             f"({_counts(rest)}): see the run's summary_"))
    blocks = head + body + tail
    return {"text": _cap(_plain(title) + _fallback_counts(entries), MAX_TEXT_CHARS), "blocks": blocks,
            "unfurl_links": False, "unfurl_media": False}


def build_resolved_reply(*, profile: str, window: tuple[str, str], entries: list[Entry],
                         links: dict[str, str], max_lines: int = MAX_DETAIL_LINES) -> dict[str, Any]:
    """A resolve notice, posted as a thread reply under the message that announced the alerts."""
    entries = sort_entries(entries)
    n = len(entries)
    title = f"llmvigil · {profile}: {n} alert{'s' if n != 1 else ''} resolved"
    lines = [entry_line(e) for e in entries[:max_lines]]
    sections = _pack(lines, MAX_BLOCKS - 3)
    rest = n - _lines_in(sections)
    blocks = [_section(f":white_check_mark: *Resolved* · window {escape(window[0], 25)} → {escape(window[1], 25)}")]
    blocks += [_section(s) for s in sections]
    if rest > 0:
        blocks.append(_section(f"_… and {rest} more resolved_"))
    if links:
        blocks.append(_context(_links_text(links)))
    return {"text": title, "blocks": blocks[:MAX_BLOCKS], "unfurl_links": False, "unfurl_media": False}


def _lines_in(sections: list[str]) -> int:
    return sum(s.count("\n") + 1 for s in sections)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(title: str) -> str:
    return re.sub(r"^:[a-z_]+: ", "", title)


def _fallback_counts(entries: list[Entry]) -> str:
    crit = sum(e.kind in ("firing", "repeat") and e.finding.severity == "critical" for e in entries)
    return f" ({crit} critical)" if crit else ""


def limit_problems(message: dict[str, Any]) -> list[str]:
    """What in a message breaks Block Kit's limits (empty when it is valid)."""
    problems = []
    blocks = message.get("blocks") or []
    if not message.get("text"):
        problems.append("no fallback text")
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks > {MAX_BLOCKS}")
    for i, b in enumerate(blocks):
        t = b.get("type")
        if t == "header":
            txt = b["text"]
            if txt.get("type") != "plain_text" or not 1 <= len(txt.get("text", "")) <= MAX_HEADER_CHARS:
                problems.append(f"block {i}: header text must be plain_text of 1..{MAX_HEADER_CHARS} characters")
        elif t == "section":
            txt = b.get("text", {}).get("text", "")
            if not 1 <= len(txt) <= MAX_SECTION_CHARS:
                problems.append(f"block {i}: section text has {len(txt)} characters (1..{MAX_SECTION_CHARS})")
        elif t == "context":
            els = b.get("elements", [])
            if not 1 <= len(els) <= MAX_CONTEXT_ELEMENTS:
                problems.append(f"block {i}: context has {len(els)} elements (1..{MAX_CONTEXT_ELEMENTS})")
            for e in els:
                if not 1 <= len(e.get("text", "")) <= MAX_SECTION_CHARS:
                    problems.append(f"block {i}: context text too long or empty")
        else:
            problems.append(f"block {i}: unexpected block type {t!r}")
    return problems


# ---- delivery -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SlackTarget:
    kind: str  # "webhook" | "bot"
    url: str | None = None
    token: str | None = None
    channel: str | None = None
    base_url: str | None = None
    settings: SlackSettings = field(default_factory=SlackSettings)

    @property
    def threads(self) -> bool:
        """Only a bot token can reply in a thread (webhooks cannot learn a message's ts)."""
        return self.kind == "bot"

    def describe(self) -> str:
        if self.kind == "bot":
            return f"bot token ({self.settings.token_env}) to channel {self.channel}"
        return f"incoming webhook ({self.settings.webhook_env})"

    def __repr__(self) -> str:  # never print secrets
        return f"SlackTarget(kind={self.kind!r}, channel={self.channel!r})"


def target_from_env(cfg: SlackSettings, env: dict[str, str] | None = None) -> SlackTarget | None:
    env = dict(os.environ) if env is None else env
    base = env.get(cfg.base_url_env) or None
    if env.get(cfg.token_env) and env.get(cfg.channel_env):
        return SlackTarget("bot", token=env[cfg.token_env], channel=env[cfg.channel_env], base_url=base,
                           settings=cfg)
    if env.get(cfg.webhook_env):
        return SlackTarget("webhook", url=env[cfg.webhook_env], base_url=base, settings=cfg)
    return None


# What to do after an attempt: delivered; retry on a later run (Slack down, rate limited); the target is
# misconfigured (keep the message, stop this run, say how to fix it); this message itself is refused.
Outcome = Literal["delivered", "retry", "target", "message"]

_TARGET_ERRORS = {
    "channel_not_found", "not_in_channel", "is_archived", "channel_is_archived", "invalid_auth",
    "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission", "missing_scope",
    "restricted_action", "team_access_not_granted", "ekm_access_denied", "org_login_required",
    "action_prohibited", "no_service", "no_team", "team_disabled", "invalid_token", "posting_to_general_channel_denied",
}
_MESSAGE_ERRORS = {
    "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "too_many_attachments",
    "invalid_payload", "invalid_arguments", "invalid_attachments", "duplicate_message_not_found",
    "metadata_too_large", "invalid_metadata_format", "invalid_metadata_schema", "markdown_text_conflict",
}


@dataclass
class Delivery:
    ok: bool
    status: int | None  # HTTP status (None: no answer)
    detail: str  # Slack's error code or the exception; "ok" on success
    ts: str | None = None  # Slack message ts (bot token only), for threading
    outcome: Outcome = "delivered"


def classify(status: int | None, error: str) -> Outcome:
    if status is None or status == 429 or status >= 500:
        return "retry"
    if error in _TARGET_ERRORS or status in (401, 403, 404, 410):
        return "target"
    if error in _MESSAGE_ERRORS or status == 400:
        return "message"
    return "target"  # unknown refusal: keep the message and say so, rather than drop it


def explain(d: Delivery, target: SlackTarget) -> str:
    """A sentence that says what went wrong and what to do."""
    cfg = target.settings
    code = d.detail
    if d.outcome == "retry":
        if d.status == 429:
            return f"Slack rate-limited the message (HTTP 429) beyond the retries: kept in the outbox for the next run"
        if d.status is None:
            return f"Slack could not be reached ({code}): kept in the outbox for the next run"
        return f"Slack answered HTTP {d.status} ({code}) after retries: kept in the outbox for the next run"
    if target.kind == "bot":
        if code in ("channel_not_found", "not_in_channel"):
            return (f"Slack answered {code} for channel {escape(target.channel or '', 80)!r}: set "
                    f"{cfg.channel_env} to a channel ID (C…) the bot is a member of (/invite the bot); "
                    "the message is kept in the outbox and sent on the next run")
        if code in ("invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"):
            return (f"Slack answered {code}: the bot token in {cfg.token_env} is not valid; the message is "
                    "kept in the outbox and sent on the next run")
        if code == "missing_scope":
            return "Slack answered missing_scope: the bot token needs the chat:write scope; message kept in the outbox"
    elif d.outcome == "target":
        return (f"Slack refused the webhook (HTTP {d.status} {code}): the URL in {cfg.webhook_env} was revoked "
                "or its channel removed; the message is kept in the outbox and sent on the next run")
    if d.outcome == "message":
        return f"Slack refused this message ({d.status} {code}); it is kept in the outbox as failed"
    return f"Slack refused the message ({d.status} {code}); it is kept in the outbox and sent on the next run"


# Retries inside one attempt. Beyond them the message waits in the outbox for the next run.
RATE_LIMIT_RETRIES = 3
SERVER_ERROR_RETRIES = 2
CONNECTION_RETRIES = 2
MAX_RETRY_AFTER_S = 30  # a longer Retry-After is not slept through: the next run tries again


def _retry_handlers() -> list:
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )

    class BoundedRateLimitHandler(RateLimitErrorRetryHandler):
        """Honours Retry-After, but does not sleep for minutes inside a run."""

        def _can_retry(self, *, state, request, response=None, error=None) -> bool:
            if response is None or response.status_code != 429:
                return False
            value = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
            if isinstance(value, list):
                value = value[0] if value else None
            if value is None:
                return True
            try:
                return int(str(value).strip()) <= MAX_RETRY_AFTER_S
            except ValueError:  # an HTTP date: too unusual to wait for here
                return False

    class AllServerErrorsHandler(ServerErrorRetryHandler):
        def _can_retry(self, *, state, request, response=None, error=None) -> bool:
            return response is not None and response.status_code in (500, 502, 503, 504)

    return [BoundedRateLimitHandler(max_retry_count=RATE_LIMIT_RETRIES),
            AllServerErrorsHandler(max_retry_count=SERVER_ERROR_RETRIES),
            ConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES)]


def send(target: SlackTarget, message: dict[str, Any], *, thread_ts: str | None = None,
         timeout: int = 10) -> Delivery:
    """One delivery attempt (with the retry handlers). Never raises for Slack's or the network's errors."""
    if target.kind == "webhook":
        from slack_sdk.webhook import WebhookClient

        client = WebhookClient(target.url, timeout=timeout, retry_handlers=_retry_handlers())
        try:
            resp = client.send_dict({k: v for k, v in message.items() if k in ("text", "blocks", "unfurl_links",
                                                                              "unfurl_media")})
        except Exception as e:  # connection refused / reset after the retries
            return Delivery(False, None, f"{type(e).__name__}: {_short(e, target)}", outcome="retry")
        body = (resp.body or "").strip()[:200]
        if resp.status_code == 200:
            return Delivery(True, 200, body or "ok")
        return Delivery(False, resp.status_code, body, outcome=classify(resp.status_code, body))
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    kwargs = {"base_url": target.base_url.rstrip("/") + "/"} if target.base_url else {}
    client = WebClient(token=target.token, timeout=timeout, retry_handlers=_retry_handlers(), **kwargs)
    try:
        resp = client.chat_postMessage(channel=target.channel, text=message["text"], blocks=message.get("blocks"),
                                       thread_ts=thread_ts, unfurl_links=False, unfurl_media=False)
    except SlackApiError as e:
        status = e.response.status_code
        error = str(e.response.get("error") or "") if isinstance(e.response.data, dict) else ""
        error = error or f"HTTP {status}"
        return Delivery(False, status, error, outcome=classify(status, error))
    except Exception as e:
        return Delivery(False, None, f"{type(e).__name__}: {_short(e, target)}", outcome="retry")
    return Delivery(True, resp.status_code, "ok", ts=resp.get("ts"))


def _short(e: Exception, target: SlackTarget) -> str:
    """The first line of an error, with the webhook URL and the token (secrets) blanked out."""
    text = str(e).splitlines()[0] if str(e) else ""
    for secret in (target.url, target.token):
        if secret:
            text = text.replace(secret, "***")
    return text[:200]


__all__ = ["Entry", "SlackTarget", "Delivery", "build_message", "build_resolved_reply", "send", "escape",
           "fmt_value", "fmt_change", "limit_problems", "target_from_env", "explain"]
