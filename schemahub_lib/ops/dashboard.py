"""The CloudWatch dashboard (glue_deploy/dashboard.json) for the metrics in metrics.CATALOGUE.

Widgets use SEARCH expressions, so streams and tables appear without editing the file.
`dashboard_body(region)` is what `PutDashboard` takes; the deployer names the dashboard.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from schemahub_lib.settings import REPO_ROOT

DASHBOARD_PATH = REPO_ROOT / "glue_deploy" / "dashboard.json"
# `{SchemaHub}` alone matches the metrics without dimensions (the landing totals).
_SEARCH = re.compile(r"\{SchemaHub(?:,([^}]*))?\} MetricName=\"(\w+)\"")


def dashboard_body(region: str, path: Path = DASHBOARD_PATH) -> str:
    """The dashboard JSON with every metric widget pointed at `region`."""
    body = json.loads(path.read_text())
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            widget["properties"]["region"] = region
    return json.dumps(body, separators=(",", ":"))


def referenced_metrics(body: str) -> set[tuple[str, tuple[str, ...]]]:
    """(metric name, dimension names) of every SEARCH in a dashboard body."""
    found = set()
    for widget in json.loads(body)["widgets"]:
        for line in widget.get("properties", {}).get("metrics", []):
            for item in line:
                if isinstance(item, dict) and "expression" in item:
                    for dims, name in _SEARCH.findall(item["expression"]):
                        found.add((name, tuple(d.strip() for d in dims.split(",") if d.strip())))
    return found
