"""A deployment plan: one `Change` per resource, in the order `apply_plan` executes them.

`diff.build_plan` and `diff.build_teardown_plan` make one from what AWS holds; `render` is what
`schemahub deploy` prints, `as_json` what `--json` prints.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from schemahub_lib.deploy.config import Deployment

ACTIONS = ("create", "update", "replace", "delete", "unchanged", "keep")
KIND_ORDER = (
    "s3 object",
    "glue database",
    "iceberg table",
    "glue job",
    "glue workflow",
    "glue trigger",
    "cloudwatch dashboard",
    "cloudwatch alarm",
)
_SYMBOL = {"create": "+", "update": "~", "replace": "±", "delete": "-", "unchanged": "=", "keep": "·"}


@dataclass(frozen=True)
class Change:
    """One resource's fate. `spec` is what `apply` sends (a request, an artifact, keys to delete)."""

    action: str  # one of ACTIONS
    kind: str
    name: str
    details: tuple[str, ...] = ()
    spec: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Plan:
    deployment: Deployment
    changes: tuple[Change, ...]
    teardown: bool = False

    def counts(self) -> dict[str, int]:
        counted = Counter(c.action for c in self.changes)
        return {action: counted.get(action, 0) for action in ACTIONS}

    @property
    def writes(self) -> bool:
        return any(c.action in ("create", "update", "replace", "delete") for c in self.changes)

    def render(self) -> str:
        d = self.deployment
        verb = "Teardown" if self.teardown else "Deployment"
        lines = [
            f"{verb} plan for {d.name} ({d.region}, s3://{d.bucket}/{d.prefix}/, Glue database {d.database}):"
        ]
        width = max((len(c.kind) for c in self.changes), default=0)
        for c in self.changes:
            line = f"  {_SYMBOL[c.action]} {c.action:<9} {c.kind:<{width}}  {c.name}"
            lines.append(line + (f"  ({'; '.join(c.details)})" if c.details else ""))
        counts = self.counts()
        lines.append(
            f"{counts['create']} to create, {counts['update']} to update, {counts['replace']} to replace, "
            f"{counts['delete']} to delete, {counts['unchanged']} unchanged, {counts['keep']} kept."
        )
        return "\n".join(lines)

    def as_json(self) -> str:
        rows = [
            {"action": c.action, "kind": c.kind, "name": c.name, "details": list(c.details)}
            for c in self.changes
        ]
        return json.dumps(
            {"deployment": self.deployment.name, "changes": rows, "counts": self.counts()}, indent=2
        )
