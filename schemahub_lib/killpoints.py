"""Named points where a job SIGKILLs itself, so crash-safety tests stop it exactly there.

`settings.kill_at` (config file key `kill_at`, environment `SCHEMAHUB_KILL_AT`) names one point;
unset, as in every real deployment, `reached()` does nothing. A test runs the CLI in a
subprocess with a kill point set and checks what the tables look like after the process died
at that step. A kill point is a SIGKILL, not an exception: no `finally`, no cleanup, no
shutdown hook of our own runs, the same as when a machine or a Glue worker disappears.
"""

from __future__ import annotations

import os
import signal

from schemahub_lib.logs import log_event

# run_unify's publish steps (unify/run.py, unify/commit.py).
KILL_POINTS: dict[str, str] = {
    "unify.branch_created": "the run's branch exists at main's head; nothing written to it yet",
    "unify.branch_written": "the run's rows are one snapshot on its branch; main not moved yet",
    "unify.published": "main fast-forwarded to the run's snapshot and the branch dropped, in one commit",
}


def reached(kill_at: str | None, point: str) -> None:
    """SIGKILL this process if `kill_at` names `point`."""
    if point not in KILL_POINTS:
        raise ValueError(f"unknown kill point {point!r}; known: {', '.join(KILL_POINTS)}")
    if kill_at == point:
        log_event("kill_point", point=point, pid=os.getpid())
        os.kill(os.getpid(), signal.SIGKILL)
