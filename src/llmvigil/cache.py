"""Derived model data kept between processes (so far: the language model's arrays).

Each is computed from what ships inside installed packages (nothing is downloaded) and costs up to
about a second to rebuild: a run is a new process, and on a small hourly run that second is most
of the work. Entries are keyed by what they are derived from, written atomically (a temporary name
renamed into place), and ignored when damaged; without a writable folder they are simply rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """$LLMVIGIL_CACHE_DIR, else $XDG_CACHE_HOME/llmvigil, else ~/.cache/llmvigil."""
    if os.environ.get("LLMVIGIL_CACHE_DIR"):
        return Path(os.environ["LLMVIGIL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmvigil"


def key_of(*parts: Any) -> str:
    """A short stable hash of `parts` (JSON-encoded)."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]
