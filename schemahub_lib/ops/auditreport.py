"""What an audit found: per-stream coverage and gaps, as objects, coverage rows, log fields, metrics."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemahub_lib.metrics import Metric, metric
from schemahub_lib.ops import coverage


@dataclass
class Gap:
    first_id: int
    last_id: int
    after_ts: datetime | None
    before_ts: datetime | None
    status: str = coverage.OPEN
    edge: str | None = None  # head or tail: promised by landing's state, missing from raw's ends

    @property
    def size(self) -> int:
        return self.last_id - self.first_id + 1


@dataclass
class StreamReport:
    layer: str
    exchange: str
    symbol: str
    source_symbol: str | None = None
    first_id: int | None = None
    last_id: int | None = None
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    seen: int = 0
    duplicates: int = 0
    null_ids: int = 0
    unfillable_ids: int = 0
    gaps: list[Gap] = field(default_factory=list)
    unreconciled: int = 0
    unreconciled_samples: list[int] = field(default_factory=list)
    start: dict[str, Any] | None = None  # raw: the promised start and its evidence (edges.py)
    # Raw, the count proof: the trades landing committed to the stream (its state's count), the
    # rows raw holds for the whole stream, or why the two were not compared (`count_note`).
    landed: int | None = None
    rows: int | None = None
    count_note: str | None = None
    dense: bool = True  # ids consecutive per product: an id gap is a missing trade

    @property
    def count_short(self) -> int:
        """Trades landing committed that raw no longer holds (which ones is unknown)."""
        return max(0, self.landed - self.rows) if self.landed is not None and self.rows is not None else 0

    @property
    def count_over(self) -> int:
        """Rows raw holds beyond what landing committed (duplicates or rows from elsewhere)."""
        return max(0, self.rows - self.landed) if self.landed is not None and self.rows is not None else 0

    @property
    def count_proven(self) -> bool:
        return self.landed is not None and self.rows is not None

    @property
    def expected(self) -> int:
        if self.first_id is None or self.last_id is None:
            return 0
        return self.last_id - self.first_id + 1 - self.unfillable_ids

    @property
    def open_gaps(self) -> list[Gap]:
        """Gaps that alarm: open (lost) or skipped (left out on purpose, not yet repaired)."""
        return [g for g in self.gaps if g.status in coverage.ALARMING]

    @property
    def pending_ids(self) -> int:
        return sum(g.size for g in self.gaps if g.status == coverage.PENDING)

    @property
    def missing(self) -> int:
        """Trades missing: the open gaps' ids, or the count's shortfall where that is more."""
        return max(sum(g.size for g in self.open_gaps), self.count_short)

    @property
    def problems(self) -> list[str]:
        found = ["gaps"] if self.open_gaps else []
        found += ["count_short"] if self.count_short else []
        found += ["count_over"] if self.count_over else []
        if self.layer == "unified":
            found += ["duplicates"] if self.duplicates else []
            found += ["unparseable_ids"] if self.null_ids else []
            found += ["unreconciled"] if self.unreconciled else []
        return found

    @property
    def status(self) -> str:
        if self.problems:
            return ",".join(self.problems)
        if not self.seen:
            return "empty"
        if self.pending_ids:
            return "pending"
        # Landing's state holds no evidence that raw's lowest trade is the first at or after the
        # promised start (a walk still reaching back, or a record from before proofs were kept).
        if self.start is not None and not self.start["proven"]:
            return "unproven_start"
        # Where ids are not consecutive (Bitfinex) the count is the only proof of the middle.
        if self.layer == "raw" and not self.dense and not self.count_proven:
            return "unproven_count"
        return "complete"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            expected=self.expected,
            missing=self.missing,
            pending_ids=self.pending_ids,
            count_short=self.count_short,
            count_over=self.count_over,
            status=self.status,
        )
        out["gaps"] = [{**asdict(g), "size": g.size} for g in self.gaps]
        return out


@dataclass
class AuditReport:
    audit_id: str
    since: datetime | None
    until: datetime | None
    streams: list[StreamReport]
    duplicate_samples: list[dict[str, Any]] = field(default_factory=list)
    reconciled_at: dict[str, int] = field(default_factory=dict)  # raw table -> snapshot id read
    truncated: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.truncated and not any(s.problems for s in self.streams)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def totals(self) -> dict[str, int]:
        unified = [s for s in self.streams if s.layer == "unified"]
        return {
            "streams": len(self.streams),
            "open_gaps": sum(len(s.open_gaps) for s in self.streams),
            "missing_trades": sum(s.missing for s in self.streams),
            "unfillable_ids": sum(s.unfillable_ids for s in self.streams),
            "unified_duplicates": sum(s.duplicates for s in unified),
            "unreconciled": sum(s.unreconciled for s in unified),
            "count_short": sum(s.count_short for s in self.streams),
            "count_over": sum(s.count_over for s in self.streams),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "audit_id": self.audit_id,
            "ok": self.ok,
            "since": self.since,
            "until": self.until,
            "totals": self.totals(),
            "truncated": self.truncated,
            "reconciled_at": self.reconciled_at,
            "duplicate_samples": self.duplicate_samples,
            "streams": [s.as_dict() for s in self.streams],
            "duration_s": round(self.duration_s, 3),
        }


def coverage_rows(report: AuditReport) -> list[dict[str, Any]]:
    """One `stream` row per stream and layer, one `gap` row per gap piece."""
    rows = []
    base = {"audit_id": report.audit_id, "window_start": report.since, "window_end": report.until}
    for s in report.streams:
        key = {
            **base,
            "layer": s.layer,
            "exchange": s.exchange,
            "symbol": s.symbol,
            "source_symbol": s.source_symbol,
        }
        detail: dict[str, Any] = {
            "null_ids": s.null_ids,
            "unfillable_ids": s.unfillable_ids,
            "unreconciled": s.unreconciled,
        }
        if s.start is not None:
            detail["start"] = s.start
        if s.layer == "raw":
            detail["count"] = {"landed": s.landed, "raw_rows": s.rows, "note": s.count_note}
        rows.append(
            {
                **key,
                "kind": "stream",
                "first_id": s.first_id,
                "last_id": s.last_id,
                "first_ts": s.first_ts,
                "last_ts": s.last_ts,
                "expected": s.expected,
                "seen": s.seen,
                "duplicates": s.duplicates,
                "gap_ranges": json.dumps([[g.first_id, g.last_id] for g in s.open_gaps]),
                "status": s.status,
                "detail": json.dumps(detail),
            }
        )
        for g in s.gaps:
            rows.append(
                {
                    **key,
                    "kind": "gap",
                    "first_id": g.first_id,
                    "last_id": g.last_id,
                    "first_ts": g.after_ts,
                    "last_ts": g.before_ts,
                    "expected": g.size,
                    "seen": 0,
                    "status": g.status,
                    "detail": json.dumps({"edge": g.edge}) if g.edge else None,
                }
            )
        if s.count_short or s.count_over:
            # A count finding, gap-like: how many trades, ids unknown (no id range).
            short = bool(s.count_short)
            rows.append(
                {
                    **key,
                    "kind": "gap",
                    "first_id": None,
                    "last_id": None,
                    "first_ts": None,
                    "last_ts": None,
                    "expected": s.count_short or s.count_over,
                    "seen": 0,
                    "status": coverage.OPEN if short else "over",
                    "detail": json.dumps(
                        {
                            "count": "short" if short else "over",
                            "landed": s.landed,
                            "raw_rows": s.rows,
                            "ids": "unknown",
                        }
                    ),
                }
            )
    return rows


def count_lines(report: AuditReport) -> list[str]:
    """The count proof per raw stream, in words: findings, and where it was not compared."""
    out = []
    for s in report.streams:
        if s.layer != "raw":
            continue
        where = f"{s.exchange} {s.symbol}"
        if s.count_short:
            explained = (
                "the id gaps above show which"
                if s.dense
                else f"ids unknown ({s.exchange} ids are not consecutive)"
            )
            out.append(
                f"{where}: raw holds {s.rows:,} of the {s.landed:,} trades landing committed: "
                f"{s.count_short:,} missing, {explained}"
            )
        elif s.count_over:
            out.append(
                f"{where}: raw holds {s.rows:,} rows, {s.count_over:,} more than the {s.landed:,} trades "
                "landing committed (duplicates or rows landing did not write)"
            )
        elif s.count_note is not None:
            out.append(f"{where}: unproven count: {s.count_note}")
    return out


def utc(value: datetime | None) -> datetime | None:
    # PySpark returns naive datetimes in the session zone, which load_spark pins to UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def stream_fields(s: StreamReport) -> dict[str, Any]:
    return {
        "layer": s.layer,
        "exchange": s.exchange,
        "symbol": s.symbol,
        "first_id": s.first_id,
        "last_id": s.last_id,
        "expected": s.expected,
        "seen": s.seen,
        "missing": s.missing,
        "open_gaps": len(s.open_gaps),
        "duplicates": s.duplicates,
        "unreconciled": s.unreconciled,
        "status": s.status,
    }


def audit_metrics(report: AuditReport) -> list[Metric]:
    out = []
    for s in report.streams:
        dims = {"Layer": s.layer, "Exchange": s.exchange, "Symbol": s.symbol}
        out += [metric("GapRanges", len(s.open_gaps), **dims), metric("MissingTrades", s.missing, **dims)]
        if s.layer == "unified":
            out.append(metric("UnreconciledKeys", s.unreconciled, Exchange=s.exchange, Symbol=s.symbol))
    if any(s.layer == "unified" for s in report.streams):
        dups = sum(s.duplicates for s in report.streams if s.layer == "unified")
        out.append(metric("DuplicateKeys", dups, Layer="unified"))
    return out
