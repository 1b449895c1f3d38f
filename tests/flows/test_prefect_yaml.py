"""prefect.yaml and profiles/ agree, and every entry point in prefect.yaml loads."""

from pathlib import Path

import yaml

from llmvigil.profile import load_profile

REPO = Path(__file__).resolve().parents[2]


def _deployments():
    return yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]


def test_every_entrypoint_loads_as_a_flow():
    from prefect.flows import load_flow_from_entrypoint

    for d in _deployments():
        path, _, name = d["entrypoint"].partition(":")
        flow = load_flow_from_entrypoint(str(REPO / path) + ":" + name)
        assert flow.name == "llm-monitor"
        assert set(d["parameters"]) <= set(flow.parameters.properties)


def test_one_deployment_per_profile_with_its_schedule():
    deployments = {d["name"]: d for d in _deployments()}
    profiles = {load_profile(p).name: load_profile(p) for p in sorted((REPO / "profiles").glob("*.yaml"))}
    assert set(deployments) == set(profiles)
    for name, profile in profiles.items():
        d = deployments[name]
        assert load_profile(REPO / d["parameters"]["profile"]).name == name
        assert d["schedules"][0]["cron"] == profile.schedule.cron
        assert d["schedules"][0]["timezone"] == profile.schedule.timezone
