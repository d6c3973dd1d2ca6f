"""What a unify run reports to CloudWatch (`unify_metrics`); sending it through the aws profile
is tested against a moto server in tests/ops/test_aws_ops.py."""

from __future__ import annotations

from schemahub_lib.metrics import metric
from schemahub_lib.unify.run import UnifyReport, unify_metrics


def test_a_run_reports_duration_outcome_and_rows_inserted() -> None:
    report = UnifyReport("r1", rows_read=120, rows_inserted=100, duplicates_dropped=20, snapshot_id=7)
    assert unify_metrics(12.5, report) == [
        metric("RunDurationSeconds", 12.5, Job="unify"),
        metric("RunFailed", 0, Job="unify"),
        metric("TradesUnified", 100, Table="trades_unified"),
    ]


def test_a_failed_run_reports_failure_and_no_rows() -> None:
    assert unify_metrics(3.0, None) == [
        metric("RunDurationSeconds", 3.0, Job="unify"),
        metric("RunFailed", 1, Job="unify"),
        metric("TradesUnified", 0, Table="trades_unified"),
    ]
