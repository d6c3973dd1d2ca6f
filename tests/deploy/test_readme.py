"""glue_deploy/README.md quotes what the code computes and the query files it documents."""

from __future__ import annotations

import json
import re

import pytest

from schemahub_lib.deploy import load_deployment
from schemahub_lib.deploy.cost import monthly_glue_cost
from schemahub_lib.deploy.resources import desired_state
from schemahub_lib.settings import REPO_ROOT

README = REPO_ROOT / "glue_deploy" / "README.md"
QUERIES = sorted((REPO_ROOT / "ddl" / "athena").glob("*.sql"))


def _query_text(path) -> str:
    """The statement without its leading comment block."""
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines if not line.startswith("--")).strip()


def test_readme_quotes_the_computed_cost(capsys, monkeypatch):
    """The README shows `schemahub deploy --estimate --streams 50` for the shipped file, verbatim
    (the command prices the exchanges the shipped jobs name)."""
    from schemahub_lib.cli import main

    monkeypatch.setenv("SCHEMAHUB_GLUE_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert main(["deploy", "--estimate", "--streams", "50"]) == 0
    text = capsys.readouterr().out.strip()
    text = text.replace(str(REPO_ROOT / "glue_deploy" / "deployment.yaml"), "glue_deploy/deployment.yaml")
    assert text.startswith("Estimated monthly cost of glue_deploy/deployment.yaml for 50 streams")
    assert text in README.read_text()
    shipped = load_deployment(REPO_ROOT / "glue_deploy" / "deployment.yaml")
    total = sum(r.usd for r in monthly_glue_cost(shipped))
    assert f"  total: ${total:.2f}/month" in README.read_text()  # the dry-run sample


def test_three_example_queries_exist():
    assert [p.name for p in QUERIES] == [
        "cross_venue_spread_per_second.sql",
        "trade_id_gaps.sql",
        "vwap_per_minute.sql",
    ]


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: p.name)
def test_readme_carries_each_query_verbatim(path):
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(), re.DOTALL)
    assert _query_text(path) in [b.strip() for b in blocks]


def test_readme_shows_the_rendered_pipeline_job():
    shipped = load_deployment(REPO_ROOT / "glue_deploy" / "deployment.yaml")
    wheel = "schemahub/artifacts/python/schemahub-0.1.0-py3-none-any.whl"
    job = desired_state(shipped, wheel).jobs["schemahub-pipeline"]
    (block,) = re.findall(r"```json\n(.*?)```", README.read_text(), re.DOTALL)
    shown = json.loads(block)
    assert shown == {key: job[key] for key in shown}
    assert set(shown) >= {"Command", "GlueVersion", "WorkerType", "NumberOfWorkers", "DefaultArguments"}
