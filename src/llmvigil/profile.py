"""Monitoring profiles: one YAML file per monitored application, validated once where it enters.

Every model forbids unknown keys, so a typo in a profile is an error that names the file, the key and
what was expected instead of being silently ignored.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CANONICAL_FIELDS: tuple[str, ...] = (
    "id", "ts", "prompt", "response", "app", "model", "model_version", "prompt_template",
    "prompt_version", "session_id", "user_id", "latency_ms", "ttft_ms", "prompt_tokens",
    "completion_tokens", "cost_usd", "status", "error_type", "finish_reason", "provider_refusal",
    "attempt", "retry_of", "feedback_score", "label", "expected",
)
REQUIRED_FIELDS: tuple[str, ...] = ("ts", "prompt")

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file, the key and what was expected."""


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse '90s', '15m', '1h', '7d', '2w' (or seconds as a number) into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration such as '30m', '1h', '7d' or '2w', got {value!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


Duration = Annotated[timedelta, Field(json_schema_extra={"type": "string", "pattern": _DURATION.pattern})]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileSource(_Strict):
    kind: Literal["files"] = "files"
    path: str = Field(description="Glob of log files, relative to the profile's folder or absolute.")
    format: Literal["jsonl", "parquet", "csv"] = Field("jsonl", description="File format.")
    mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Canonical field -> source field (dotted paths reach into nested JSON objects).",
    )

    @field_validator("mapping")
    @classmethod
    def _known_fields(cls, mapping: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(mapping) - set(CANONICAL_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown canonical field(s) {unknown}; expected some of: {', '.join(CANONICAL_FIELDS)}"
            )
        return mapping


def _canonical_keys(mapping: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(mapping) - set(CANONICAL_FIELDS))
    if unknown:
        raise ValueError(f"unknown canonical field(s) {unknown}; expected some of: {', '.join(CANONICAL_FIELDS)}")
    return mapping


_PG_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PostgresSource(_Strict):
    """A PostgreSQL table or query, pulled by a timestamp column (id breaks ties) since the last watermark."""

    kind: Literal["postgres"] = "postgres"
    dsn_env: str = Field(
        "LLMVIGIL_PG_DSN",
        description="Name of the environment variable holding the libpq connection string or URL. "
        "Credentials never go into a profile.",
    )
    preset: Literal["litellm"] | None = Field(
        None, description="Ready mapping shipped with llmvigil: 'litellm' reads LiteLLM's LiteLLM_SpendLogs table."
    )
    table: str | None = Field(None, description="Table to pull: 'name' or 'schema.name' (case kept; quoted for you).")
    query: str | None = Field(None, description="A SELECT to pull from instead of a table (used as a subquery).")
    ts_column: str | None = Field(
        None, description="Timestamp column the pull advances on (timestamp or timestamptz; naive values are UTC)."
    )
    id_column: str | None = Field(None, description="Unique id column: breaks ties between equal timestamps.")
    mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Canonical field -> column (dotted paths reach into json/jsonb columns).",
    )
    derive: dict[str, str] = Field(
        default_factory=dict,
        description="Canonical field -> DuckDB SQL expression over the pulled columns (overrides mapping).",
    )
    batch_rows: int = Field(
        100_000, ge=1, description="Rows per transaction; each batch is stored with the watermark it advances."
    )
    lookback: Duration = Field(
        timedelta(minutes=15),
        description="Each pull re-reads rows this far behind the watermark (deduplicated by id), so that "
        "rows committed later than their timestamp are not lost.",
    )

    @field_validator("mapping", "derive")
    @classmethod
    def _known_fields(cls, mapping: dict[str, str]) -> dict[str, str]:
        return _canonical_keys(mapping)

    @field_validator("lookback", mode="before")
    @classmethod
    def _dur(cls, v: Any) -> timedelta:
        return parse_duration(v)

    @field_validator("dsn_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not _ENV_NAME.match(v):
            raise ValueError("expected the NAME of an environment variable (e.g. LLMVIGIL_PG_DSN), not a "
                             "connection string: credentials never go into a profile")
        return v

    @field_validator("table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        if v is not None and not all(_PG_IDENT.match(part) for part in v.split(".", 1)):
            raise ValueError("expected 'table' or 'schema.table' (letters, digits, '_' and '$')")
        return v

    @field_validator("ts_column", "id_column")
    @classmethod
    def _column(cls, v: str | None) -> str | None:
        if v is not None and not _PG_IDENT.match(v):
            raise ValueError("expected a column name (letters, digits, '_' and '$')")
        return v

    @model_validator(mode="after")
    def _what_to_read(self) -> "PostgresSource":
        if self.table and self.query:
            raise ValueError("give either 'table' or 'query', not both")
        if self.preset is None:
            missing = [k for k in ("ts_column", "id_column") if getattr(self, k) is None]
            if not (self.table or self.query):
                missing.insert(0, "table (or query)")
            if missing:
                raise ValueError(f"a postgres source without a preset needs: {', '.join(missing)}")
        return self


class OtelSource(_Strict):
    """OpenTelemetry GenAI spans in OTLP JSON files (the collector's file exporter)."""

    kind: Literal["otel"] = "otel"
    path: str = Field(
        description="Glob of OTLP JSON files (one {\"resourceSpans\": [...]} per line), relative to the "
        "profile's folder or absolute."
    )


class ProviderLogSource(_Strict):
    """JSONL of OpenAI chat-completion / Anthropic messages request-response pairs."""

    kind: Literal["provider_logs"] = "provider_logs"
    path: str = Field(
        description="Glob of JSONL files, one call a line: {\"ts\", \"request\", \"response\", \"latency_ms\", ...} "
        "(see llmvigil.source_provider), relative to the profile's folder or absolute."
    )


Source = Annotated[
    Union[FileSource, PostgresSource, OtelSource, ProviderLogSource], Field(discriminator="kind")
]
SOURCE_KINDS = ("files", "postgres", "otel", "provider_logs")


class Schedule(_Strict):
    cron: str = Field("0 * * * *", description="Cron expression for the Prefect deployment.")
    timezone: str = Field("UTC", description="Time zone of the cron expression.")


class FixedWindow(_Strict):
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> "FixedWindow":
        if self.end <= self.start:
            raise ValueError("reference window end must be after its start")
        return self


class PreviousWindow(_Strict):
    previous: Duration = Field(
        description="Length of the window just before the current one. A whole number of days with a "
        "current window shorter than a day ends at 00:00 UTC of the current window's day, so that every "
        "run of a day shares one (cached) reference."
    )

    @field_validator("previous", mode="before")
    @classmethod
    def _dur(cls, v: Any) -> timedelta:
        return parse_duration(v)


class Windows(_Strict):
    current: Duration = Field(timedelta(hours=1), description="Length of the window each run judges.")
    reference: Union[PreviousWindow, FixedWindow] = Field(
        default_factory=lambda: PreviousWindow(previous=timedelta(days=7)),
        description="{previous: 7d} or a fixed baseline {start: ..., end: ...}.",
    )

    @field_validator("current", mode="before")
    @classmethod
    def _dur(cls, v: Any) -> timedelta:
        return parse_duration(v)


class Drift(_Strict):
    columns: list[str] = Field(
        default_factory=lambda: ["response_chars", "latency_ms", "refusal", "model"],
        description="Feature columns compared between reference and current window.",
    )
    method: Literal["auto", "psi", "wasserstein", "ks", "chisquare", "jensenshannon"] = "auto"
    threshold: float | None = Field(None, description="Per-column drift threshold for the method.")
    sample_size: int = Field(
        50_000, ge=1000, description="Rows per window fed to Evidently (seeded sample above this)."
    )


class Retries(_Strict):
    gap: Duration = Field(timedelta(minutes=5), description="A repeat of a prompt within this gap is a retry.")
    similarity: float = Field(
        0.9, ge=0, le=1,
        description="Prompts at least this similar (Jaro-Winkler on normalised text) count as the same prompt.",
    )
    storm_bucket: Duration = Field(timedelta(minutes=5), description="Bucket for the retry-storm peak KPI.")

    @field_validator("gap", "storm_bucket", mode="before")
    @classmethod
    def _dur(cls, v: Any) -> timedelta:
        return parse_duration(v)


class Threshold(_Strict):
    max: float | None = None
    min: float | None = None
    severity: Literal["critical", "warning", "info"] = "warning"
    per_segment: bool = Field(True, description="Also judge each segment (e.g. each model), not only the whole window.")

    @model_validator(mode="after")
    def _bound(self) -> "Threshold":
        if self.max is None and self.min is None:
            raise ValueError("a threshold needs 'max' or 'min'")
        return self


class SlackSettings(_Strict):
    webhook_env: str = Field("SLACK_WEBHOOK_URL", description="Env var holding an incoming-webhook URL.")
    token_env: str = Field("SLACK_BOT_TOKEN", description="Env var holding a bot token (chat.postMessage).")
    channel_env: str = Field("SLACK_CHANNEL", description="Env var holding the channel for the bot token.")
    base_url_env: str = Field("SLACK_API_BASE_URL", description="Env var overriding Slack's API base URL.")
    mention: str | None = Field(None, description="Mention added to critical alerts, e.g. '<!subteam^S123>'.")

    @field_validator("mention")
    @classmethod
    def _mention(cls, v: str | None) -> str | None:
        # Slack only notifies for its own syntax; plain '@oncall' would be silent text.
        if v is not None and not re.fullmatch(r"(<(!subteam\^[A-Z0-9]+|!here|!channel|@[UW][A-Z0-9]+)>\s*)+", v.strip() + " "):
            raise ValueError("expected Slack mention syntax: '<!subteam^S0123>' (a user group), '<@U0123>', "
                             "'<!here>' or '<!channel>' (several separated by spaces)")
        return v.strip() if v else v


class Alerts(_Strict):
    slack: SlackSettings = Field(default_factory=SlackSettings)
    min_samples: int = Field(200, ge=0, description="Fewer rows in the current window is NO_DATA, not OK.")
    repeat_every: Duration = Field(timedelta(hours=6), description="A firing alert repeats after this.")
    send_resolved: bool = True
    no_data: Literal["quiet", "alert"] = Field("quiet", description="Whether NO_DATA sends a message.")

    @field_validator("repeat_every", mode="before")
    @classmethod
    def _dur(cls, v: Any) -> timedelta:
        return parse_duration(v)


class Reports(_Strict):
    dir: str = Field("reports", description="Reports folder, relative to the project root or absolute.")
    base_url: str | None = Field(None, description="URL where the reports folder is served, for links.")
    keep_runs: Duration = Field(timedelta(days=30), description="Per-run HTML pages older than this are pruned.")

    @field_validator("keep_runs", mode="before")
    @classmethod
    def _dur(cls, v: Any) -> timedelta:
        return parse_duration(v)


class Profile(_Strict):
    name: str = Field(description="Name of the monitored application; also the deployment's name.")
    description: str = ""
    source: Source
    store: str = Field(description="DuckDB file of this profile (relative to the project root).")
    schedule: Schedule = Field(default_factory=Schedule)
    windows: Windows = Field(default_factory=Windows)
    segments: list[str] = Field(default_factory=lambda: ["model"], description="Columns KPIs are split by.")
    drift: Drift = Field(default_factory=Drift)
    retries: Retries = Field(default_factory=Retries)
    checks: str | None = Field(None, description="Great Expectations suite (JSON) in checks/.")
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    alerts: Alerts = Field(default_factory=Alerts)
    reports: Reports = Field(default_factory=Reports)
    memory_limit: str = Field("2GB", description="DuckDB memory limit for a run.")

    # Where the profile was loaded from; relative paths resolve against `root`.
    path: Path | None = Field(None, exclude=True)
    root: Path = Field(default_factory=Path.cwd, exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("expected lowercase letters, digits, '-' or '_' (at most 63 characters)")
        return v

    @field_validator("segments")
    @classmethod
    def _segments(cls, v: list[str]) -> list[str]:
        from llmvigil.kpis import SEGMENT_COLUMNS

        bad = [s for s in v if s not in SEGMENT_COLUMNS]
        if bad:
            raise ValueError(f"unknown segment column(s) {bad}; expected some of: {', '.join(SEGMENT_COLUMNS)}")
        return v

    @field_validator("thresholds")
    @classmethod
    def _rules(cls, v: dict[str, Threshold]) -> dict[str, Threshold]:
        from llmvigil.kpis import RULES

        bad = [r for r in v if r not in RULES]
        if bad:
            raise ValueError(f"unknown rule(s) {bad}; expected some of: {', '.join(sorted(RULES))}")
        return v

    # ---- resolved paths -------------------------------------------------------------------------
    def resolve(self, p: str) -> Path:
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else (self.root / q)

    @property
    def store_path(self) -> Path:
        return self.resolve(self.store)

    @property
    def reports_dir(self) -> Path:
        return self.resolve(self.reports.dir)

    @property
    def checks_path(self) -> Path | None:
        return self.resolve(self.checks) if self.checks else None

    def source_glob(self) -> str:
        """The source glob, resolved against the profile's own folder."""
        p = Path(os.path.expanduser(self.source.path))
        if p.is_absolute():
            return str(p)
        base = self.path.parent if self.path else self.root
        return str(base / p)


def _find_root(profile_file: Path) -> Path:
    """The project root: the nearest parent holding pyproject.toml or prefect.yaml, else the file's folder."""
    for parent in [profile_file.parent, *profile_file.parents]:
        if (parent / "prefect.yaml").exists() or (parent / "pyproject.toml").exists():
            return parent
    return profile_file.parent


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid profile ({err.error_count()} problem(s))"]
    for e in err.errors():
        loc = list(e["loc"])
        if len(loc) > 1 and loc[0] == "source" and loc[1] in SOURCE_KINDS:
            del loc[1]  # the discriminator pydantic puts in the path is not a key of the file
        key = ".".join(str(p) for p in loc) or "<top level>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see `llmvigil schema` for the allowed keys)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"  - {key}: {msg}")
    return "\n".join(lines)


def load_profile(path: str | Path) -> Profile:
    """Load and validate a profile YAML file. Raises ProfileError naming the file, the key and the problem."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise ProfileError(f"{p}: profile file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ProfileError(f"{p}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{p}: expected a mapping of keys (name, source, store, ...) at the top level")
    p = p.resolve()
    try:
        return Profile.model_validate({**data, "path": p, "root": _find_root(p)})
    except ValidationError as e:
        raise ProfileError(_format_errors(p, e)) from None


def profile_json_schema() -> dict[str, Any]:
    schema = Profile.model_json_schema()
    for hidden in ("path", "root"):
        schema.get("properties", {}).pop(hidden, None)
    return schema
