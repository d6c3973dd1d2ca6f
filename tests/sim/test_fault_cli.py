"""`schemahub sim fault add|list|clear` against a running `schemahub sim serve` (a subprocess):
the rules reach the simulator and fire as the venue's answer."""

from __future__ import annotations

import json
import subprocess
import sys

import requests

from schemahub_lib.sim.faults import KINDS
from schemahub_lib.sim.testing import SimProcess
from tests.conftest import REPO

FLAGS = ("--seed", "3", "--clock", "manual", "--history", "10m", "--rate-limits", "off")


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schemahub_lib.cli", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_faults_are_added_listed_fired_and_cleared_from_the_command_line() -> None:
    with SimProcess(*FLAGS) as sim:
        trades = f"{sim.urls['binance']}/api/v3/trades"
        added = cli("sim", "fault", "add", "--sim", sim.root_url, "--kind", "rate_limit",
                    "--exchange", "binance", "--count", "2", "--retry-after", "7")  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert "1 fault rule added" in added.stdout and "rate_limit" in added.stdout
        assert "retry_after=7.0" in added.stdout
        answers = [requests.get(trades, params={"symbol": "BTCUSDT"}, timeout=10) for _ in range(3)]
        assert [a.status_code for a in answers] == [429, 429, 200]
        assert answers[0].json()["code"] == -1003 and answers[0].headers["Retry-After"] == "7"

        forever = cli("sim", "fault", "add", "--sim", sim.root_url, "--kind", "drop", "--exchange",
                      "kraken", "--product", "XBTUSD", "--forever", "--drop", "3", "--json")  # fmt: skip
        assert json.loads(forever.stdout)["rules"][0]["count"] is None

        listing = cli("sim", "fault", "list", "--sim", sim.root_url, "--json")
        rules = json.loads(listing.stdout)["rules"]
        assert [(r["kind"], r["seen"], r["fired"]) for r in rules] == [("rate_limit", 3, 2), ("drop", 0, 0)]
        text = cli("sim", "fault", "list", "--sim", sim.root_url).stdout
        assert "2 fault rules active" in text and "forever" in text and "drop=3" in text

        cleared = cli("sim", "fault", "clear", "--sim", sim.root_url)
        assert cleared.returncode == 0 and sim.admin("GET", "faults") == {"rules": []}


def test_bad_rules_and_no_simulator_exit_2_with_what_was_wrong() -> None:
    with SimProcess(*FLAGS) as sim:
        ban = cli("sim", "fault", "add", "--sim", sim.root_url, "--kind", "ban", "--exchange", "kraken")
        assert ban.returncode == 2 and "fault kind 'ban' is Binance's HTTP 418" in ban.stderr
        assert sim.admin("GET", "faults") == {"rules": []}  # refused before any request
    gone = cli("sim", "fault", "list", "--sim", sim.root_url)
    assert gone.returncode == 2
    assert f"no simulator answers at {sim.root_url}/_sim/faults" in gone.stderr
    assert "schemahub sim serve" in gone.stderr


def test_serve_and_add_help_list_every_fault_kind() -> None:
    for argv in (("sim", "serve", "--help"), ("sim", "fault", "add", "--help")):
        out = cli(*argv).stdout
        assert "fault kinds (schemahub sim fault add --kind KIND ...)" in out
        for kind in KINDS:
            assert f"\n    {kind} " in out, (argv, kind)
