"""prefect.yaml and profiles/ agree, and every entry point in prefect.yaml loads."""

from pathlib import Path

import yaml

from llmvigil.profile import load_profile

REPO = Path(__file__).resolve().parents[2]


def _deployments():
    return yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]


FLOW_NAMES = {"flows/monitor.py:monitor": "llm-monitor", "flows/backfill.py:backfill": "llm-backfill"}


def test_every_entrypoint_loads_as_a_flow():
    from prefect.flows import load_flow_from_entrypoint

    for d in _deployments():
        path, _, name = d["entrypoint"].partition(":")
        flow = load_flow_from_entrypoint(str(REPO / path) + ":" + name)
        assert flow.name == FLOW_NAMES[d["entrypoint"]]
        assert set(d.get("parameters", {})) <= set(flow.parameters.properties)


def test_one_deployment_per_profile_with_its_schedule():
    deployments = {d["name"]: d for d in _deployments() if d["entrypoint"] == "flows/monitor.py:monitor"}
    profiles = {load_profile(p).name: load_profile(p) for p in sorted((REPO / "profiles").glob("*.yaml"))}
    assert set(deployments) == set(profiles)
    for name, profile in profiles.items():
        d = deployments[name]
        assert load_profile(REPO / d["parameters"]["profile"]).name == name
        assert d["schedules"][0]["cron"] == profile.schedule.cron
        assert d["schedules"][0]["timezone"] == profile.schedule.timezone


def test_pull_step_runs_from_the_checkout_named_by_llmvigil_home(tmp_path, monkeypatch):
    """The pull step is llmvigil's: it enters $LLMVIGIL_HOME, and says what to do when it is not set."""
    import pytest

    from llmvigil import orchestration

    (step,) = yaml.safe_load((REPO / "prefect.yaml").read_text())["pull"]
    (fqn, inputs), = step.items()
    assert fqn == "llmvigil.orchestration.enter_project"
    assert inputs == {"directory": "{{ $LLMVIGIL_HOME }}"}
    monkeypatch.chdir(tmp_path)
    assert orchestration.enter_project(str(REPO)) == {"directory": str(REPO)}
    assert Path.cwd() == REPO
    with pytest.raises(orchestration.OrchestrationError, match="LLMVIGIL_HOME is not set"):
        orchestration.enter_project(None)
    with pytest.raises(orchestration.OrchestrationError, match="no prefect.yaml"):
        orchestration.enter_project(str(tmp_path))


def test_every_monitor_deployment_has_its_own_queue_and_one_run_at_a_time():
    for d in _deployments():
        assert d["work_pool"]["name"] == "llmvigil"
        if d["entrypoint"] == "flows/monitor.py:monitor":
            assert d["work_pool"]["work_queue_name"] == d["name"]
            assert d["concurrency_limit"] == 1
