"""Operational metrics: one catalogue of names, sent to CloudWatch in the aws profile.

Every metric lives in the `SchemaHub` namespace. Names, units and dimensions are fixed here
(and in `glue_deploy/dashboard.json`, which a test keeps in step with this catalogue):

| name               | unit    | dimensions                | sent by                      |
|--------------------|---------|---------------------------|------------------------------|
| TradesLanded       | Count   | (none: all exchanges)     | landing, repair              |
| RejectedRecords    | Count   | (none: all exchanges)     | landing                      |
| LagSeconds         | Seconds | Exchange                  | landing, status (worst stream) |
| RunDurationSeconds | Seconds | Job                       | every job                    |
| RunFailed          | Count   | Job                       | every job (1 failed, 0 ok)   |
| GapRanges          | Count   | Layer, Exchange, Symbol   | audit (open ranges only)     |
| MissingTrades      | Count   | Layer, Exchange, Symbol   | audit (ids in open ranges)   |
| DuplicateKeys      | Count   | Layer                     | audit (trades_unified keys)  |
| UnreconciledKeys   | Count   | Exchange, Symbol          | audit (raw keys not unified) |
| DataFiles          | Count   | Table                     | maintain, status             |
| SmallFiles         | Count   | Table                     | maintain, status             |
| TradesUnified      | Count   | Table                     | unify (rows it inserted)     |

Landing figures are as coarse as their use allows: CloudWatch bills every metric (name and
dimension set) by the month, $0.30 each, so 50 streams x 3 metrics would cost $45 a month.
`LagSeconds` goes per exchange and is the lag of that exchange's worst (most behind) stream,
so an alarm or widget on it still fires when a single stream goes stale: that is the alarm
signal. `TradesLanded` and `RejectedRecords` go once per run as totals over every exchange
(no dimension): they are for volume graphs, not alarms, and one metric each costs the same at
3 exchanges or 30. Which exchange and stream landed or rejected what is in the run's log lines
(`<kind>.stream` per stream; `<kind>.summary` names the worst stream) and `schemahub status`.

The local profile sends nothing (`NullSink`); the aws profile sends through boto3 to
`settings.cloudwatch_endpoint` when set (a local moto server in tests), else the regional
endpoint. Jobs call `load_metrics_sink(settings)` once and `sink.put(...)` at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from schemahub_lib.errors import SchemaHubError
from schemahub_lib.logs import log_event
from schemahub_lib.settings import Settings

NAMESPACE = "SchemaHub"
# PutMetricData takes at most 1000 datums per call.
BATCH = 1000

# name -> (unit, dimension names in order)
CATALOGUE: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "TradesLanded": ("Count", ()),
    "RejectedRecords": ("Count", ()),
    "LagSeconds": ("Seconds", ("Exchange",)),
    "RunDurationSeconds": ("Seconds", ("Job",)),
    "RunFailed": ("Count", ("Job",)),
    "GapRanges": ("Count", ("Layer", "Exchange", "Symbol")),
    "MissingTrades": ("Count", ("Layer", "Exchange", "Symbol")),
    "DuplicateKeys": ("Count", ("Layer",)),
    "UnreconciledKeys": ("Count", ("Exchange", "Symbol")),
    "DataFiles": ("Count", ("Table",)),
    "SmallFiles": ("Count", ("Table",)),
    "TradesUnified": ("Count", ("Table",)),
}


@dataclass(frozen=True)
class Metric:
    """One datum. `dimensions` must name exactly the catalogue's dimensions for `name`."""

    name: str
    value: float
    dimensions: tuple[tuple[str, str], ...] = ()
    timestamp: datetime | None = None

    def __post_init__(self) -> None:
        if self.name not in CATALOGUE:
            raise SchemaHubError(
                f"metric {self.name!r} is not in the catalogue; valid: {', '.join(CATALOGUE)}"
            )
        want = CATALOGUE[self.name][1]
        got = tuple(k for k, _ in self.dimensions)
        if got != want:
            raise SchemaHubError(f"metric {self.name}: dimensions {got}, expected {want}")

    @property
    def unit(self) -> str:
        return CATALOGUE[self.name][0]

    def datum(self) -> dict[str, Any]:
        return {
            "MetricName": self.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
            "Timestamp": self.timestamp or datetime.now(UTC),
            "Value": float(self.value),
            "Unit": self.unit,
        }


def metric(name: str, value: float, **dimensions: str) -> Metric:
    """`metric("LagSeconds", 12.5, Exchange=exchange, Symbol="BTC-USD")`, dimensions in catalogue order."""
    order = CATALOGUE[name][1] if name in CATALOGUE else tuple(dimensions)
    missing = [d for d in order if d not in dimensions]
    if missing or set(dimensions) - set(order):
        raise SchemaHubError(f"metric {name}: dimensions {sorted(dimensions)}, expected {list(order)}")
    return Metric(name, value, tuple((d, str(dimensions[d])) for d in order))


def run_metrics(job: str, duration_s: float, ok: bool) -> list[Metric]:
    """What every job reports about itself when it ends."""
    return [metric("RunDurationSeconds", duration_s, Job=job), metric("RunFailed", 0 if ok else 1, Job=job)]


@dataclass(frozen=True)
class StreamFigures:
    """What one (exchange, symbol) stream did in a landing run."""

    exchange: str
    symbol: str
    landed: int
    rejects: int
    lag_s: float | None


def landing_metrics(streams: Iterable[StreamFigures]) -> list[Metric]:
    """What a landing run sends: `TradesLanded` and `RejectedRecords` once, summed over every
    stream (no dimension), and `LagSeconds` per exchange, the lag of its worst stream (the
    largest; none for an exchange where no stream knows its lag)."""
    figures = list(streams)
    out = [
        metric("TradesLanded", sum(f.landed for f in figures)),
        metric("RejectedRecords", sum(f.rejects for f in figures)),
    ]
    by_exchange: dict[str, list[StreamFigures]] = {}
    for s in figures:
        by_exchange.setdefault(s.exchange, []).append(s)
    for exchange, exchange_figures in sorted(by_exchange.items()):
        lag = worst_lag(exchange_figures)
        if lag is not None:
            out.append(metric("LagSeconds", lag.lag_s or 0.0, Exchange=exchange))
    return out


def worst_lag(streams: Iterable[StreamFigures]) -> StreamFigures | None:
    """The stream furthest behind, or None when no stream knows its lag."""
    known = [s for s in streams if s.lag_s is not None]
    return max(known, key=lambda s: s.lag_s or 0.0) if known else None


class MetricsSink(Protocol):
    def put(self, metrics: Sequence[Metric]) -> None: ...


class NullSink:
    """The local profile: metrics are in the JSON log lines already; nothing is sent."""

    def put(self, metrics: Sequence[Metric]) -> None:
        return None


class CloudWatchSink:
    """PutMetricData in batches. A failure to send is logged, never fails the job it measures."""

    def __init__(self, client: Any, namespace: str = NAMESPACE) -> None:
        self.client = client
        self.namespace = namespace

    def put(self, metrics: Sequence[Metric]) -> None:
        for batch in _batches(metrics, BATCH):
            try:
                self.client.put_metric_data(Namespace=self.namespace, MetricData=[m.datum() for m in batch])
            except Exception as exc:  # botocore raises many unrelated types; a metric is never fatal
                log_event("metrics.failed", namespace=self.namespace, count=len(batch), error=str(exc)[:200])


def load_metrics_sink(settings: Settings) -> MetricsSink:
    """CloudWatch in the aws profile, nothing locally."""
    if settings.is_local:
        return NullSink()
    import boto3

    client = boto3.client(
        "cloudwatch", region_name=settings.aws_region, endpoint_url=settings.cloudwatch_endpoint
    )
    return CloudWatchSink(client)


def _batches(items: Sequence[Metric], size: int) -> Iterable[Sequence[Metric]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
