"""The dashboard shows every catalogued metric with its dimensions, and CloudWatch accepts it."""

from __future__ import annotations

import json

import pytest

from schemahub_lib.metrics import CATALOGUE
from schemahub_lib.ops.dashboard import dashboard_body, referenced_metrics
from tests.aws.emulator import client, moto_server


def test_dashboard_matches_the_metric_catalogue():
    shown = referenced_metrics(dashboard_body("us-east-1"))
    assert shown == {(name, dims) for name, (_, dims) in CATALOGUE.items()}


@pytest.mark.aws
def test_cloudwatch_accepts_the_dashboard():
    with moto_server() as endpoint:
        cw = client("cloudwatch", endpoint)
        cw.put_dashboard(DashboardName="schemahub-ops", DashboardBody=dashboard_body("eu-west-1"))
        body = json.loads(cw.get_dashboard(DashboardName="schemahub-ops")["DashboardBody"])
    metric_widgets = [w for w in body["widgets"] if w["type"] == "metric"]
    assert len(metric_widgets) == len(CATALOGUE)
    assert {w["properties"]["region"] for w in metric_widgets} == {"eu-west-1"}
