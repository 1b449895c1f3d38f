"""Slack messages (Block Kit) and their delivery with slack_sdk.

Messages carry numbers, thresholds and links only: never prompt or response text, never PII.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from llmvigil.kpis import RATE_KPIS
from llmvigil.profile import SlackSettings
from llmvigil.results import Finding

_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}


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


def _finding_line(f: Finding) -> str:
    cmp = ">" if f.bound == "max" else "<"
    seg = f" · `{f.segment}`" if f.segment else ""
    ref = f" (reference {fmt_value(f.rule, f.reference)})" if f.reference is not None else ""
    return (f"{_EMOJI.get(f.severity, '')} *{f.rule}*{seg}: {fmt_value(f.rule, f.observed)} "
            f"{cmp} {fmt_value(f.rule, f.threshold)}{ref}")


def build_message(*, profile: str, window: tuple[str, str], findings: list[Finding],
                  links: dict[str, str], title: str | None = None) -> dict[str, Any]:
    firing = [f for f in findings if f.status == "firing"]
    title = title or f"llmvigil · {profile}: {len(firing)} threshold(s) failing"
    lines = [_finding_line(f) for f in firing]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Window {window[0]} → {window[1]}"}]},
    ]
    text = "\n".join(lines)[:2900]
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if links:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": " · ".join(f"<{url}|{name}>" for name, url in links.items())[:2900]}
        ]})
    return {"text": title, "blocks": blocks}


@dataclass(frozen=True)
class SlackTarget:
    kind: str  # "webhook" | "bot"
    url: str | None = None
    token: str | None = None
    channel: str | None = None
    base_url: str | None = None

    def __repr__(self) -> str:  # never print secrets
        return f"SlackTarget(kind={self.kind!r}, channel={self.channel!r})"


def target_from_env(cfg: SlackSettings, env: dict[str, str] | None = None) -> SlackTarget | None:
    env = dict(os.environ) if env is None else env
    base = env.get(cfg.base_url_env) or None
    if env.get(cfg.token_env) and env.get(cfg.channel_env):
        return SlackTarget("bot", token=env[cfg.token_env], channel=env[cfg.channel_env], base_url=base)
    if env.get(cfg.webhook_env):
        return SlackTarget("webhook", url=env[cfg.webhook_env], base_url=base)
    return None


@dataclass
class Delivery:
    ok: bool
    status: int | None
    detail: str
    ts: str | None = None  # Slack message ts (bot token only), for threading


def _retry_handlers() -> list:
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )

    return [RateLimitErrorRetryHandler(max_retry_count=2), ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2)]


def send(target: SlackTarget, message: dict[str, Any], *, thread_ts: str | None = None,
         timeout: int = 10) -> Delivery:
    if target.kind == "webhook":
        from slack_sdk.webhook import WebhookClient

        client = WebhookClient(target.url, timeout=timeout, retry_handlers=_retry_handlers())
        try:
            resp = client.send_dict(message)
        except Exception as e:  # connection refused after the retries
            return Delivery(False, None, f"{type(e).__name__}: {e}")
        return Delivery(resp.status_code == 200, resp.status_code, (resp.body or "")[:200])
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    kwargs = {"base_url": target.base_url.rstrip("/") + "/"} if target.base_url else {}
    client = WebClient(token=target.token, timeout=timeout, retry_handlers=_retry_handlers(), **kwargs)
    try:
        resp = client.chat_postMessage(channel=target.channel, text=message["text"],
                                       blocks=message.get("blocks"), thread_ts=thread_ts)
    except SlackApiError as e:
        return Delivery(False, e.response.status_code, str(e.response.get("error", e)))
    except Exception as e:
        return Delivery(False, None, f"{type(e).__name__}: {e}")
    return Delivery(True, resp.status_code, "ok", ts=resp.get("ts"))
