from datetime import timedelta
from pathlib import Path

import pytest

from llmvigil.profile import ProfileError, load_profile, parse_duration, profile_json_schema

REPO = Path(__file__).resolve().parents[2]


def test_demo_profile_loads_with_resolved_paths():
    p = load_profile(REPO / "profiles" / "demo.yaml")
    assert p.name == "demo"
    assert p.windows.current == timedelta(days=1)
    assert p.windows.reference.previous == timedelta(days=7)
    assert p.store_path == REPO / ".llmvigil" / "demo.duckdb"
    assert p.source_glob() == str(REPO / "profiles" / ".." / "data" / "demo" / "*.jsonl")
    assert p.thresholds["refusal_rate"].max == 0.05
    assert p.thresholds["refusal_rate"].severity == "critical"


@pytest.mark.parametrize("text,expected", [("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)),
                                           ("1h", timedelta(hours=1)), ("7d", timedelta(days=7)),
                                           ("2w", timedelta(weeks=2)), (30, timedelta(seconds=30))])
def test_durations(text, expected):
    assert parse_duration(text) == expected


def test_typo_names_file_key_and_expectation(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("name: x\nsource: {kind: files, path: a.jsonl, formt: jsonl}\nstore: x.duckdb\n"
                 "thresholds: {refusal_rat: {max: 1}}\nwindows: {current: 1x}\n")
    with pytest.raises(ProfileError) as e:
        load_profile(f)
    msg = str(e.value)
    assert str(f) in msg
    assert "source.formt: unknown key" in msg
    assert "windows.current" in msg and "expected a duration" in msg
    assert "unknown rule(s) ['refusal_rat']" in msg and "refusal_rate" in msg


def test_missing_keys_and_bad_yaml(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("name: x\n")
    msg = str(pytest.raises(ProfileError, load_profile, f).value)
    assert "source: required key is missing" in msg and "store: required key is missing" in msg
    f.write_text("name: [unclosed\n")
    assert "not valid YAML" in str(pytest.raises(ProfileError, load_profile, f).value)
    assert "not found" in str(pytest.raises(ProfileError, load_profile, tmp_path / "nope.yaml").value)


def test_threshold_needs_a_bound_and_mapping_needs_known_fields(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("name: x\nsource: {kind: files, path: a.jsonl, mapping: {promt: input}}\nstore: x.duckdb\n"
                 "thresholds: {error_rate: {severity: critical}}\n")
    msg = str(pytest.raises(ProfileError, load_profile, f).value)
    assert "source.mapping" in msg and "unknown canonical field(s) ['promt']" in msg
    assert "thresholds.error_rate" in msg and "needs 'max' or 'min'" in msg


def test_json_schema_lists_keys_and_hides_internal_fields():
    schema = profile_json_schema()
    assert {"name", "source", "store", "windows", "thresholds", "alerts"} <= set(schema["properties"])
    assert "path" not in schema["properties"] and "root" not in schema["properties"]
