"""Unify throughput of the Glue 5.0 stack against this tree's, in one run, interleaved.

The baseline is commit BASELINE (main just before the Glue 5.1 merge: pyspark 3.5.4, Iceberg
1.7.1 jars, row-by-row Parquet reads), exported with `git archive` into .bench/glue50/src and
set up there by its own `make setup` (its own .venv and .jars, from the warm pip and Maven
caches). Both run the same workload: the raw batches are generated once by this tree
(bench/unify.py's simulator data: ~1M trades per batch, 1% of each re-landed) as Parquet files
in .bench/glue50/data, and each side appends them to its own warehouse and runs `run_unify` in
its own warm Spark session (worker.py). Batches alternate between the sides, and which side
goes first alternates too (old, new, new, old, ...), so the machine's load falls on both.

    python -m bench.glue50 [--warm N] [--batch ROWS]

Prints rows/s per batch and side, the medians of the warm batches, their ratio, the load
average around each run (the machine is shared), where each side's time goes (worker.py
TIMED: stats job, building the mapping, branch, write job, fast-forward, branch drop, rest),
and rows per CPU second of each worker (its JVM and Python, from /proc): on a loaded machine
wall-time ratios swing by +-30% from batch to batch; CPU time is a steadier view of the work,
though not the wall-time figure issue 15 asks for.
The data is generated once per size; delete .bench/glue50/data to generate it again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BASELINE = "768dce779cf25cae163e6a36da259b266c3ddf84"
HOME = REPO / ".bench" / "glue50"
WORKER = Path(__file__).resolve().parent / "worker.py"
EXCHANGES = ("coinbase", "binance", "kraken")  # bench.unify.LANDED
MARK = "@@worker "


def _clean_env() -> dict[str, str]:
    """The environment without make's and SchemaHub's variables (each tree sets its own)."""
    drop = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VIRTUAL_ENV", "PYTHONPATH")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SCHEMAHUB_")}


def build_baseline() -> Path:
    """.bench/glue50/src: the baseline's files and its own venv and jars (idempotent)."""
    src = HOME / "src"
    if not (src / ".exported").exists():
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", BASELINE], check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
        (src / ".exported").write_text(BASELINE + "\n")
    print(f"baseline {BASELINE[:10]} in {src}: make setup", flush=True)
    done = subprocess.run(["make", "-C", str(src), "setup"], env=_clean_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"baseline `make setup` in {src} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return src


def prepare_data(batch: int, batches: int) -> tuple[Path, Path]:
    """Parquet files per batch and exchange, and the product seed, generated once per size."""
    folder = HOME / "data" / f"{batch}x{batches}"
    seed_file = folder / "seed.json"
    if (folder / ".done").exists():
        return folder, seed_file
    from bench.unify import LANDED, _raw_arrow, _settings, seed_products, sim_trades
    from schemahub_lib.catalog import load_catalog

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"generating {batches} batches of ~{batch:,} trades into {folder}", flush=True)
    truths = sim_trades(batches * batch)
    total = sum(len(t) for t in truths if t.exchange in LANDED)
    with tempfile.TemporaryDirectory(prefix="bench-glue50-") as tmp:
        catalog = load_catalog(settings := _settings(Path(tmp), "schemas"))
        import pyarrow.parquet as pq

        for k in range(batches):
            relanded = batch // 100 if k else 0
            for exchange in EXCHANGES:
                parts = []
                for t in truths:
                    if t.exchange == exchange:
                        start, stop = k * len(t) // batches, (k + 1) * len(t) // batches
                        parts.append((t, max(0, start - relanded * len(t) // total), stop))
                table = catalog.load_table(settings.table_id(f"raw_{exchange}_trades"))
                ingest_us = time.time_ns() // 1000
                pq.write_table(
                    _raw_arrow(table, exchange, parts, ingest_us), folder / f"{k}_{exchange}.parquet"
                )
    seed = {
        ex: [[p.exchange, p.symbol, p.exchange_symbol, p.base, p.quote, list(p.aliases)] for p in ps]
        for ex, ps in seed_products().items()
    }
    seed_file.write_text(json.dumps(seed))
    (folder / ".done").write_text("")
    return folder, seed_file


class Side:
    """A worker process: one tree's interpreter, warehouse and warm Spark session."""

    def __init__(self, name: str, tree: Path, warehouse: Path, seed_file: Path) -> None:
        self.name = name
        self.log = open(HOME / f"{name}.stderr.log", "w")  # noqa: SIM115 (closed in quit)
        python = tree / ".venv" / "bin" / "python"
        self.proc = subprocess.Popen(
            [str(python), "-P", str(WORKER), str(warehouse), str(seed_file)],
            cwd=tree,
            env=_clean_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.info = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                answer: dict[str, Any] = json.loads(line[len(MARK) :])
                return answer
        raise SystemExit(f"{self.name} worker died (exit {self.proc.wait()}); see {self.log.name}")

    def run(self, files: dict[str, str]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": "batch", "files": files}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def quit(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def _median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.glue50", description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm", type=int, default=5, help="warm batches per side (after one cold)")
    parser.add_argument(
        "--batch", type=int, default=int(os.environ.get("SCHEMAHUB_BENCH_UNIFY_BATCH", 1_000_000))
    )
    args = parser.parse_args(argv)
    baseline = build_baseline()
    batches = args.warm + 1
    data, seed_file = prepare_data(args.batch, batches)
    runs: dict[str, list[dict[str, Any]]] = {"glue50": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="bench-glue50-wh-") as tmp:
        sides = {}
        try:
            for name, tree in (("glue50", baseline), ("current", REPO)):
                sides[name] = Side(name, tree, Path(tmp) / name, seed_file)
                print(f"{name}: {sides[name].info}", flush=True)
            print(f"load before: {_load()}", flush=True)
            for k in range(batches):
                order = ("glue50", "current") if k % 4 in (0, 3) else ("current", "glue50")
                for name in order:
                    files = {ex: str(data / f"{k}_{ex}.parquet") for ex in EXCHANGES}
                    before = _load()
                    result = sides[name].run(files)
                    result.update(batch=k, rate=result["rows_read"] / result["seconds"], load=before)
                    result["cpu_rate"] = result["rows_read"] / result["cpu_seconds"]
                    result["steps"]["rest"] = round(result["seconds"] - sum(result["steps"].values()), 3)
                    runs[name].append(result)
                    phases = ", ".join(f"{p} {v:.2f}s" for p, v in result["steps"].items())
                    print(
                        f"batch {k} {'cold' if k == 0 else 'warm'} {name:8} {result['rows_read']:>9,} rows "
                        f"{result['seconds']:6.1f}s {result['rate']:>9,.0f} rows/s  "
                        f"cpu {result['cpu_seconds']:5.1f}s  load {before}"
                        + (f"  [{phases}]" if phases else ""),
                        flush=True,
                    )
        finally:
            for side in sides.values():
                side.quit()
    if [r["rows_inserted"] for r in runs["glue50"]] != [r["rows_inserted"] for r in runs["current"]]:
        print("WARNING: the two sides inserted different row counts per batch", flush=True)
    warm = {name: _median([r["rate"] for r in rs[1:]]) for name, rs in runs.items()}
    pairs = [c["rate"] / g["rate"] for g, c in zip(runs["glue50"][1:], runs["current"][1:], strict=True)]
    ratio = warm["current"] / warm["glue50"]
    print(f"\nwarm median (of {args.warm}): " + ", ".join(f"{n} {r:,.0f} rows/s" for n, r in warm.items()))
    print(f"ratio of medians: {ratio:.2f}x; per batch: " + ", ".join(f"{p:.2f}" for p in pairs))
    cpu = {name: _median([r["cpu_rate"] for r in rs[1:]]) for name, rs in runs.items()}
    print(
        "per CPU second (JVM + Python; less load-sensitive, but both cores' work adds up): "
        + ", ".join(f"{n} {r:,.0f} rows/cpu-s" for n, r in cpu.items())
        + f"; ratio {cpu['current'] / cpu['glue50']:.2f}x"
    )
    for name, rs in runs.items():
        steps = {step: _median([r["steps"].get(step, 0.0) for r in rs[1:]]) for step in rs[-1]["steps"]}
        print(f"{name} warm median split: " + ", ".join(f"{p} {v:.2f}s" for p, v in steps.items()))
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"load after: {_load()}  (uptime: {uptime})")
    out = HOME / "results.json"
    out.write_text(json.dumps({"runs": runs, "warm_median": warm, "pairs": pairs}, indent=2))
    print(f"details in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
