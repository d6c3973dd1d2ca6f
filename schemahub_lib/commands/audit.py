"""`schemahub audit`: prove trade-id continuity per stream in raw and trades_unified.

    schemahub audit                          # every exchange, all time, raw and trades_unified
    schemahub audit --exchange coinbase --since 24h --json

Exits 0 when clean, 1 when it finds an open gap, a duplicate key in trades_unified or a raw
key unify consumed but trades_unified lacks, 2 on errors (bad input included), so a
scheduler can alert. Times: ISO 8601, epoch seconds or milliseconds, or a span before now
(90m, 24h, 7d).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from schemahub_lib.ops.text import table, to_json
from schemahub_lib.settings import Settings
from schemahub_lib.timespec import time_arg

if TYPE_CHECKING:
    from schemahub_lib.ops.auditreport import AuditReport

LAYERS = ("raw", "unified")  # ops/audit.py's layers; kept here so --help loads no pyiceberg

REPAIR_DOC = """`schemahub repair`: refetch the trade ids an audit found missing, land them, unify,
audit again.

    schemahub repair                         # every exchange, all time
    schemahub repair --exchange binance --since 7d --dry-run

Coinbase and Binance gaps are refetched by id, Kraken gaps by time from the trade before the
gap. Ids the exchange answers around twice without them were never issued: they are recorded
as such, so audits stop reporting them. Then unify runs (unless --no-unify) and a full audit,
whose result is repair's exit code: 0 clean, 1 findings left, 2 on errors. Times: ISO 8601,
epoch seconds or milliseconds, or a span before now (90m, 24h, 7d).
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="trade-id continuity per stream in raw and trades_unified (exit 1 on findings)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _window_flags(parser)
    parser.add_argument("--layer", action="append", choices=LAYERS, help="raw and/or unified (default both)")
    parser.add_argument("--no-record", action="store_true", help="do not write results to schemahub_coverage")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)

    repair = subparsers.add_parser(
        "repair",
        help="refetch missing trade ids (Coinbase, Binance, Kraken), mark ids never issued, unify, audit",
        description=REPAIR_DOC,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _window_flags(repair)
    repair.add_argument(
        "--dry-run", action="store_true", help="list the gaps repair would refetch; fetch nothing"
    )
    repair.add_argument("--no-unify", action="store_true", help="land the trades but do not run unify")
    repair.add_argument("--json", action="store_true", help="print the report as JSON")
    repair.set_defaults(handler=run_repair_command)


def _window_flags(parser: argparse.ArgumentParser) -> None:
    # No argparse choices: an unknown name gets the one "unknown exchange 'x'; known: ..." error.
    parser.add_argument("--exchange", action="append", help="limit to an exchange (repeatable)")
    parser.add_argument(
        "--since", metavar="TIME", type=time_arg("--since"), help="trade time from (e.g. 2026-11-01, 24h)"
    )
    parser.add_argument(
        "--until", metavar="TIME", type=time_arg("--until"), help="trade time before (e.g. 1h, 1750000000)"
    )


def run_repair_command(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.ops.repair import RepairOptions, run_repair

    options = RepairOptions(
        exchanges=tuple(args.exchange or ()),
        since=args.since,
        until=args.until,
        unify=not args.no_unify,
        dry_run=args.dry_run,
    )
    report = run_repair(settings, options=options)
    if args.json:
        print(to_json(report.as_dict()))
        return report.exit_code
    rows = [
        (
            g.exchange,
            g.symbol,
            g.first_id,
            g.last_id,
            g.status,
            _ids(g.filled),
            _ids(g.unfillable),
            _ids(g.unresolved),
            g.note,
        )
        for g in report.gaps
    ]
    headers = (
        "exchange",
        "symbol",
        "from_id",
        "to_id",
        "was",
        "filled",
        "never issued",
        "unresolved",
        "note",
    )
    head = (
        "repair (dry run: nothing fetched)"
        if report.dry_run
        else f"repair {report.run_id}; unify: {report.unify}"
    )
    print(head)
    print(table(headers, rows) if rows else "no open gaps")
    for note in report.notes:
        print(f"unresolved: {note}")
    if report.audit is not None:
        print("\n" + render(report.audit))
    return report.exit_code


def _ids(ranges: list[tuple[int, int]]) -> int:
    return sum(b - a + 1 for a, b in ranges)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from schemahub_lib.ops.audit import AuditOptions, run_audit

    options = AuditOptions(
        exchanges=tuple(args.exchange or ()),
        since=args.since,
        until=args.until,
        layers=tuple(args.layer or LAYERS),
        record=not args.no_record,
    )
    report = run_audit(settings, options=options)
    print(to_json(report.as_dict()) if args.json else render(report))
    return report.exit_code


def render(report: AuditReport) -> str:
    from schemahub_lib.ops.auditreport import count_lines

    since = report.since.isoformat() if report.since else "start"
    until = report.until.isoformat() if report.until else "now"
    lines = [f"audit {report.audit_id}  window [{since}, {until})", ""]
    rows = [
        (
            s.layer,
            s.exchange,
            s.symbol,
            s.first_id,
            s.last_id,
            s.expected,
            s.seen,
            s.missing,
            len(s.open_gaps),
            s.duplicates,
            s.unreconciled,
            s.status,
        )
        for s in report.streams
    ]
    headers = (
        "layer",
        "exchange",
        "symbol",
        "first_id",
        "last_id",
        "expected",
        "seen",
        "missing",
        "gaps",
        "dups",
        "unrec",
        "status",
    )
    lines.append(table(headers, rows) if rows else "no trades in the window")
    gap_rows = [
        (
            s.layer,
            s.exchange,
            s.symbol,
            g.first_id,
            g.last_id,
            g.size,
            g.after_ts,
            g.before_ts,
            f"{g.status} ({g.edge})" if g.edge else g.status,
        )
        for s in report.streams
        for g in s.gaps
    ]
    if gap_rows:
        lines += ["", "gaps (ids inclusive; times of the trades either side; head/tail: at a stream's ends):"]
        lines.append(
            table(
                ("layer", "exchange", "symbol", "from_id", "to_id", "ids", "after", "before", "status"),
                gap_rows,
            )
        )
    counts = count_lines(report)
    if counts:
        lines += ["", "count (trades landing committed against raw's rows, whole stream):", *counts]
    for s in report.streams:
        if s.unreconciled:
            lines.append(
                f"\n{s.exchange} {s.symbol}: {s.unreconciled} raw keys missing from trades_unified, "
                f"e.g. {', '.join(map(str, s.unreconciled_samples[:5]))}"
            )
    if report.duplicate_samples:
        sample = ", ".join(
            f"{d['exchange']} {d['symbol']} {d['id']} x{d['n']}" for d in report.duplicate_samples[:5]
        )
        lines.append(f"\nduplicate keys in trades_unified, e.g. {sample}")
    if report.truncated:
        lines.append("\nmore gap ranges than the report holds; narrow the window with --since/--until")
    t = report.totals()
    verdict = "OK" if report.ok else "FINDINGS"
    lines.append(
        f"\n{verdict}: {t['open_gaps']} open gaps ({t['missing_trades']} trades), "
        f"{t['unified_duplicates']} duplicate keys, {t['unreconciled']} unreconciled keys, "
        f"{t['unfillable_ids']} ids confirmed never issued"
    )
    return "\n".join(lines)
