"""One benchmark figure and the SPEC budget it is held against."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Result:
    name: str  # what was measured
    value: float
    unit: str
    budget: str = ""  # the SPEC budget, as text
    ok: bool | None = None  # None when there is no budget to hold it against
    note: str = ""

    def line(self) -> str:
        verdict = {True: "ok", False: "OVER BUDGET", None: ""}[self.ok]
        budget = f" (budget {self.budget})" if self.budget else ""
        note = f" — {self.note}" if self.note else ""
        return f"{self.name}: {self.value:,.2f} {self.unit}{budget} {verdict}{note}".rstrip()
