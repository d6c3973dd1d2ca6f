"""The monthly Glue cost of the default schedule, and the README figure that quotes it."""

from __future__ import annotations

from dataclasses import fields

import pytest

from schemahub_lib.deploy import load_deployment, parse_deployment
from schemahub_lib.deploy.cost import (
    Assumptions,
    backfill_cost,
    monthly_cost,
    monthly_glue_cost,
    render_cost,
    render_estimate,
    runs_per_day,
    unify_runs_per_day,
)
from schemahub_lib.errors import ConfigError
from tests.deploy.conftest import deployment_data, split_layout


@pytest.mark.parametrize(
    ("schedule", "runs"),
    [
        ("cron(0/30 * * * ? *)", 48),
        ("cron(15 3 * * ? *)", 1),
        ("cron(0 */6 * * ? *)", 4),
        ("cron(0,30 8-17 * * ? *)", 20),
        ("cron(*/5 * * * ? *)", 288),
        ("cron(10-50/20 0 * * ? *)", 3),
    ],
)
def test_runs_per_day(schedule, runs):
    assert runs_per_day(schedule) == runs


@pytest.mark.parametrize("schedule", ["cron(0 3 ? * MON *)", "cron(0 3 1 * ? *)", "cron(61 * * * ? *)"])
def test_schedules_the_estimate_cannot_count(schedule):
    with pytest.raises(ConfigError, match="schedule"):
        runs_per_day(schedule)


def test_default_deployment_cost(deployment):
    rows = {r.job: r for r in monthly_glue_cost(deployment)}
    # 48 pipeline runs/day x 30 days on 2 x G.1X (2 DPU), FLEX; one run in 6 (every 180 min)
    # also unifies: 1,200 runs x 1.25 min + 240 runs x 2 min = 1,980 min = 66 DPU-h.
    pipeline = rows["schemahub-pipeline"]
    assert (pipeline.runs_per_month, pipeline.dpu_hours, pipeline.execution_class) == (1440, 66.0, "FLEX")
    assert pipeline.usd == round(66.0 * 0.29, 2)
    assert (rows["schemahub-maintenance"].runs_per_month, rows["schemahub-maintenance"].dpu_hours) == (
        30,
        8.0,
    )
    assert [r.usd for r in rows.values()] == [19.14, 2.32]
    assert "total: $21.46/month" in render_cost(list(rows.values()))


def test_unify_cadence_counts_runs_that_unify():
    data = deployment_data()
    for every, unifying in (("30", 48), ("60", 24), ("180", 8), ("1440", 1), ("45", 24)):
        data["jobs"]["pipeline"]["arguments"]["--unify-every-minutes"] = every
        assert unify_runs_per_day(parse_deployment(data)) == unifying, every
    del data["jobs"]["pipeline"]["arguments"]["--unify-every-minutes"]
    assert unify_runs_per_day(parse_deployment(data)) == 48


def test_one_minute_minimum():
    data = deployment_data()
    data["jobs"]["pipeline"]["expected_minutes"] = 0.25
    data["jobs"]["pipeline"]["expected_unify_minutes"] = 0.25
    rows = {r.job: r for r in monthly_glue_cost(parse_deployment(data))}
    assert rows["schemahub-pipeline"].billed_minutes == 1.0
    assert rows["schemahub-pipeline"].usd == pytest.approx(1440 * 2 * (1 / 60) * 0.29, abs=0.005)


def test_levers_against_the_two_job_layout():
    """What the pipeline job, FLEX and the unify cadence each save (glue_deploy/README.md)."""
    split = {r.job: r.usd for r in monthly_glue_cost(parse_deployment(split_layout(deployment_data())))}
    assert split == {"schemahub-ingest": 42.24, "schemahub-unify": 63.36, "schemahub-maintenance": 3.52}
    data = deployment_data()
    data["defaults"]["execution_class"] = "STANDARD"
    standard = {r.job: r.usd for r in monthly_glue_cost(parse_deployment(data))}
    assert standard["schemahub-pipeline"] == round(66.0 * 0.44, 2)


def test_fifty_streams_all_in_within_thirty_dollars(deployment):
    lines = monthly_cost(deployment, Assumptions(streams=50, exchanges=5))
    parts = {c.part for c in lines}
    assert parts == {"Glue", "S3", "Athena", "CloudWatch"}
    total = sum(c.usd for c in lines)
    assert total <= 30.0, render_estimate(deployment, Assumptions(streams=50, exchanges=5))
    # More streams cost more (S3 requests, Athena bytes), and fewer cost less.
    assert sum(c.usd for c in monthly_cost(deployment, Assumptions(streams=100, exchanges=5))) > total
    assert sum(c.usd for c in monthly_cost(deployment, Assumptions(streams=10, exchanges=5))) < total


def test_landing_metrics_add_one_per_exchange(deployment):
    """Only LagSeconds goes per exchange; TradesLanded and RejectedRecords are one total each
    (metrics.landing_metrics), so a sixth exchange adds one metric-month ($0.30), not three."""

    def metrics_line(exchanges: int):
        lines = monthly_cost(deployment, Assumptions(streams=50, exchanges=exchanges))
        return next(c for c in lines if (c.part, c.item) == ("CloudWatch", "custom metrics"))

    five, six = metrics_line(5), metrics_line(6)
    assert five.formula.startswith("9 every run (5 exchanges' lag + 2 totals + 2 run)")
    assert six.usd - five.usd == pytest.approx(0.30)


def test_alarms_are_priced_one_per_exchange_one_for_unify_one_for_maintenance(deployment):
    """deploy creates one LagSeconds alarm per exchange and one each on unify's and maintain's
    RunFailed (resources.alarms); each costs $0.10 a month at standard resolution, and the
    50-stream total stays within $30 with them."""
    from schemahub_lib.deploy.resources import desired_state

    alarms = desired_state(deployment, "wheel.whl").alarms
    lag = [deployment.lag_alarm(e) for e in deployment.exchanges]
    assert sorted(alarms) == sorted([*lag, deployment.unify_alarm, deployment.maintenance_alarm])
    assert len(alarms) == 7
    lines = monthly_cost(deployment, Assumptions(streams=50, exchanges=5))
    (line,) = [c for c in lines if (c.part, c.item) == ("CloudWatch", "alarms")]
    assert line.usd == pytest.approx(0.70)
    assert line.formula == (
        "7 (5 LagSeconds, one per exchange; 1 unify and 1 maintenance RunFailed; standard resolution) "
        "x $0.1/alarm-month"
    )
    assert sum(c.usd for c in lines) <= 30.0


def test_estimate_prints_every_assumption(deployment):
    text = render_estimate(deployment, Assumptions(streams=50, exchanges=5))
    for field in fields(Assumptions):
        assert field.name.replace("_", " ") + ":" in text, field.name
    assert "schemahub-pipeline: 1.25 billed min per run, +0.75 when it unifies, unifies every 180 min" in text
    assert "schemahub-maintenance: 8 billed min per run" in text
    for line in monthly_cost(deployment, Assumptions(streams=50, exchanges=5)):
        assert f"${line.usd:>7.2f}  {line.formula}" in text


def test_streams_change_the_request_and_metric_lines_only_where_they_should(deployment):
    small = {(c.part, c.item): c.usd for c in monthly_cost(deployment, Assumptions(streams=1, exchanges=5))}
    big = {(c.part, c.item): c.usd for c in monthly_cost(deployment, Assumptions(streams=500, exchanges=5))}
    assert big[("CloudWatch", "custom metrics")] == small[("CloudWatch", "custom metrics")]  # per exchange
    assert big[("S3", "writes")] > small[("S3", "writes")]
    assert big[("Glue", "schemahub-pipeline")] == small[("Glue", "schemahub-pipeline")]


def test_backfill_cost_as_the_on_demand_job(deployment):
    # 10 hours at the rate limits on 2 x G.1X FLEX: 20 DPU-hours x $0.29.
    line = backfill_cost(10 * 3600, 100_000_000, deployment)
    assert line.startswith(
        "Glue: ~$5.80 as the on-demand job schemahub-backfill (10.0 h x 2 DPU x $0.29/DPU-h"
    )
    assert "$5.80 per 100M trades" in line and "~$10 per 100M trades" in line
    # Longer than the job's 720-minute timeout: several runs, each resuming the last.
    assert "in 3 runs of at most 720 min" in backfill_cost(30 * 3600, 1, deployment)
    data = deployment_data()
    del data["jobs"]["backfill"]
    assert "has no job running jobs/backfill_job.py" in backfill_cost(60, 1, parse_deployment(data))


def test_command_line_estimate_needs_no_aws(capsys, monkeypatch):
    from schemahub_lib.cli import main

    monkeypatch.setenv("SCHEMAHUB_GLUE_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert main(["deploy", "--estimate", "--streams", "50"]) == 0
    out = capsys.readouterr().out
    assert "for 50 streams (30 days):" in out and "  streams: 50" in out
    total = float(out.split("  total")[-1].split("$")[1].split()[0])
    assert total <= 30.0
    from schemahub_lib.seed import load_seed
    from schemahub_lib.settings import REPO_ROOT

    seed = load_seed(REPO_ROOT / "mappings" / "product_ids_seed.yaml")
    shipped = load_deployment(REPO_ROOT / "glue_deploy" / "deployment.yaml")
    (pipeline,) = shipped.stage_jobs("pipeline")
    exchanges = pipeline.arguments["--exchanges"].split(",")  # all five: coinbase ... bitfinex
    assert len(exchanges) == 5
    streams = sum(len(seed[e]) for e in exchanges)
    assert main(["deploy", "--estimate"]) == 0  # the seed's products on the jobs' exchanges
    out = capsys.readouterr().out
    assert f"for {streams} streams (30 days):" in out and "  exchanges: 5" in out
    assert main(["deploy", "--streams", "5"]) == 2
    assert "--streams goes with --estimate" in capsys.readouterr().err
