"""Alerting: turn a run's findings into (at most) one Slack message per profile per run."""

from __future__ import annotations

import json
from pathlib import Path

from llmvigil import slack
from llmvigil.profile import Profile
from llmvigil.results import AlertResult, Finding


def process(profile: Profile, *, findings: list[Finding], window: tuple[str, str],
            links: dict[str, str], run_dir: Path, env: dict[str, str] | None = None) -> AlertResult:
    firing = [f for f in findings if f.status == "firing"]
    if not firing:
        return AlertResult(status="nothing_to_send")
    message = slack.build_message(profile=profile.name, window=window, findings=findings, links=links)
    target = slack.target_from_env(profile.alerts.slack, env)
    path = run_dir / "alert.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if target is None:
        path.write_text(json.dumps({"sent": False, "message": message}, indent=2, ensure_ascii=False))
        return AlertResult(status="not_configured", messages=0, message_path=str(path),
                           detail="no Slack settings in the environment: message written, not sent")
    delivery = slack.send(target, message)
    path.write_text(json.dumps({"sent": delivery.ok, "status": delivery.status, "message": message},
                               indent=2, ensure_ascii=False))
    if delivery.ok:
        return AlertResult(status="sent", messages=1, message_path=str(path))
    return AlertResult(status="failed", messages=0, message_path=str(path),
                       detail=f"Slack did not accept the message: {delivery.status} {delivery.detail}")
