"""`make bench`: run every benchmark module in bench/ and print its figures against SPEC budgets.

Each module `bench/<name>.py` defines `run(workdir: Path) -> list[Result]`. Figures are
measured in one run and compared as ratios or rates on this machine; nothing here is a test.
`python -m bench landing unify` runs only the named modules.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import tempfile
import time
from pathlib import Path

from bench.result import Result

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(
        m.name
        for m in pkgutil.iter_modules([str(HERE)])
        if m.name not in ("result", "__main__") and not m.ispkg  # packages (glue50) run on their own
    )
    results: list[Result] = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            started = time.monotonic()
            print(f"== {name}", flush=True)
            for r in module.run(Path(tmp)):
                print(f"   {r.line()}", flush=True)
                results.append(r)
            print(f"   ({time.monotonic() - started:.0f}s)", flush=True)
    out = HERE.parent / ".bench" / "results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps([r.__dict__ for r in results], indent=2))
    missed = [r for r in results if r.ok is False]
    print(f"\n{len(results) - len(missed)} within budget, {len(missed)} over budget; details in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
