"""Derived model data kept between processes (so far: the language model's arrays).

Each is computed from what ships inside installed packages (nothing is downloaded) and costs up to
about a second to rebuild: a run is a new process, and on a small hourly run that second is most
of the work. Entries are keyed by what they are derived from, written atomically (a temporary name
renamed into place), and ignored when damaged; without a writable folder they are simply rebuilt.
An entry is touched when it is read; writing a new one removes the entries of the same kind that no
process has read for `STALE_DAYS` (another virtual environment may still use an older model).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

STALE_DAYS = 30


def cache_dir() -> Path:
    """$LLMVIGIL_CACHE_DIR, else $XDG_CACHE_HOME/llmvigil, else ~/.cache/llmvigil."""
    if os.environ.get("LLMVIGIL_CACHE_DIR"):
        return Path(os.environ["LLMVIGIL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmvigil"


def key_of(*parts: Any) -> str:
    """A short stable hash of `parts` (JSON-encoded)."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def touch(entry: Path) -> None:
    """Mark `entry` as read now (its mtime); quietly nothing on a read-only cache."""
    try:
        os.utime(entry)
    except OSError:
        pass


def prune(folder: Path, prefix: str, keep: Path) -> list[Path]:
    """Remove the entries `prefix*` of `folder` other than `keep` not read for STALE_DAYS (left-over
    temporary folders of a crashed write among them). Returns what was removed."""
    limit = time.time() - STALE_DAYS * 86400
    removed = []
    try:
        entries = list(folder.glob(f"{prefix}*"))
    except OSError:
        return removed
    for entry in entries:
        try:
            if entry != keep and entry.stat().st_mtime < limit:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                removed.append(entry)
        except OSError:  # gone already, or not ours to remove
            pass
    return removed
