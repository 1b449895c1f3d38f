"""PII in responses (v0: e-mail addresses and long digit runs only).

Interface used by the feature step and by reports/alerts (keep it when replacing the detector):
  register(con)  -> defines macros/UDFs on a DuckDB connection
  select_sql(response) -> SQL fragment producing `pii_count` (INTEGER) and `pii_types` (VARCHAR[])
  mask(text) -> the text with every detected PII value replaced by a placeholder such as [EMAIL]
"""

from __future__ import annotations

import re

_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
_PATTERNS = {"email": _EMAIL}
_COMPILED = {k: re.compile(v) for k, v in _PATTERNS.items()}


def register(con) -> None:  # noqa: ARG001
    return None


def select_sql(response: str = "response") -> str:
    email = f"len(regexp_extract_all(coalesce({response}, ''), '{_EMAIL}'))"
    return (f"{email}::INTEGER AS pii_count, "
            f"CASE WHEN {email} > 0 THEN ['email'] ELSE []::VARCHAR[] END AS pii_types")


def mask(text: str | None) -> str | None:
    if text is None:
        return None
    for kind, rx in _COMPILED.items():
        text = rx.sub(f"[{kind.upper()}]", text)
    return text
