"""Prefect flow: one monitoring cycle of one profile. Glue only: every step is a llmvigil function.

Entry point of the deployments in prefect.yaml: `flows/monitor.py:monitor`.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from llmvigil import orchestration, pipeline
from llmvigil.profile import load_profile

_task = dict(cache_policy=NO_CACHE)


@task(name="pull new interactions", retries=2, retry_delay_seconds=[5, 30], **_task)
def ingest(ctx):
    return pipeline.step_ingest(ctx)


@task(name="compute KPIs", **_task)
def compute_kpis(ctx):
    return pipeline.step_kpis(ctx)


@task(name="drift report (Evidently)", **_task)
def drift(ctx):
    return pipeline.step_drift(ctx)


@task(name="output checks (Great Expectations)", **_task)
def checks(ctx):
    return pipeline.step_checks(ctx)


@task(name="evaluate thresholds", **_task)
def evaluate(ctx, kpi_rows, drift_result, checks_result):
    return pipeline.step_findings(ctx, kpi_rows, drift_result, checks_result)


@task(name="send Slack alert", retries=2, retry_delay_seconds=[10, 60], **_task)
def alert(ctx, found):
    return pipeline.step_alert(ctx, found)


@task(name="write reports", **_task)
def write_reports(ctx, summary):
    return pipeline.step_reports(ctx, summary)


@task(name="publish summary to Prefect", **_task)
def publish(ctx, summary):
    orchestration.publish(summary, pipeline.report_links(ctx))


@flow(name="llm-monitor", log_prints=True)
def monitor(profile: str = "profiles/demo.yaml", at: datetime | None = None) -> dict:
    """Monitor one profile: pull, measure, judge, alert, report. Returns the run summary.

    `at` is the end of the window to judge (default: now). Runs of one profile never overlap.
    """
    p = load_profile(profile)
    with orchestration.profile_slot(p.name, say=print):
        ctx = pipeline.plan(p, at, progress=print)
        ingest_result = ingest(ctx)
        kpi_rows = compute_kpis(ctx)
        drift_result = drift(ctx)
        checks_result = checks(ctx)
        found = evaluate(ctx, kpi_rows, drift_result, checks_result)
        alert_result = alert(ctx, found)
        summary = pipeline.summarise(ctx, ingest_result, kpi_rows, drift_result, checks_result, found, alert_result)
        write_reports(ctx, summary)
    publish(ctx, summary)
    return summary.to_json()
