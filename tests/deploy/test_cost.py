"""The monthly Glue cost of the default schedule, and the README figure that quotes it."""

from __future__ import annotations

import pytest

from schemahub_lib.deploy import parse_deployment
from schemahub_lib.deploy.cost import monthly_glue_cost, render_cost, runs_per_day
from schemahub_lib.errors import ConfigError
from tests.deploy.conftest import deployment_data


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
    # 48 runs/day x 30 days; 2 x G.1X = 2 DPU; expected minutes 2 / 3 / 10.
    assert (rows["schemahub-ingest"].runs_per_month, rows["schemahub-ingest"].dpu_hours) == (1440, 96.0)
    assert (rows["schemahub-unify"].runs_per_month, rows["schemahub-unify"].dpu_hours) == (1440, 144.0)
    assert (rows["schemahub-maintenance"].runs_per_month, rows["schemahub-maintenance"].dpu_hours) == (
        30,
        10.0,
    )
    assert [r.usd for r in rows.values()] == [42.24, 63.36, 4.40]
    assert "total: $110.00/month" in render_cost(list(rows.values()))


def test_one_minute_minimum():
    data = deployment_data()
    data["jobs"]["unify"]["expected_minutes"] = 0.25
    rows = {r.job: r for r in monthly_glue_cost(parse_deployment(data))}
    assert rows["schemahub-unify"].billed_minutes == 1.0
    assert rows["schemahub-unify"].usd == pytest.approx(1440 * 2 * (1 / 60) * 0.44, abs=0.005)
