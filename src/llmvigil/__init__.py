"""llmvigil: monitoring for LLM applications in production."""

import os as _os

__version__ = "0.1.0"

# Nothing phones home: every dependency that has usage telemetry is told not to send it, before any of
# them is imported. setdefault keeps a user's explicit choice.
for _key, _value in {
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
}.items():
    _os.environ.setdefault(_key, _value)
